#include "tlsrpt/settings.h"

#include "net/listen_list.h"

namespace stsd::tlsrpt {

bool ServiceSettings::operator==(const ServiceSettings& o) const {
  const auto& a = intake;
  const auto& b = o.intake;
  return listen == o.listen && path == o.path && certificate == o.certificate && key == o.key &&
         requests_per_second == o.requests_per_second && burst == o.burst && max_connections == o.max_connections &&
         threads == o.threads && sweep_interval == o.sweep_interval && a.max_compressed_bytes == b.max_compressed_bytes &&
         a.max_decompressed_bytes == b.max_decompressed_bytes && a.report.max_depth == b.report.max_depth &&
         a.storage.retention_days == b.storage.retention_days && a.storage.max_bytes == b.storage.max_bytes &&
         a.storage.keep_unknown_domains == b.storage.keep_unknown_domains;
}

ServiceSettings parse_settings(const ConfigNode& section) {
  section.expect_map({"listen", "path", "certificate", "key", "unknown_domains", "retention", "max_store_mib",
                      "max_body_kib", "max_report_kib", "max_json_depth", "requests_per_second", "burst",
                      "max_connections", "threads", "sweep_interval"});
  ServiceSettings s;
  if (auto listen = section.get("listen")) {
    stsd::net::ListenList addresses;
    addresses.add_items(*listen, "0.0.0.0:443");
    s.listen = addresses.endpoints();
    s.certificate = section.require("certificate").as_path();
    s.key = section.require("key").as_path();
  } else {
    for (const char* key : {"certificate", "key"})
      if (auto node = section.get(key)) node->fail("only used with `listen` (the HTTPS intake)");
  }
  s.path = section.string_or("path", s.path);
  if (s.path.empty() || s.path.front() != '/' || s.path.find_first_of("?# ") != std::string::npos)
    section.require("path").fail("expected an absolute path such as /tlsrpt");
  const std::string unknown = section.string_or("unknown_domains", "refuse");
  if (unknown != "refuse" && unknown != "keep") section.require("unknown_domains").fail("expected refuse or keep");
  s.intake.storage.keep_unknown_domains = unknown == "keep";
  const auto retention = section.duration_or("retention", std::chrono::hours(24 * 90), std::chrono::hours(24),
                                             std::chrono::hours(24 * 3660));
  s.intake.storage.retention_days = retention.count() / 86400;
  s.intake.report.max_age_seconds = s.intake.storage.retention_days * 86400;
  s.intake.storage.max_bytes = section.uint_or("max_store_mib", 256, 1, 1 << 20) << 20;
  s.intake.max_compressed_bytes = section.uint_or("max_body_kib", 1024, 1, 1 << 20) << 10;
  s.intake.max_decompressed_bytes = section.uint_or("max_report_kib", 16384, 1, 1 << 22) << 10;
  s.intake.report.max_depth = section.uint_or("max_json_depth", 12, 5, 64);
  s.requests_per_second = static_cast<double>(section.uint_or("requests_per_second", 2, 1, 1000000));
  s.burst = static_cast<double>(section.uint_or("burst", 20, 1, 1000000));
  s.max_connections = section.uint_or("max_connections", 256, 1, 100000);
  s.threads = static_cast<unsigned>(section.uint_or("threads", 16, 1, 256));
  s.sweep_interval = section.duration_or("sweep_interval", std::chrono::hours(1), std::chrono::seconds(1),
                                         std::chrono::hours(24));
  return s;
}

}  // namespace stsd::tlsrpt
