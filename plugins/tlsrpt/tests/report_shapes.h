#pragma once
// Reports in the shapes real reporters send, for the tests: the RFC 8460 §4.8 example
// and a large reporter's daily report (many failure details, gzip), and gzip itself.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include "utc_time.h"

namespace stsd::tlsrpt::test {

// RFC 8460 §4.8, with the dates moved to `start` (the RFC's example is from 2016) and
// the additional-information URL on one line (the RFC's text wraps it inside the string,
// which is not JSON).
inline nlohmann::json rfc8460_example(int64_t start, const std::string& domain = "company-y.example") {
  return nlohmann::json::parse(R"({
    "organization-name": "Company-X",
    "date-range": {"start-datetime": "", "end-datetime": ""},
    "contact-info": "sts-reporting@company-x.example",
    "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
    "policies": [{
      "policy": {
        "policy-type": "sts",
        "policy-string": ["version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"],
        "policy-domain": "company-y.example",
        "mx-host": "*.mail.company-y.example"
      },
      "summary": {"total-successful-session-count": 5326, "total-failure-session-count": 303},
      "failure-details": [{
        "result-type": "certificate-expired",
        "sending-mta-ip": "2001:db8:abcd:0012::1",
        "receiving-mx-hostname": "mx1.mail.company-y.example",
        "failed-session-count": 100
      }, {
        "result-type": "starttls-not-supported",
        "sending-mta-ip": "2001:db8:abcd:0013::1",
        "receiving-mx-hostname": "mx2.mail.company-y.example",
        "receiving-ip": "203.0.113.56",
        "failed-session-count": 200,
        "additional-information": "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported"
      }, {
        "result-type": "validation-failure",
        "sending-mta-ip": "198.51.100.62",
        "receiving-ip": "203.0.113.58",
        "receiving-mx-hostname": "mx-backup.mail.company-y.example",
        "failed-session-count": 3,
        "failure-reason-code": "X509_V_ERR_PROOF_OF_POSSESSION"
      }]
    }]
  })")
      .patch(nlohmann::json::array(
          {{{"op", "replace"}, {"path", "/date-range/start-datetime"}, {"value", iso8601(start)}},
           {{"op", "replace"}, {"path", "/date-range/end-datetime"}, {"value", iso8601(start + 86399)}},
           {{"op", "replace"}, {"path", "/policies/0/policy/policy-domain"}, {"value", domain}}}));
}

// A large reporter's daily report (the shape Google and Microsoft send: mx-host as a
// list, one policy per domain, many failure-detail entries, gzip over HTTPS).
inline nlohmann::json large_reporter_report(const std::string& organization, const std::string& report_id,
                                             int64_t start, const std::string& domain,
                                             const std::vector<std::string>& policy_lines, uint64_t successful,
                                             size_t failure_entries) {
  nlohmann::json failures = nlohmann::json::array();
  uint64_t failed = 0;
  for (size_t i = 0; i < failure_entries; ++i) {
    const uint64_t count = 1 + i % 7;
    failed += count;
    failures.push_back({{"result-type", i % 2 ? "certificate-host-mismatch" : "sts-webpki-invalid"},
                        {"sending-mta-ip", "209.85.220." + std::to_string(i % 250)},
                        {"receiving-mx-hostname", "mx" + std::to_string(i % 3) + "." + domain},
                        {"receiving-ip", "192.0.2." + std::to_string(i % 250)},
                        {"failed-session-count", count}});
  }
  return {{"organization-name", organization},
          {"date-range", {{"start-datetime", iso8601(start)}, {"end-datetime", iso8601(start + 86399)}}},
          {"contact-info", "smtp-tls-reporting@" + organization},
          {"report-id", report_id},
          {"policies",
           {{{"policy",
              {{"policy-type", "sts"},
               {"policy-string", policy_lines},
               {"policy-domain", domain},
               {"mx-host", {"mx1." + domain, "mx2." + domain}}}},
             {"summary", {{"total-successful-session-count", successful}, {"total-failure-session-count", failed}}},
             {"failure-details", failures}}}}};
}

inline std::string gzip(const std::string& data) {
  z_stream stream{};
  deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, data.size()) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

}  // namespace stsd::tlsrpt::test
