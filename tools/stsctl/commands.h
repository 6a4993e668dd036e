#pragma once
// Running stsctl commands: choosing the server, calling the admin API, printing plain
// words (or JSON with --json).
#include <cstdlib>
#include <iosfwd>
#include <string>
#include <vector>

#include "cli.h"
#include "admin/client.h"

namespace stsctl {

using stsd::admin::AdminClient;
using stsd::admin::ConnectionError;
using stsd::admin::Endpoint;
using stsd::admin::HttpResult;

// Where to connect: --socket, --connect (+ --token-file), --config (admin.socket,
// relative to the config file's folder), $STSD_SOCKET, else var/stsd.sock.
// Throws UsageError for a wrong selection or config file.
Endpoint resolve_endpoint(const ServerSelection& selection, const char* env_socket);

// Runs a whole command line (without the program name); returns the exit code.
// `interactive`: stderr is a terminal (progress bar instead of periodic lines).
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, bool interactive);

}  // namespace stsctl
