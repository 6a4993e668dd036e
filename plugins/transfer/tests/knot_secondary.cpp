#include "knot_secondary.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/asio/io_context.hpp>

extern char** environ;

namespace stsd::transfer::test {

namespace {

constexpr const char* kKnotd = "/usr/sbin/knotd";

uint16_t free_udp_port() {
  boost::asio::io_context io;
  boost::asio::ip::udp::socket socket(io, {boost::asio::ip::address_v4::loopback(), 0});
  return socket.local_endpoint().port();
}

std::filesystem::path make_dir() {
  std::random_device random;
  auto dir = std::filesystem::temp_directory_path() / ("stsd-knot-" + std::to_string(random()));
  std::filesystem::create_directories(dir / "run");
  std::filesystem::create_directories(dir / "db");
  std::filesystem::create_directories(dir / "zones");
  return dir;
}

std::string config_text(const std::filesystem::path& dir, uint16_t port, const std::string& zone,
                        const boost::asio::ip::udp::endpoint& primary, const std::optional<KnotKey>& key) {
  std::ostringstream out;
  out << "server:\n    rundir: \"" << (dir / "run").string() << "\"\n    listen: 127.0.0.1@" << port << "\n"
      << "database:\n    storage: \"" << (dir / "db").string() << "\"\n"
      << "log:\n  - target: \"" << (dir / "knot.log").string() << "\"\n    any: info\n";
  if (key) out << "key:\n  - id: " << key->name << "\n    algorithm: hmac-sha256\n    secret: " << key->secret << "\n";
  out << "remote:\n  - id: primary\n    address: " << primary.address().to_string() << "@" << primary.port() << "\n";
  if (key) out << "    key: " << key->name << "\n";
  out << "acl:\n  - id: notify_from_primary\n    address: " << primary.address().to_string()
      << "\n    action: notify\n";
  if (key) out << "    key: " << key->name << "\n";
  out << "template:\n  - id: default\n    storage: \"" << (dir / "zones").string() << "\"\n"
      << "zone:\n  - domain: " << zone << "\n    master: primary\n    acl: notify_from_primary\n";
  return out.str();
}

}  // namespace

bool KnotSecondary::available() { return ::access(kKnotd, X_OK) == 0; }

KnotSecondary::KnotSecondary(const std::string& zone, const boost::asio::ip::udp::endpoint& primary,
                             const std::optional<KnotKey>& key)
    : dir_(make_dir()), endpoint_(boost::asio::ip::address_v4::loopback(), free_udp_port()) {
  const auto config = dir_ / "knot.conf";
  std::ofstream(config) << config_text(dir_, endpoint_.port(), zone, primary, key);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string output = (dir_ / "knotd.out").string();
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::string config_path = config.string();
  char* argv[] = {const_cast<char*>(kKnotd), const_cast<char*>("-c"), config_path.data(), nullptr};
  const int error = posix_spawn(&pid_, kKnotd, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) throw std::runtime_error("cannot start knotd");
}

KnotSecondary::~KnotSecondary() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string KnotSecondary::log() const {
  std::ifstream in(dir_ / "knot.log");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool KnotSecondary::wait_ready() const {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    if (log().find("server started") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace stsd::transfer::test
