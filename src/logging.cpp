#include "logging.h"

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <string>
#include <unistd.h>

#include "utc_time.h"

namespace stsd::log {
namespace {
std::atomic<int> g_min_level{static_cast<int>(Level::Info)};

// "2024-05-01T12:00:00.123Z"
constexpr size_t kTimeWidth = 24;

const char* level_name(Level level) {
  switch (level) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warning:
      return "warning";
    case Level::Error:
      return "error";
  }
  return "?";
}
}  // namespace

void set_min_level(Level level) { g_min_level.store(static_cast<int>(level), std::memory_order_relaxed); }
bool enabled(Level level) { return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed); }

void line(Level level, std::string_view text) {
  if (!enabled(level)) return;
  const std::string_view level_text = level_name(level);
  std::string out;
  out.reserve(kTimeWidth + level_text.size() + 4 + text.size() + 1);
  append_iso8601_millis(out, std::chrono::system_clock::now());
  out.append(" [").append(level_text).append("] ");
  out.append(text);
  out.push_back('\n');
  // One write(2) per line keeps lines from different threads whole.
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    ssize_t w = ::write(STDERR_FILENO, p, left);
    if (w <= 0) break;
    p += w;
    left -= static_cast<size_t>(w);
  }
}

void f(Level level, const char* format, ...) {
  if (!enabled(level)) return;
  char buffer[2048];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  line(level, buffer);
}

}  // namespace stsd::log
