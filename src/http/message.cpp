#include "http/message.h"

#include <algorithm>

#include "net/address.h"

namespace stsd::http {
namespace {

bool equal_without_case(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [&](char x, char y) { return lower(x) == lower(y); });
}

}  // namespace

const std::string* find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers)
    if (equal_without_case(key, name)) return &value;
  return nullptr;
}

size_t count_headers(const Headers& headers, std::string_view name) {
  return static_cast<size_t>(std::count_if(headers.begin(), headers.end(),
                                           [&](const auto& field) { return equal_without_case(field.first, name); }));
}

Reply text_error_reply(unsigned status, std::string_view message) {
  Reply reply;
  reply.status = status;
  reply.body = std::string(message) + "\n";
  // An error seen while something is being set up must not stick in a cache.
  reply.headers = {{"Content-Type", "text/plain; charset=utf-8"}, {"Cache-Control", "no-store"}};
  reply.close = status >= 500;
  return reply;
}

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint) {
  return net::endpoint_text(endpoint.address(), endpoint.port());
}

std::string printable(std::string_view text, size_t limit) {
  std::string out;
  for (char c : text.substr(0, limit)) out.push_back(c > 0x20 && c < 0x7f ? c : '?');
  if (text.size() > limit) out += "...";
  if (out.empty()) out.push_back('-');
  return out;
}

}  // namespace stsd::http
