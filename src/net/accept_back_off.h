#pragma once
// What every listener does when accept() fails (the DNS TCP listeners and the HTTP
// listener set). An error that belongs to the one client being accepted (it left, or the
// network failed it: accept(2) asks to retry those as EAGAIN) is retried at once. Any
// other error, above all running out of descriptors (EMFILE, ENFILE) or buffers
// (ENOBUFS, ENOMEM), leaves the client waiting in the listen queue, so the next call
// would fail the same way at once: accepting pauses for kAcceptBackOff instead of
// spinning on a listen socket that stays readable.
#include <cerrno>
#include <chrono>

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

namespace stsd::net {

inline constexpr std::chrono::milliseconds kAcceptBackOff{100};

inline bool accept_error_is_transient(const boost::system::error_code& error) {
  if (error.category() != boost::system::system_category()) return false;
  switch (error.value()) {
    case ECONNABORTED:
    case ECONNRESET:
    case EAGAIN:
    case EINTR:
    case EPROTO:
    case EPERM:  // a firewall rule refused this client
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

// EMFILE or ENFILE: worth naming the open-file limit in the log.
inline bool accept_error_is_out_of_descriptors(const boost::system::error_code& error) {
  return error.category() == boost::system::system_category() && (error.value() == EMFILE || error.value() == ENFILE);
}

}  // namespace stsd::net
