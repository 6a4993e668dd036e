#include "maildir.h"

#include <algorithm>
#include <system_error>

namespace stsctl {
namespace fs = std::filesystem;

namespace {

// The maildir spec (cr.yp.to/proto/maildir.html): "unique:2,FLAGS" with the flags in
// ASCII order; the part before ":" is the message's unique name.
constexpr std::string_view kInfo = ":2,";

void list_folder(const fs::path& folder, bool in_new, std::vector<MaildirMessage>& out) {
  std::error_code error;
  fs::directory_iterator it(folder, error);
  if (error) throw MaildirError("cannot read " + folder.string() + ": " + error.message());
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code type_error;
    if (!entry.is_regular_file(type_error)) continue;
    if (!in_new) {
      auto flags = maildir_flags(name);
      if (flags && flags->find('S') != std::string::npos) continue;
    }
    out.push_back({entry.path(), in_new});
  }
}

}  // namespace

std::optional<std::string> maildir_flags(const std::string& name) {
  const auto at = name.rfind(kInfo);
  if (at == std::string::npos) return std::nullopt;
  return name.substr(at + kInfo.size());
}

std::vector<MaildirMessage> waiting_messages(const fs::path& dir) {
  for (const char* sub : {"new", "cur"}) {
    std::error_code error;
    if (!fs::is_directory(dir / sub, error))
      throw MaildirError(dir.string() + " is not a maildir: it has no " + sub + "/ folder");
  }
  std::vector<MaildirMessage> messages;
  list_folder(dir / "new", true, messages);
  list_folder(dir / "cur", false, messages);
  std::sort(messages.begin(), messages.end(), [](const MaildirMessage& a, const MaildirMessage& b) {
    return a.path.filename() < b.path.filename();
  });
  return messages;
}

fs::path mark_seen(const fs::path& dir, const MaildirMessage& message) {
  std::string name = message.path.filename().string();
  std::string flags;
  if (auto kept = maildir_flags(name)) {
    flags = *kept;
    name.resize(name.size() - flags.size() - kInfo.size());
  }
  if (flags.find('S') == std::string::npos) flags.push_back('S');
  std::sort(flags.begin(), flags.end());
  const fs::path target = dir / "cur" / (name + std::string(kInfo) + flags);
  std::error_code error;
  fs::rename(message.path, target, error);
  if (error)
    throw MaildirError("cannot move " + message.path.string() + " to " + target.string() + ": " + error.message());
  return target;
}

}  // namespace stsctl
