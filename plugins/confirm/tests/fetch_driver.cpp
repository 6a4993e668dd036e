// A line-driven client of the confirmer's policy fetcher, for end-to-end tests against
// real policy hosts (nginx, stsd's own policy host): reads "VANTAGE DOMAIN [ETAG]" lines
// from stdin, fetches each in turn on one event loop (so that kept connections carry over
// from line to line, as between the confirmer's rounds), and prints one JSON object a
// line. Usage: stsd_confirm_fetch CA_FILE
#include <iostream>
#include <sstream>
#include <utility>  // Boost 1.74 awaitable.hpp uses std::exchange without including it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include "fetcher.h"

namespace {

using stsd::confirm::FetchResult;

nlohmann::json describe(const FetchResult& result) {
  return {{"error", stsd::confirm::fetch_error_name(result.error)},
          {"message", result.message},
          {"status", result.http_status},
          {"etag", result.etag},
          {"not_modified", result.not_modified},
          {"reused", result.reused_connection},
          {"body", result.body}};
}

nlohmann::json fetch_line(stsd::confirm::PolicyFetcher& fetcher, boost::asio::io_context& io, const std::string& line) {
  std::istringstream words(line);
  std::string vantage_text, domain, etag;
  words >> vantage_text >> domain >> etag;
  std::string error;
  auto vantage = stsd::confirm::parse_vantage(vantage_text, stsd::confirm::kHttpsPort, error);
  if (!vantage || domain.empty())
    return {{"error", "usage"}, {"message", "expected VANTAGE DOMAIN [ETAG], got '" + line + "' " + error}};
  stsd::confirm::FetchRequest request{domain, *vantage, std::chrono::milliseconds(4000), etag};
  auto future = boost::asio::co_spawn(io, fetcher.fetch(std::move(request)), boost::asio::use_future);
  io.restart();
  io.run();
  try {
    return describe(future.get());
  } catch (const std::exception& e) {
    return {{"error", "exception"}, {"message", e.what()}};
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: stsd_confirm_fetch CA_FILE (then VANTAGE DOMAIN [ETAG] lines on stdin)\n";
    return 2;
  }
  try {
    stsd::confirm::PolicyFetcher fetcher{std::filesystem::path(argv[1])};
    boost::asio::io_context io;
    for (std::string line; std::getline(std::cin, line);)
      std::cout << fetch_line(fetcher, io, line).dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "stsd_confirm_fetch: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
