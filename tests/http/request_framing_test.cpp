// framing_refusal (RFC 9112 §6): what every stsd listener refuses with 400 and a close,
// and what it reads as usual.
#include <gtest/gtest.h>

#include "http/request_framing.h"

namespace stsd::http {
namespace {

struct FramingCase {
  const char* name;
  const char* method;
  unsigned version;
  Headers headers;
  const char* refusal;  // a part of the reason; nullptr: accepted
};

void PrintTo(const FramingCase& c, std::ostream* os) { *os << c.name; }

class Framing : public ::testing::TestWithParam<FramingCase> {};

TEST_P(Framing, IsRefusedOrAcceptedAsRfc9112Says) {
  const auto& c = GetParam();
  const auto refusal = framing_refusal(c.method, c.version, c.headers);
  if (!c.refusal) {
    EXPECT_EQ(refusal, std::nullopt) << *refusal;
  } else {
    ASSERT_TRUE(refusal);
    EXPECT_NE(refusal->find(c.refusal), std::string::npos) << *refusal;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9112, Framing,
    ::testing::Values(
        // Accepted.
        FramingCase{"get_without_body", "GET", 11, {{"Host", "x"}}, nullptr},
        FramingCase{"get_with_zero_length", "GET", 11, {{"Content-Length", "0"}}, nullptr},
        FramingCase{"head_with_zero_length", "HEAD", 11, {{"Content-Length", "00"}}, nullptr},
        FramingCase{"post_with_length", "POST", 11, {{"Content-Length", "12"}}, nullptr},
        FramingCase{"post_chunked", "POST", 11, {{"Transfer-Encoding", "chunked"}}, nullptr},
        FramingCase{"post_chunked_any_case_and_spaces", "POST", 11, {{"transfer-encoding", " Chunked\t"}}, nullptr},
        FramingCase{"http10_post_with_length", "POST", 10, {{"Content-Length", "3"}}, nullptr},
        // A coding we do not decode, or chunked not alone and last (§6.3 item 4).
        FramingCase{"get_xchunked", "GET", 11, {{"Transfer-Encoding", "xchunked"}}, "'xchunked' is not accepted"},
        FramingCase{"get_identity", "GET", 11, {{"Transfer-Encoding", "identity"}}, "'identity' is not accepted"},
        FramingCase{"get_gzip", "GET", 11, {{"Transfer-Encoding", "gzip"}}, "'gzip' is not accepted"},
        FramingCase{"post_gzip_chunked", "POST", 11, {{"Transfer-Encoding", "gzip, chunked"}}, "not accepted"},
        FramingCase{"post_chunked_gzip", "POST", 11, {{"Transfer-Encoding", "chunked, gzip"}}, "not accepted"},
        FramingCase{"post_chunked_twice",
                    "POST",
                    11,
                    {{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}},
                    "'chunked, chunked' is not accepted"},
        FramingCase{"empty_coding", "POST", 11, {{"Transfer-Encoding", ""}}, "'-' is not accepted"},
        FramingCase{"http10_chunked", "POST", 10, {{"Transfer-Encoding", "chunked"}}, "HTTP/1.0"},
        // Both lengths (§6.3 item 3).
        FramingCase{"chunked_and_length",
                    "POST",
                    11,
                    {{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}},
                    "together with Content-Length"},
        FramingCase{"xchunked_and_length",
                    "GET",
                    11,
                    {{"Transfer-Encoding", "xchunked"}, {"Content-Length", "0"}},
                    "together with Content-Length"},
        // An invalid Content-Length (§6.3 item 5).
        FramingCase{"length_twice",
                    "POST",
                    11,
                    {{"Content-Length", "5"}, {"Content-Length", "5"}},
                    "one field of digits"},
        FramingCase{"length_list", "POST", 11, {{"Content-Length", "5, 5"}}, "one field of digits"},
        FramingCase{"length_signed", "POST", 11, {{"Content-Length", "+5"}}, "one field of digits"},
        // A body on GET or HEAD.
        FramingCase{"get_with_length", "GET", 11, {{"Content-Length", "5"}}, "a GET request has no body"},
        FramingCase{"head_with_length", "HEAD", 11, {{"Content-Length", "1"}}, "a HEAD request has no body"},
        FramingCase{"get_chunked", "GET", 11, {{"Transfer-Encoding", "chunked"}}, "a GET request has no body"},
        FramingCase{"head_chunked", "HEAD", 11, {{"Transfer-Encoding", "chunked"}}, "a HEAD request has no body"}),
    [](const ::testing::TestParamInfo<FramingCase>& info) { return info.param.name; });

}  // namespace
}  // namespace stsd::http
