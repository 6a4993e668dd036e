#include "http/refusal.h"

#include <sys/socket.h>

namespace stsd::http {

void discard_received(int fd, size_t limit) {
  char chunk[4096];
  for (size_t discarded = 0; discarded < limit;) {
    const ssize_t got = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (got <= 0) return;
    discarded += static_cast<size_t>(got);
  }
}

void say_and_end(int fd, std::string_view reply) {
  if (!reply.empty()) (void)::send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  discard_received(fd);
  ::shutdown(fd, SHUT_WR);
}

}  // namespace stsd::http
