// stsd: the authoritative DNS server.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include <signal.h>
#include <sys/stat.h>

#include "heap.h"
#include "logging.h"
#include "registry.h"
#include "server/server.h"

namespace {

const char* kUsage =
    "usage: stsd --config FILE        run the server\n"
    "       stsd --check-config FILE  validate FILE and exit (0: valid)\n"
    "       stsd --version\n";

// Test builds move time without touching the system clock: when STSD_CLOCK_OFFSET_FILE
// names a file, its content (seconds, may be negative) is added to the real time.
// Re-read at most every 100 ms so tests can advance time while the server runs.
class OffsetFileClock final : public stsd::Clock {
 public:
  explicit OffsetFileClock(std::string path) : path_(std::move(path)) {}
  time_point now() const override {
    const auto mono = std::chrono::steady_clock::now().time_since_epoch().count();
    if (mono - last_read_.load(std::memory_order_relaxed) > 100'000'000) {
      long long offset = 0;
      std::ifstream in(path_);
      if (in >> offset) offset_.store(offset, std::memory_order_relaxed);
      last_read_.store(mono, std::memory_order_relaxed);
    }
    return std::chrono::system_clock::now() + std::chrono::seconds(offset_.load(std::memory_order_relaxed));
  }

 private:
  std::string path_;
  mutable std::atomic<long long> offset_{0};
  mutable std::atomic<long long> last_read_{-1'000'000'000'000};
};

}  // namespace

int main(int argc, char** argv) {
  std::string config;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--version" || arg == "-v") {
      std::printf("stsd %s\n", STSD_VERSION);
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if ((arg == "--config" || arg == "-c" || arg == "--check-config") && i + 1 < argc) {
      check = arg == "--check-config";
      config = argv[++i];
      continue;
    }
    std::fprintf(stderr, "stsd: unknown or incomplete argument '%s'\n%s", arg.c_str(), kUsage);
    return 2;
  }
  if (config.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }

  stsd::heap::configure();
  stsd::Registry registry;
  stsd::register_all_plugins(registry);

  if (check) {
    const auto error = stsd::check_config(config, registry);
    if (!error.empty()) {
      std::fprintf(stderr, "stsd: %s\n", error.c_str());
      return 1;
    }
    std::printf("%s: ok\n", config.c_str());
    return 0;
  }

  // SIGTERM, SIGINT and SIGHUP are taken by the server's signal_set once it runs. Until
  // then they stay pending instead of killing a server that is still starting, and every
  // thread start() creates inherits the block, so the control thread alone takes them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, signal);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Everything stsd creates is its user's alone: the store's files (issue 12: a store
  // readable by every local user shows every domain), the admin socket. Set before any
  // thread starts, as umask is process-wide; an operator's stricter umask stays.
  ::umask(::umask(0077) | 0077);

  std::shared_ptr<stsd::Clock> clock;
  if (const char* offset_file = std::getenv("STSD_CLOCK_OFFSET_FILE"))
    clock = std::make_shared<OffsetFileClock>(offset_file);
  else
    clock = std::make_shared<stsd::SystemClock>();

  try {
    stsd::Server server(config, registry, clock);
    server.start();
    server.run_until_signal();
  } catch (const std::exception& e) {
    stsd::log::error(std::string("stsd: ") + e.what());
    return 1;
  }
  return 0;
}
