#pragma once
// NOTIFY (RFC 1996) to the configured secondaries whenever a zone changes, and the lag
// each secondary shows between a change and its transfer (zone::TransferLag, metrics).
// Sending runs on its own thread: retries, a rate limit and a bounded queue, so a burst
// of changes (an import confirming 100,000 domains) never blocks the caller.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>

#include "config.h"
#include "dns/name.h"
#include "dns/tsig.h"
#include "environment.h"

namespace stsd::transfer {

struct NotifyTarget {
  boost::asio::ip::udp::endpoint endpoint;
  std::string key;  // a key of the plugin's `keys:` (signs the NOTIFY); empty: unsigned
};

struct NotifySettings {
  std::vector<NotifyTarget> targets;
  unsigned retries = 5;                           // after the first try (RFC 1996 §3.6)
  std::chrono::milliseconds retry_interval{2000};  // doubled after each try
  unsigned rate = 1000;                           // NOTIFYs per second, all targets together
  size_t queue_limit = 1000000;                   // zones waiting to be announced
};

// Parses the plugin's `notify:` section; every key it names must be in `keys`
// (ConfigNode::fail names the line otherwise).
NotifySettings parse_notify_settings(const ConfigNode& section, const std::vector<dns::tsig::Key>& keys);

class Notifier {
 public:
  Notifier(NotifySettings settings, std::vector<dns::tsig::Key> keys, Environment& env);
  ~Notifier();  // stops the thread; queued NOTIFYs are dropped
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void start();
  // A reload's settings; what is queued stays queued.
  void reconfigure(NotifySettings settings, std::vector<dns::tsig::Key> keys);

  // `apex` changed to `serial` at `at` (Unix seconds): NOTIFY every target. Never blocks;
  // a zone already queued keeps one entry, at its newest serial.
  void zone_changed(const dns::Name& apex, uint32_t serial, int64_t at);
  // `secondary` holds `serial` of `apex` at `at` (it asked for an IXFR from it, or a
  // transfer to it ended): the lag since that serial's change feeds zone::TransferLag.
  void secondary_has(const boost::asio::ip::address& secondary, const dns::Name& apex, uint32_t serial, int64_t at);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stsd::transfer
