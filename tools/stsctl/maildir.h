#pragma once
// A maildir (the format of qmail, Postfix, Dovecot, fetchmail/getmail deliveries: new/,
// cur/, tmp/, one file per message) read once: every message not yet marked seen, and
// marking a message seen once it is dealt with.
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace stsctl {

class MaildirError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MaildirMessage {
  std::filesystem::path path;  // new/<name> or cur/<name>:2,<flags>
  bool in_new = false;
};

// The messages waiting in `dir`: every regular file in new/, and every file in cur/
// whose flags lack S (seen), sorted by name (maildir names start with the delivery time,
// so this is about the order they came in). Files starting with "." are skipped (the
// maildir convention for temporaries). Throws MaildirError when `dir` has no new/ or cur/.
std::vector<MaildirMessage> waiting_messages(const std::filesystem::path& dir);

// Moves a message to cur/ with the S (seen) flag added to its flags, as a mail reader
// does once a message is read (the flags kept in ASCII order). Returns the new path.
// Throws MaildirError when the rename fails (say, the file was taken by another reader).
std::filesystem::path mark_seen(const std::filesystem::path& dir, const MaildirMessage& message);

// The flags of a maildir file name ("1700000000.M1P2.host:2,RS" -> "RS"), or nullopt when
// it carries no ":2," info.
std::optional<std::string> maildir_flags(const std::string& name);

}  // namespace stsctl
