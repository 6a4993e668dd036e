#pragma once
// Telling the service manager (systemd, `Type=notify`) where the process is: READY=1
// once every readiness gate is open (readiness.h), RELOADING=1 and READY=1 around a
// SIGHUP reload, STOPPING=1 when shutdown begins, and STATUS= lines for
// `systemctl status` meanwhile.
//
// The protocol (sd_notify(3), systemd.exec(5) $NOTIFY_SOCKET) is one datagram of
// newline-separated VARIABLE=value lines to the AF_UNIX socket named by $NOTIFY_SOCKET:
// a path, or an abstract name written with a leading '@'. It is written here, rather than
// by linking libsystemd, because it is that one sendto(): the binary then needs no
// library it does not otherwise use, and behaves the same under any service manager that
// speaks it. Without $NOTIFY_SOCKET nothing is sent.
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "readiness.h"

namespace stsd {

class NotifySocket {
 public:
  // From $NOTIFY_SOCKET; disabled when it is unset or empty.
  static NotifySocket from_environment();
  explicit NotifySocket(std::string address) : address_(std::move(address)) {}

  bool enabled() const { return !address_.empty(); }
  // Sends one datagram. Returns the error ("" when sent, or when disabled): an address
  // that is neither a path nor '@name', a socket that is gone.
  std::string send(std::string_view state) const;

 private:
  std::string address_;
};

// Turns readiness changes and the server's phases into notifications. Thread-safe: gates
// open on any thread.
class ReadinessNotifier : public std::enable_shared_from_this<ReadinessNotifier> {
 public:
  // Listens to `readiness` from now on (its listener holds the notifier weakly, so a
  // gate opened late on another thread never reaches a destroyed one).
  static std::shared_ptr<ReadinessNotifier> listen(NotifySocket socket, std::shared_ptr<Readiness> readiness);
  ReadinessNotifier(NotifySocket socket, std::shared_ptr<Readiness> readiness)
      : socket_(std::move(socket)), readiness_(std::move(readiness)) {}
  ~ReadinessNotifier();
  ReadinessNotifier(const ReadinessNotifier&) = delete;
  ReadinessNotifier& operator=(const ReadinessNotifier&) = delete;

  // A reload begins: RELOADING=1 with MONOTONIC_USEC (systemd 253's Type=notify-reload
  // needs it; older ones ignore it); READY=1 follows from reload_done.
  void reloading();
  // The reload ended (error: the reason it was refused, the old config keeps serving):
  // READY=1 again once every gate is open, with a STATUS naming the outcome.
  void reload_done(const std::string& error);
  // STOPPING=1 (and the registry stops being ready).
  void stopping();

 private:
  // Called on every readiness change: READY=1 on the first change to ready since start or
  // the last reload; STATUS naming the closed gates while not ready.
  void update();
  void send_locked(const std::string& state);

  NotifySocket socket_;
  std::shared_ptr<Readiness> readiness_;
  std::mutex mutex_;
  bool ready_sent_ = false;
  bool stopping_ = false;
  std::string last_status_;
  std::string ready_status_ = "ready";
  bool send_failure_logged_ = false;
};

}  // namespace stsd
