#include "server/descriptor_budget.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/listener_settings.h"

namespace stsd {

OpenFileLimit raise_open_file_limit() {
  OpenFileLimit result;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    result.error = std::string("getrlimit: ") + std::strerror(errno);
    return result;
  }
  result.before = result.soft = limit.rlim_cur;
  result.hard = limit.rlim_max;
  const uint64_t target = std::min<uint64_t>(limit.rlim_max, kRaisedLimitCeiling);
  if (limit.rlim_cur >= target) return result;
  rlimit raised{static_cast<rlim_t>(target), limit.rlim_max};
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    result.error = std::string("setrlimit: ") + std::strerror(errno);
    return result;
  }
  result.soft = target;
  return result;
}

TcpConnectionCap size_tcp_connection_cap(uint64_t open_file_limit, unsigned workers, size_t listen_addresses,
                                         std::optional<size_t> configured) {
  const uint64_t held = kProcessDescriptors + uint64_t{workers} * (kWorkerLoopDescriptors + 2 * listen_addresses);
  const uint64_t room = open_file_limit > held ? open_file_limit - held : 0;
  const uint64_t fits = std::max<uint64_t>(1, room / 2);
  TcpConnectionCap cap;
  cap.wanted = configured.value_or(kDefaultTcpMaxConnections);
  cap.connections = static_cast<size_t>(std::min<uint64_t>(cap.wanted, fits));
  return cap;
}

namespace {
std::string limit_text(uint64_t limit) { return limit == RLIM_INFINITY ? "unlimited" : std::to_string(limit); }
}  // namespace

std::string describe_descriptor_budget(const OpenFileLimit& limit, const TcpConnectionCap& cap) {
  std::string text = "open files: limit " + std::to_string(limit.soft);
  if (limit.soft > limit.before)
    text += " (raised from " + std::to_string(limit.before) + ")";
  else if (!limit.error.empty())
    text += " (could not be raised toward the hard limit " + limit_text(limit.hard) + ": " + limit.error + ")";
  else if (limit.soft < limit.hard)
    text += " (hard limit " + limit_text(limit.hard) + ")";
  else
    text += " (the hard limit)";
  text += "; DNS over TCP: at most " + std::to_string(cap.connections) + " connections";
  if (cap.lowered())
    text += ", not tcp.max_connections' " + std::to_string(cap.wanted) +
            ", to leave descriptors for the store, the admin API and the policy host; raise the open-file "
            "limit (systemd LimitNOFILE=, ulimit -n) to allow more";
  return text;
}

}  // namespace stsd
