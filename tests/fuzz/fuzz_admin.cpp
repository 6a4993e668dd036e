// libFuzzer target for the admin API's request handling (what `stsctl` and any client
// of the admin socket send): method, target and JSON or CSV body in, over a real PolicyStore on
// a real RocksDB in a temporary folder. Checks the API's contract: handle() never
// throws, every answer is a JSON object with a status in 200..599, every refusal names
// its reason in "error", and the store's invariants hold after every request.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <rocksdb/db.h>

#include "api.h"
#include "api_request.h"
#include "clock.h"
#include "store/admin_extensions.h"
#include "store/policy_store.h"

namespace {
using namespace stsd;
using namespace stsd::admin;
using namespace stsd::store;

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<rocksdb::DB> db;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(
      std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)));  // 2026-01-01
  std::shared_ptr<PolicyStore> state;
  std::unique_ptr<AdminApi> api;

  Fixture() {
    const char* shm = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : nullptr;
    const auto base = shm ? std::filesystem::path(shm) : std::filesystem::temp_directory_path();
    dir = base / ("stsd-fuzz-admin-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    if (!rocksdb::DB::Open(options, dir.string(), &raw).ok()) std::abort();
    db.reset(raw);
    state = std::make_shared<PolicyStore>(*db, clock);
    api = std::make_unique<AdminApi>(state, std::make_shared<AdminExtensions>());
    // Something for the per-domain routes to find.
    state->add_domain("example.com", {});
    state->stage("example.com", Policy{Mode::Enforce, {"mail.example.com"}, 604800}, false);
  }
  ~Fixture() {
    api.reset();
    state.reset();
    db.reset();
    std::filesystem::remove_all(dir);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void check_store(PolicyStore& state, const std::string& domain, int64_t now) {
  const auto status = state.status(domain, now);
  if (!status) return;
  if (status->confirmed && status->staged && status->confirmed->number > status->staged->number) __builtin_trap();
  if (status->confirmed.has_value() == status->served_id.empty()) __builtin_trap();
  if (status->served_id.size() > kMaxIdLength) __builtin_trap();
  const auto served = state.served(domain);
  if (!served) __builtin_trap();
}
// POST /v1/backup writes a copy of the store to whatever absolute path it is given: never
// on the machine running the fuzzer (its refusals are tests/store/backup_test.cpp's).
bool names_the_backup_route(const std::string& target_text) {
  try {
    const Target target = parse_target(target_text);
    return target.segments.size() == 2 && target.segments[0] == "v1" && target.segments[1] == "backup";
  } catch (const HttpError&) {
    return false;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"};
  if (size == 0) return 0;
  Fixture& f = fixture();
  ApiRequest request;
  request.method = kMethods[data[0] % 6];
  // The import takes CSV bodies too (the import file's parser, src/csv/import_csv.h).
  request.media_type = (data[0] / 6) % 2 ? "text/csv" : "application/json";
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto newline = rest.find('\n');
  request.target = rest.substr(0, newline);
  if (newline != std::string::npos) request.body = rest.substr(newline + 1);
  if (names_the_backup_route(request.target)) return 0;

  const ApiResponse response = f.api->handle(request);  // must not throw
  if (response.status < 200 || response.status > 599) __builtin_trap();
  if (!response.body.is_object()) __builtin_trap();
  if (response.status >= 400 && !(response.body.contains("error") && response.body["error"].is_string()))
    __builtin_trap();

  const int64_t now = unix_seconds(f.clock->now());
  check_store(*f.state, "example.com", now);
  // Every stored domain stays readable; bounded so a long run stays fast.
  const auto domains = f.state->domains();
  for (size_t i = 0; i < domains.size() && i < 8; ++i) check_store(*f.state, domains[i], now);
  f.clock->advance(std::chrono::hours(5));  // rotation boundaries pass during the run
  return 0;
}
