#pragma once
// The `policies:` top-level key: a folder of YAML files, one per domain, that stsd syncs
// into the store at start-up and on SIGHUP (declarative alternative to stsctl).
//
//   domain: example.com            # optional; defaults to the file name without .yaml/.yml
//   mode: enforce                  # enforce | testing | none
//   mx: [mx1.example.com, "*.mail.example.com"]
//   max_age: 604800
//   tlsrpt_rua: [mailto:tls-reports@example.com]   # optional
//   vantages: [192.0.2.7]                           # optional (confirmer vantage points)
//
// A changed file stages a new version; an unchanged one stages nothing. The file owns the
// domain's settings (a missing tlsrpt_rua means none). Domains without a file are left
// alone, and so is a domain being retired (its file is not applied; a warning says so).
// Any bad file is reported with file:line and nothing is changed.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config.h"
#include "store/policy_store.h"

namespace stsd::mtasts {

struct PolicyFile {
  std::filesystem::path file;
  std::string domain;  // normalized
  store::DomainSettings settings;
  store::Policy policy;
};

// Where the folder is: `policies: DIR` or `policies: { folder: DIR }`.
std::filesystem::path policies_folder(const ConfigNode& section);

// A policy file larger than this is refused: the policy it describes is at most 64 KiB
// (RFC 8461 §3.3), so this leaves room for comments and bounds memory.
inline constexpr uint64_t kMaxPolicyFileBytes = 1024 * 1024;

// Reads and validates every *.yaml / *.yml entry of `folder` (sorted by name), through
// read_input_file (src/file_input.h): regular files only, symlinks kept inside the
// folder. Throws ConfigError naming file:line and the reason for the first bad file; a
// file other users cannot read is never quoted.
std::vector<PolicyFile> load_policy_files(const std::filesystem::path& folder);

struct SyncReport {
  size_t added = 0, settings_updated = 0, staged = 0, unchanged = 0;
  std::vector<std::string> errors;    // refused by the store (file: reason)
  std::vector<std::string> retiring;  // not applied: the domain is being retired (file: why)
};

// Applies the files to the store: adds missing domains, updates changed settings and
// stages changed policies (each domain atomically). A domain being retired is left alone.
SyncReport sync_policy_files(store::PolicyStore& state, const std::vector<PolicyFile>& files);

}  // namespace stsd::mtasts
