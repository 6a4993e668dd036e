#include "policies_sync.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <system_error>

#include "environment.h"
#include "file_input.h"
#include "logging.h"
#include "registry.h"

namespace stsd::mtasts {

std::filesystem::path policies_folder(const ConfigNode& section) {
  if (section.is_map()) {
    section.expect_map({"folder"});
    return section.require("folder").as_path();
  }
  return section.as_path();
}

namespace {

// ConfigNode's messages quote the file's keys and values. A file other users cannot
// read (a link to /etc/shadow is refused earlier, but a copy or a hard link is not) keeps
// them to itself: the message keeps the place, "<file>:<line>:<column>:", only.
ConfigError without_content(const ConfigError& error, const std::filesystem::path& path) {
  const std::string message = error.what();
  const std::string file = path.string() + ":";
  size_t end = message.rfind(file, 0) == 0 ? file.size() : 0;
  for (int number = 0; end > 0 && number < 2; ++number) {
    size_t digits = end;
    while (digits < message.size() && std::isdigit(static_cast<unsigned char>(message[digits]))) ++digits;
    if (digits == end || digits >= message.size() || message[digits] != ':') break;
    end = digits + 1;
  }
  const std::string place = end > 0 ? message.substr(0, end) : file;
  return ConfigError(place + " not a valid policy file; " + std::string(kContentWithheld) +
                     " (chmod o+r shows the reason: a published policy is public anyway)");
}

PolicyFile policy_from_yaml(const std::filesystem::path& path, const ConfigNode& root) {
  if (root.is_null()) root.fail("the file is empty (expected domain, mode, mx and max_age)");
  root.expect_map({"domain", "mode", "mx", "max_age", "tlsrpt_rua", "vantages"});

  PolicyFile out;
  out.file = path;
  const std::string stem = path.stem().string();
  const auto domain_node = root.get("domain");
  try {
    out.domain = store::normalize_domain(domain_node ? domain_node->as_string() : stem);
  } catch (const store::PolicyError& e) {
    (domain_node ? *domain_node : root)
        .fail(std::string(e.what()) +
              (domain_node ? "" : " (the file name is taken as the domain; add a domain: key)"));
  }

  const auto mode_node = root.require("mode");
  const auto mode = store::mode_from_string(mode_node.as_string());
  if (!mode) mode_node.fail("mode must be enforce, testing or none, got '" + mode_node.as_string() + "'");
  out.policy.mode = *mode;

  const auto max_age_node = root.require("max_age");
  out.policy.max_age = static_cast<uint32_t>(max_age_node.as_uint(0, store::kMaxMaxAge));

  const auto mx_node = root.require("mx");
  for (const auto& item : mx_node.items()) {
    const auto pattern = item.as_string();
    const auto error = store::mx_pattern_error(pattern);
    if (!error.empty()) item.fail(error);
    out.policy.mx.push_back(pattern);
  }
  // Whatever remains (no mx, size) is reported at the mx key.
  const auto errors = store::policy_errors(out.policy);
  if (!errors.empty()) mx_node.fail(errors.front().message);

  if (auto rua = root.get("tlsrpt_rua")) {
    for (const auto& item : rua->items()) {
      const auto error = store::tlsrpt_rua_error(item.as_string());
      if (!error.empty()) item.fail(error);
      out.settings.tlsrpt_rua.push_back(item.as_string());
    }
    if (store::tlsrpt_record(out.settings.tlsrpt_rua).size() > 255)
      rua->fail("the TLS-RPT record would be longer than 255 characters");
  }
  if (auto vantages = root.get("vantages")) {
    for (const auto& item : vantages->items()) {
      const auto error = store::vantage_error(item.as_string());
      if (!error.empty()) item.fail(error);
      out.settings.vantages.push_back(item.as_string());
    }
  }
  return out;
}

// One *.yaml / *.yml entry of the folder. Whatever it is, it is read or refused with a
// message: a dangling symlink, a folder named x.yaml, a FIFO or a symlink out of the
// folder is an operator's mistake, never a file silently skipped.
PolicyFile load_policy_file(const std::filesystem::path& path, const std::filesystem::path& folder) {
  InputFileRules rules;
  rules.max_bytes = kMaxPolicyFileBytes;
  rules.confine_to = {folder};
  InputFile file;
  try {
    file = read_input_file(path, rules);
  } catch (const InputFileError& error) {
    std::string message = error.what();
    if (error.refusal() == InputRefusal::Outside) message += ": symlinks in the policies folder must stay inside it";
    throw ConfigError(message);
  }
  try {
    // The YAML of the bytes read_input_file checked (a second open could read something
    // else); like stsd.yaml, a key given twice (two max_age lines) is refused.
    return policy_from_yaml(path, parse_config_text(file.content, file.path));
  } catch (const ConfigError& error) {
    if (file.others_may_read) throw;
    throw without_content(error, path);
  }
}

}  // namespace

std::vector<PolicyFile> load_policy_files(const std::filesystem::path& folder) {
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec))
    throw ConfigError(folder.string() + ": policies folder does not exist or is not a folder");
  std::vector<std::filesystem::path> paths;
  for (auto it = std::filesystem::directory_iterator(folder, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const auto ext = it->path().extension();
    if (ext == ".yaml" || ext == ".yml") paths.push_back(it->path());
  }
  if (ec) throw ConfigError(folder.string() + ": cannot read the policies folder: " + ec.message());
  std::sort(paths.begin(), paths.end());

  std::vector<PolicyFile> files;
  std::map<std::string, std::filesystem::path> seen;
  for (const auto& path : paths) {
    auto file = load_policy_file(path, folder);
    auto [it, inserted] = seen.emplace(file.domain, path);
    if (!inserted)
      throw ConfigError(path.string() + ": domain " + file.domain + " is already defined in " + it->second.string());
    files.push_back(std::move(file));
  }
  return files;
}

SyncReport sync_policy_files(store::PolicyStore& state, const std::vector<PolicyFile>& files) {
  SyncReport report;
  for (const auto& file : files) {
    try {
      const int64_t now = store::unix_seconds(state.clock().now());
      if (!state.has_domain(file.domain)) {
        state.add_domain(file.domain, file.settings);
        ++report.added;
      } else if (auto status = state.status(file.domain, now); status && status->retirement) {
        // Staging the file's policy would cancel the retirement at every start and reload.
        report.retiring.push_back(file.file.string() + ": " + file.domain +
                                  " is being retired (stsctl domain retire): the file is not applied; delete it, "
                                  "or cancel the retirement with stsctl domain unretire " +
                                  file.domain);
        continue;
      } else if (status && (status->settings.tlsrpt_rua != file.settings.tlsrpt_rua ||
                            status->settings.vantages != file.settings.vantages)) {
        state.update_settings(file.domain, file.settings);
        ++report.settings_updated;
      }
      auto result = state.stage(file.domain, file.policy, /*skip_if_unchanged=*/true);
      if (result.created) {
        ++report.staged;
        log::f(log::Level::Info, "policies: %s: staged version %u from %s", file.domain.c_str(), result.version,
               file.file.string().c_str());
      } else {
        ++report.unchanged;
      }
      for (const auto& w : result.warnings)
        log::f(log::Level::Warning, "policies: %s: %s", file.file.string().c_str(), w.message.c_str());
    } catch (const std::exception& e) {
      report.errors.push_back(file.file.string() + ": " + e.what());
    }
  }
  return report;
}

namespace {

class PoliciesService final : public Service {
 public:
  PoliciesService(std::filesystem::path folder, std::vector<PolicyFile> files, Environment& env)
      : folder_(std::move(folder)), files_(std::move(files)), env_(env) {}

  void start() override { apply(); }
  void stop() override {}

  void prepare_reload(const ConfigNode* section, PendingLoad& load) override {
    if (!section) return;  // key removed: the store keeps what it has
    auto folder = policies_folder(*section);
    auto files = load_policy_files(folder);  // a bad file refuses the reload (ConfigError)
    load.on_commit([this, folder = std::move(folder), files = std::move(files)]() mutable {
      folder_ = std::move(folder);
      files_ = std::move(files);
      apply();
    });
  }

 private:
  void apply() {
    auto state = store::PolicyStore::open(env_);
    const auto report = sync_policy_files(*state, files_);
    for (const auto& error : report.errors) log::f(log::Level::Error, "policies: %s", error.c_str());
    for (const auto& skipped : report.retiring) log::f(log::Level::Warning, "policies: %s", skipped.c_str());
    log::f(log::Level::Info,
           "policies: %s: %zu files, %zu domains added, %zu settings updated, %zu staged, %zu unchanged",
           folder_.string().c_str(), files_.size(), report.added, report.settings_updated, report.staged,
           report.unchanged);
  }

  std::filesystem::path folder_;
  std::vector<PolicyFile> files_;
  Environment& env_;
};

}  // namespace

void register_policies_service(Registry& registry) {
  registry.add_service("policies", [](const ConfigNode* section, Environment& env) -> std::unique_ptr<Service> {
    if (!section) return nullptr;
    if (!env.storage_path()) section->fail("policies are synced into the store: set the top-level `storage:` folder");
    auto folder = policies_folder(*section);
    auto files = load_policy_files(folder);  // validated even under --check-config
    return std::make_unique<PoliciesService>(std::move(folder), std::move(files), env);
  });
}

}  // namespace stsd::mtasts
