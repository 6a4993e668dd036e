#pragma once
// Process-wide logging: one line per call, to stderr, safe from any thread.
#include <string_view>

namespace stsd::log {

enum class Level { Debug, Info, Warning, Error };

void set_min_level(Level level);
bool enabled(Level level);
void line(Level level, std::string_view text);
// printf-style convenience.
[[gnu::format(printf, 2, 3)]] void f(Level level, const char* format, ...);

inline void info(std::string_view text) { line(Level::Info, text); }
inline void warn(std::string_view text) { line(Level::Warning, text); }
inline void error(std::string_view text) { line(Level::Error, text); }

}  // namespace stsd::log
