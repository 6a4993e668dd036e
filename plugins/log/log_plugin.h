#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "dns/types.h"
#include "dns/writer.h"
#include "plugin.h"
#include "registry.h"

namespace stsd::log_plugin {

// Response classes, as in CoreDNS's `log` (plugin/pkg/response/classify.go).
enum ResponseClass : uint8_t {
  kSuccess = 1,  // NOERROR with an answer, or a referral
  kDenial = 2,   // NXDOMAIN, or NOERROR without data (NODATA)
  kError = 4,    // every other rcode (SERVFAIL, REFUSED, FORMERR, NOTIMP, ...)
  kAll = kSuccess | kDenial | kError,
};

// Writes one line per query after the rest of the chain has answered:
//   client=192.0.2.1:53000 transport=udp qname=www.example.org. qtype=A class=IN
//   rcode=NOERROR flags=qr,aa,rd size=61 duration_us=42
// An answer a plugin dropped (rrl, acl) has flags=- size=0 and ends with dropped=true.
class LogPlugin final : public Plugin {
 public:
  explicit LogPlugin(uint8_t classes) : classes_(classes) {}
  std::string_view name() const override { return "log"; }
  void serve(Query& query, Next next) const override;

 private:
  uint8_t classes_;
};

// Classifies a response by its rcode, AA bit and answer count.
ResponseClass classify(dns::Rcode rcode, bool authoritative, uint16_t answers);
// Classifies a finished response message (header only is read).
ResponseClass classify(std::span<const uint8_t> message);
// Classifies the answer a plugin dropped (nothing was sent): as it would have been sent.
ResponseClass classify_unsent(const dns::ResponseWriter& response);

// Formats the line for a finished response into `out` (no allocation); returns its length.
size_t format_line(const Query& query, std::span<const uint8_t> message, char* out, size_t capacity);

std::unique_ptr<Plugin> make_log_plugin(PluginSetup& setup);

}  // namespace stsd::log_plugin

void stsd_register_log(stsd::Registry& registry);
