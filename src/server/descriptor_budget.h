#pragma once
// The process's open-file budget. Every socket, the store's files and the event loops
// share one descriptor table: when DNS TCP clients use it up, accept() fails for every
// listener and the store cannot open a file. So at start the soft RLIMIT_NOFILE is raised
// toward the hard limit, and the DNS TCP connection cap is sized from what it allows:
// after what the process itself holds, DNS TCP gets at most half (as Knot sizes its
// tcp-max-clients by default); the other half is left to the store's table files and the
// HTTP listeners (admin API, policy host, metrics), which have caps of their own.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace stsd {

// Descriptors the process holds whatever the traffic: standard streams, the log, the
// store's WAL, MANIFEST, LOG and lock, the HTTP services' event loops and listen sockets.
inline constexpr uint64_t kProcessDescriptors = 64;
// Each worker's event loop (epoll, eventfd, timerfd).
inline constexpr uint64_t kWorkerLoopDescriptors = 3;
// Never raise the soft limit beyond this (Linux's default fs.nr_open).
inline constexpr uint64_t kRaisedLimitCeiling = 1 << 20;

struct OpenFileLimit {
  uint64_t before = 0;  // the soft limit stsd started with
  uint64_t soft = 0;    // the soft limit now
  uint64_t hard = 0;
  std::string error;  // why raising failed (the soft limit stays `before`)
};

// Raises the soft RLIMIT_NOFILE to min(hard limit, kRaisedLimitCeiling) when lower.
OpenFileLimit raise_open_file_limit();

struct TcpConnectionCap {
  size_t wanted = 0;       // tcp.max_connections as configured, or its default
  size_t connections = 0;  // the cap applied: `wanted`, lowered to what fits
  bool lowered() const { return connections < wanted; }
};

// The DNS TCP cap for `open_file_limit` descriptors with `workers` workers that each
// hold a UDP and a TCP socket per listen address (`listen_addresses`).
TcpConnectionCap size_tcp_connection_cap(uint64_t open_file_limit, unsigned workers, size_t listen_addresses,
                                         std::optional<size_t> configured);

// The start-up log line: the limit, whether it was raised, and the cap chosen.
std::string describe_descriptor_budget(const OpenFileLimit& limit, const TcpConnectionCap& cap);

}  // namespace stsd
