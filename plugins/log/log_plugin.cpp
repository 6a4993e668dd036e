// The `log` plugin: one line per query, written after the answer is final.
#include "log_plugin.h"

#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>

#include "dns/types.h"
#include "logging.h"

namespace stsd::log_plugin {
namespace {

// Appends to a fixed buffer, dropping what does not fit.
class LineBuffer {
 public:
  LineBuffer(char* out, size_t capacity) : out_(out), capacity_(capacity) {}
  void put(char c) {
    if (size_ + 1 < capacity_) out_[size_++] = c;
  }
  void put(std::string_view text) {
    for (char c : text) put(c);
  }
  void number(uint64_t value) {
    char digits[24];
    const int n = std::snprintf(digits, sizeof digits, "%llu", static_cast<unsigned long long>(value));
    put(std::string_view(digits, static_cast<size_t>(n)));
  }
  size_t finish() {
    if (capacity_ > 0) out_[size_] = '\0';
    return size_;
  }

 private:
  char* out_;
  size_t capacity_;
  size_t size_ = 0;
};

// Presentation format (RFC 1035 §5.1 escapes) without building a std::string.
void put_name(LineBuffer& line, const dns::Name& name) {
  if (name.is_root()) {
    line.put('.');
    return;
  }
  const uint8_t* bytes = name.data();
  for (size_t pos = 0; bytes[pos] != 0; pos += 1 + bytes[pos]) {
    for (size_t i = 1; i <= bytes[pos]; ++i) {
      const uint8_t c = bytes[pos + i];
      if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || c == '$' || c == '@') {
        line.put('\\');
        line.put(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7f) {
        char escaped[5];
        std::snprintf(escaped, sizeof escaped, "\\%03u", c);
        line.put(std::string_view(escaped, 4));
      } else {
        line.put(static_cast<char>(c));
      }
    }
    line.put('.');
  }
}

void put_client(LineBuffer& line, const dns::Request& request) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (request.client.is_v4()) {
    const auto bytes = request.client.to_v4().to_bytes();
    inet_ntop(AF_INET, bytes.data(), text, sizeof text);
    line.put(text);
  } else {
    const auto bytes = request.client.to_v6().to_bytes();
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
    line.put('[');
    line.put(text);
    line.put(']');
  }
  line.put(':');
  line.number(request.client_port);
}

void put_type(LineBuffer& line, uint16_t type) {
  // Short strings: std::string keeps them inline, no heap.
  const std::string text = dns::type_to_string(type);
  line.put(text);
}

void put_flags(LineBuffer& line, uint16_t flags) {
  struct Flag {
    uint16_t bit;
    const char* name;
  };
  static constexpr Flag kFlags[] = {{dns::flag::QR, "qr"}, {dns::flag::AA, "aa"}, {dns::flag::TC, "tc"},
                                    {dns::flag::RD, "rd"}, {dns::flag::RA, "ra"}, {dns::flag::AD, "ad"},
                                    {dns::flag::CD, "cd"}};
  bool first = true;
  for (const auto& flag : kFlags) {
    if (!(flags & flag.bit)) continue;
    if (!first) line.put(',');
    line.put(flag.name);
    first = false;
  }
  if (first) line.put('-');
}

uint16_t header16(std::span<const uint8_t> message, size_t at) {
  if (message.size() < at + 2) return 0;
  return static_cast<uint16_t>(message[at] << 8 | message[at + 1]);
}

// The rcode the chain decided: REFUSED when nobody answered (the core's answer), also
// for an answer that was dropped before finish() could say so.
dns::Rcode final_rcode(const dns::ResponseWriter& response) {
  return response.answered() ? response.rcode() : dns::Rcode::Refused;
}

}  // namespace

ResponseClass classify(dns::Rcode rcode, bool authoritative, uint16_t answers) {
  if (rcode == dns::Rcode::NXDomain) return kDenial;
  if (rcode != dns::Rcode::NoError) return kError;
  if (answers > 0) return kSuccess;
  // No answer: an authoritative NODATA is a denial, a referral (AA=0) a success.
  return authoritative ? kDenial : kSuccess;
}

ResponseClass classify(std::span<const uint8_t> message) {
  const uint16_t flags = header16(message, 2);
  return classify(static_cast<dns::Rcode>(flags & 0x000f), flags & dns::flag::AA, header16(message, 6));
}

ResponseClass classify_unsent(const dns::ResponseWriter& response) {
  return classify(final_rcode(response), response.authoritative(), response.count(dns::Section::Answer));
}

size_t format_line(const Query& query, std::span<const uint8_t> message, char* out, size_t capacity) {
  const dns::Request& request = query.request;
  LineBuffer line(out, capacity);
  line.put("client=");
  put_client(line, request);
  line.put(request.transport == dns::Transport::Tcp ? " transport=tcp" : " transport=udp");
  line.put(" qname=");
  if (request.has_question) {
    put_name(line, request.question.original);
    line.put(" qtype=");
    put_type(line, request.question.type);
    line.put(" class=");
    line.put(dns::class_to_string(request.question.rclass));
  } else {
    line.put("- qtype=- class=-");
  }
  line.put(" rcode=");
  line.put(dns::rcode_to_string(final_rcode(query.response)));
  line.put(" flags=");
  put_flags(line, header16(message, 2));
  line.put(" size=");
  line.number(message.size());
  line.put(" duration_us=");
  const auto elapsed = std::chrono::steady_clock::now() - request.received;
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  line.number(micros > 0 ? static_cast<uint64_t>(micros) : 0);
  if (query.response.dropped()) line.put(" dropped=true");
  return line.finish();
}

void LogPlugin::serve(Query& query, Next next) const {
  try {
    next(query);
  } catch (const std::exception&) {
    // What the core would do with the exception (SERVFAIL), done here so that the
    // query still gets its line. The `errors` plugin, when enabled, reports the cause.
    query.response.start(dns::Rcode::ServFail, false);
  } catch (...) {
    query.response.start(dns::Rcode::ServFail, false);
  }
  // finish() is idempotent: the core's later call returns the same message.
  const auto message = query.response.finish();
  const ResponseClass response_class =
      query.response.dropped() ? classify_unsent(query.response) : classify(message);
  if (!(response_class & classes_)) return;
  char text[1536];
  const size_t length = format_line(query, message, text, sizeof text);
  stsd::log::line(stsd::log::Level::Info, std::string_view(text, length));
}

std::unique_ptr<Plugin> make_log_plugin(PluginSetup& setup) {
  const ConfigNode& config = setup.config;
  config.expect_map({"class"});
  uint8_t classes = kAll;
  if (auto class_node = config.get("class")) {
    classes = 0;
    const auto names = class_node->as_string_list();
    if (names.empty()) class_node->fail("expected one or more of all, success, denial, error");
    for (const auto& name : names) {
      if (name == "all")
        classes |= kAll;
      else if (name == "success")
        classes |= kSuccess;
      else if (name == "denial")
        classes |= kDenial;
      else if (name == "error")
        classes |= kError;
      else
        class_node->fail("unknown class '" + name + "' (expected all, success, denial or error)");
    }
  }
  return std::make_unique<LogPlugin>(classes);
}

}  // namespace stsd::log_plugin

void stsd_register_log(stsd::Registry& registry) { registry.add_plugin("log", stsd::log_plugin::make_log_plugin); }
