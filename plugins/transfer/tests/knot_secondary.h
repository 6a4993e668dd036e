#pragma once
// A real Knot DNS secondary (knotd) on loopback, for the NOTIFY interop tests: one slave
// zone whose primary is `primary`, accepting NOTIFY per its ACL (optionally with a TSIG
// key). Started as a child process, stopped and reaped in the destructor.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <boost/asio/ip/udp.hpp>

namespace stsd::transfer::test {

struct KnotKey {
  std::string name;    // "xfr-key"
  std::string secret;  // base64
};

class KnotSecondary {
 public:
  // False when knotd is not installed (the test then skips).
  static bool available();

  KnotSecondary(const std::string& zone, const boost::asio::ip::udp::endpoint& primary,
                const std::optional<KnotKey>& key);
  ~KnotSecondary();
  KnotSecondary(const KnotSecondary&) = delete;
  KnotSecondary& operator=(const KnotSecondary&) = delete;

  boost::asio::ip::udp::endpoint endpoint() const { return endpoint_; }
  std::string log() const;
  // Waits until knotd answers on its port (it logs its start before it listens).
  bool wait_ready() const;

 private:
  std::filesystem::path dir_;
  boost::asio::ip::udp::endpoint endpoint_;
  int pid_ = -1;
};

}  // namespace stsd::transfer::test
