#pragma once
// Ending a connection without destroying the last reply (RFC 9112 §9.6): a socket
// closed while the client's bytes sit unread in it sends a reset, and a reset can
// destroy the reply still in flight or in the client's buffer. These helpers never
// block: they cost a few system calls, so refusing a connection stays cheap.
#include <cstddef>
#include <string_view>

namespace stsd::http {

// Reads and drops what the client has sent already, at most `limit` bytes, without
// waiting for more.
void discard_received(int fd, size_t limit = 64 * 1024);

// Sends `reply` without waiting (what does not fit the socket's buffer is dropped),
// discards what the client sent, and ends the sending side; the caller then closes.
void say_and_end(int fd, std::string_view reply);

}  // namespace stsd::http
