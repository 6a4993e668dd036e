// The store's writers. Each validates its input and builds one Transaction inside the
// write frame (PolicyStore::write), which commits it, applies it and notifies; a writer
// that throws leaves nothing changed.
#include <algorithm>
#include <optional>
#include <utility>

#include "parallel.h"
#include "store/policy_store.h"
#include "store/transaction.h"
#include "store/writer_steps.h"

namespace stsd::store {

namespace {

constexpr size_t kMaxReason = 1024;
constexpr size_t kMaxDetail = 8192;
constexpr size_t kMaxRua = 16;
constexpr size_t kMaxVantages = 64;

std::string summary(const Policy& p) {
  std::string out = "mode " + std::string(mode_name(p.mode)) + ", mx ";
  for (size_t i = 0; i < p.mx.size(); ++i) out += (i ? " " : "") + p.mx[i];
  return out + ", max_age " + std::to_string(p.max_age);
}

std::string bounded(std::string_view what, std::string_view text, size_t limit) {
  if (text.size() > limit) throw PolicyError(std::string(what) + " is longer than " + std::to_string(limit) + " bytes");
  return std::string(text);
}

DomainSettings checked_settings(const std::string& domain, const DomainSettings& s) {
  if (s.tlsrpt_rua.size() > kMaxRua)
    throw PolicyError(domain + ": at most " + std::to_string(kMaxRua) + " TLS-RPT rua URIs");
  for (const auto& uri : s.tlsrpt_rua) {
    auto error = tlsrpt_rua_error(uri);
    if (!error.empty()) throw PolicyError(domain + ": " + error);
  }
  // One TXT character-string holds 255 octets; a single string is what every reader
  // handles (MTA-STS-FACTS.md), so the record must fit in one.
  const auto record = tlsrpt_record(s.tlsrpt_rua);
  if (record.size() > 255)
    throw PolicyError(domain + ": the TLS-RPT record '" + record + "' is longer than 255 characters");
  if (s.vantages.size() > kMaxVantages)
    throw PolicyError(domain + ": at most " + std::to_string(kMaxVantages) + " vantages");
  for (const auto& v : s.vantages) {
    auto error = vantage_error(v);
    if (!error.empty()) throw PolicyError(domain + ": " + error);
  }
  return s;
}

Policy checked_policy(const std::string& domain, const Policy& policy) {
  auto errors = policy_errors(policy);
  if (!errors.empty()) {
    std::string message = domain + ": ";
    for (size_t i = 0; i < errors.size(); ++i) message += (i ? "; " : "") + errors[i].message;
    throw PolicyError(message);
  }
  return normalized_policy(policy);
}

}  // namespace

namespace {

// stage_version() without its event and its retirement step, which import_one() takes in
// its own order.
PolicyVersion stage_quietly(Transaction& tx, const std::string& domain, DomainRecord& r, const Policy& policy,
                            std::string digest) {
  PolicyVersion v{r.last_number + 1, policy, tx.now(), digest.empty() ? policy_digest(policy) : std::move(digest)};
  r.last_number = v.number;
  r.staged = std::make_shared<const PolicyVersion>(v);
  tx.put_version(domain, v);
  return v;
}

std::string staged_detail(const PolicyVersion& v) { return summary(v.policy) + ", digest " + v.digest.substr(0, 12); }

}  // namespace

// Stages `policy` as the domain's next version (the caller checked it); writer_steps.h.
PolicyVersion stage_version(Transaction& tx, const std::string& domain, DomainRecord& r, const Policy& policy,
                            std::string_view event_suffix, std::string digest) {
  PolicyVersion v = stage_quietly(tx, domain, r, policy, std::move(digest));
  tx.add_event(domain, "staged", v.number, staged_detail(v) + std::string(event_suffix));
  retirement_after_stage(tx, domain, r, v);
  return v;
}

namespace {

// A request of this many items is checked and prepared in two halves at once.
constexpr size_t kItemsForTwoThreads = 2048;

// An import item as checked before anything is written, with the domain's record as
// read then (nullopt: a new domain).
struct CheckedItem {
  size_t index = 0;  // its position in the request
  std::string domain;
  std::optional<DomainSettings> settings;
  Policy policy;
  std::optional<DomainRecord> record;
  std::optional<uint32_t> kept_numbering;  // a new domain's (Transaction::kept_numbering)
  bool stages = false;                     // its policy is not the staged one
  // Filled in by import(): policy_digest(policy) when it stages, and the warnings about the
  // policy as given.
  std::string digest;
  std::vector<Diagnostic> warnings;
};

struct CheckedImport {
  std::vector<CheckedItem> items;       // every item in key order, when none is refused
  std::vector<ImportRefusal> refusals;  // every refused item
};

std::string place_of(const std::vector<ImportItem>& items, size_t index) {
  return items[index].place.empty() ? "item " + std::to_string(index + 1) : items[index].place;
}

// An item's settings and policy as checked (what needs no store): its first refusal, if
// any, is kept for checked_import_item, which meets it in its turn.
struct CheckedParts {
  std::optional<DomainSettings> settings;
  Policy policy;
  std::string refused;
};

CheckedParts checked_parts(const ImportItem& item, const std::string& domain) {
  CheckedParts parts;
  try {
    if (item.settings) parts.settings = checked_settings(domain, *item.settings);
    parts.policy = checked_policy(domain, item.policy);
  } catch (const PolicyError& e) {
    parts.refused = e.what();
  }
  return parts;
}

// One item's checks after its name (`domain`, normalized; `present`: in the store, else
// `kept` is its kept_numbering()): the room it leaves for the names served under it (a
// new domain), then its checked parts, and a version number left when it would stage one.
CheckedItem checked_import_item(const Transaction& tx, CheckedParts&& parts, std::string domain, bool present,
                                std::optional<uint32_t> kept) {
  CheckedItem c;
  c.domain = std::move(domain);
  if (present) {
    c.record = tx.existing(c.domain);
  } else {
    tx.check_name_room(c.domain);
    c.kept_numbering = kept;
  }
  if (!parts.refused.empty()) throw PolicyError(parts.refused);
  c.settings = std::move(parts.settings);
  c.policy = std::move(parts.policy);
  c.stages = !(c.record && c.record->staged && same_policy(c.record->staged->policy, c.policy));
  if (c.stages && (c.record ? c.record->last_number : c.kept_numbering.value_or(0)) == UINT32_MAX)
    throw PolicyError(c.domain + ": version numbers exhausted");
  return c;
}

// THE validation of an import: import() applies only what it accepts and check_import()
// (the dry run) reports what it refuses, so a dry run that passes means an import that
// passes against the same store. The request as such (the reason) throws PolicyError; a
// bad item is a refusal naming its place, and every item is checked.
CheckedImport validate_import(const Transaction& tx, const std::vector<ImportItem>& items, bool confirm_now,
                              std::string_view reason) {
  bounded("reason", reason, kMaxReason);
  if (confirm_now && reason.empty()) throw PolicyError("confirming imported policies needs a reason");
  // Every item's name first, then the names in order: a repeated name is refused naming
  // its first item, and the new names are looked up in the store together, in key order.
  // What needs no store is checked in two halves at once for a large request
  // (src/parallel.h): the names, the settings and the policies.
  std::vector<std::string> domains(items.size());
  std::vector<std::string> refused(items.size());  // why an item is refused; "" when not (yet)
  std::vector<CheckedParts> parts(items.size());
  in_two_halves(items.size(), kItemsForTwoThreads, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      try {
        domains[i] = normalize_domain(items[i].domain);
        parts[i] = checked_parts(items[i], domains[i]);
      } catch (const PolicyError& e) {
        refused[i] = e.what();
      }
    }
  });
  std::vector<uint32_t> order;
  order.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i)
    if (refused[i].empty()) order.push_back(static_cast<uint32_t>(i));
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const int names = domains[a].compare(domains[b]);
    return names != 0 ? names < 0 : a < b;
  });
  for (size_t k = 0, first = 0; k < order.size(); ++k) {
    const uint32_t i = order[k];
    if (k > 0 && domains[i] == domains[order[k - 1]]) {
      refused[i] = "domain '" + domains[i] + "' appears twice in one request (also " +
                   place_of(items, order[first]) + "); send it in separate requests";
      continue;
    }
    first = k;
  }
  std::vector<char> present(items.size(), 0);
  in_two_halves(order.size(), kItemsForTwoThreads, [&](size_t begin, size_t end) {
    for (size_t k = begin; k < end; ++k)
      if (refused[order[k]].empty()) present[order[k]] = tx.contains(domains[order[k]]);
  });
  std::vector<std::string_view> new_domains;
  std::vector<uint32_t> new_items;
  for (const uint32_t i : order) {
    if (!refused[i].empty()) continue;
    if (!present[i]) {
      new_domains.push_back(domains[i]);
      new_items.push_back(i);
    }
  }
  const auto kept = tx.kept_numberings(new_domains);
  std::vector<std::optional<uint32_t>> kept_of(items.size());
  for (size_t k = 0; k < new_items.size(); ++k) kept_of[new_items[k]] = kept[k];

  CheckedImport checked;
  std::vector<std::pair<size_t, std::string>> refusals;  // item -> why
  checked.items.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i)
    if (!refused[i].empty()) refusals.emplace_back(i, refused[i]);
  // In key order: the writes follow it, and a table file wants its keys sorted.
  for (const uint32_t i : order) {
    if (!refused[i].empty()) continue;
    try {
      checked.items.push_back(checked_import_item(tx, std::move(parts[i]), std::move(domains[i]), present[i], kept_of[i]));
      checked.items.back().index = i;
    } catch (const PolicyError& e) {
      refusals.emplace_back(i, e.what());
    }
  }
  std::sort(refusals.begin(), refusals.end());
  for (auto& [i, why] : refusals) checked.refusals.push_back(ImportRefusal{i, place_of(items, i) + ": " + why});
  if (!checked.refusals.empty()) checked.items.clear();
  return checked;
}

// The steps of one import item, written as one event.
class ImportEvent {
 public:
  // A step: its event's kind, version and detail, and its name in a later step's detail.
  void add(std::string_view kind, uint32_t version, std::string detail, std::string name) {
    if (!kind_.empty()) earlier_ += (earlier_.empty() ? "" : "; ") + name_;
    kind_ = kind;
    version_ = version;
    detail_ = std::move(detail);
    name_ = std::move(name);
  }
  void write(Transaction& tx, const std::string& domain) const {
    if (kind_.empty()) return;
    const std::string steps = earlier_.empty() ? "" : ": " + earlier_;
    tx.add_event(domain, std::string(kind_), version_,
                 detail_.empty() ? "import" + steps : detail_ + " (import" + steps + ")");
  }

 private:
  std::string_view kind_;
  uint32_t version_ = 0;
  std::string detail_, name_, earlier_;
};

// One checked import item: adds the domain when missing, replaces changed settings,
// stages the policy unless unchanged, and confirms it when `confirm_reason` is set. Its
// steps make one event, not one each (three for a new domain were a third of the keys an
// import writes, issue 15): the kind and detail of its last step, the steps before it
// named in the detail, "bench (import: domain added; staged mode ..., digest ...)".
ImportResult import_one(Transaction& tx, CheckedItem& c, const std::string* confirm_reason, bool gate_confirmations) {
  ImportResult res;
  res.domain = c.domain;
  DomainRecord r;
  ImportEvent event;
  bool changed = false;
  if (c.record) {
    r = *c.record;
    if (c.settings &&
        (c.settings->tlsrpt_rua != r.settings.tlsrpt_rua || c.settings->vantages != r.settings.vantages)) {
      r.settings = *c.settings;
      r.settings_changed_at = tx.change_stamp(r.settings_changed_at);
      event.add("settings_updated", 0, "", "settings updated");
      changed = true;
    }
  } else {
    if (c.settings) r.settings = *c.settings;
    r.created_at = r.settings_changed_at = r.txt_changed_at = tx.now();
    r.last_number = tx.resume_numbering(c.domain, c.kept_numbering);
    event.add("domain_added", 0, "", "domain added");
    res.domain_added = true;
    changed = true;
  }
  res.stage.warnings = std::move(c.warnings);
  std::optional<PolicyVersion> staged;
  if (!c.stages) {  // the staged policy, as validate_import found
    res.stage.version = r.staged->number;
  } else {
    staged = stage_quietly(tx, c.domain, r, c.policy, std::move(c.digest));
    const std::string what = staged_detail(*staged);
    event.add("staged", staged->number, what, "staged " + what);
    res.stage.version = staged->number;
    res.stage.created = true;
    changed = true;
  }
  if (confirm_reason && r.staged && (!r.confirmed || r.confirmed->number < r.staged->number)) {
    r.confirmed = r.staged;
    r.confirmation = Confirmation{r.staged->number, tx.now(), true, *confirm_reason};
    r.txt_changed_at = tx.change_stamp(r.txt_changed_at);
    r.hold.reset();
    if (gate_confirmations && !r.rotate_until) r.rotate_until = tx.now();
    event.add("manual_confirm", r.staged->number, *confirm_reason, "confirmed");
    res.confirmed = true;
    changed = true;
  }
  event.write(tx, c.domain);
  if (staged) retirement_after_stage(tx, c.domain, r, *staged);
  if (changed) tx.put_record(c.domain, r);
  if (res.confirmed) retirement_after_confirm(tx, c.domain, r);
  return res;
}

// The start of the period whose id the domain shows at `now` (what its serial follows).
int64_t shown_period_start(const DomainRecord& r, uint32_t hash, int64_t now, const RotationSchedule& schedule) {
  const std::optional<int64_t> held_since = r.hold ? std::optional<int64_t>(r.hold->since) : std::nullopt;
  return period_at(effective_time(now, held_since, r.rotate_until), hash, schedule).start;
}

}  // namespace

void PolicyStore::add_domain(std::string_view domain_text, const DomainSettings& settings_in) {
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    if (tx.contains(domain)) throw PolicyError("domain '" + domain + "' is already in the store");
    tx.check_name_room(domain);
    DomainRecord r;
    r.settings = checked_settings(domain, settings_in);
    r.created_at = r.settings_changed_at = r.txt_changed_at = tx.now();
    r.last_number = tx.resume_numbering(domain);
    tx.put_record(domain, r);
    tx.add_event(domain, "domain_added", 0, r.settings.tlsrpt_rua.empty() ? "" : tlsrpt_record(r.settings.tlsrpt_rua));
  });
}

void PolicyStore::update_settings(std::string_view domain_text, const DomainSettings& settings_in) {
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    DomainRecord r = tx.existing(domain);
    r.settings = checked_settings(domain, settings_in);
    r.settings_changed_at = tx.change_stamp(r.settings_changed_at);
    tx.put_record(domain, r);
    tx.add_event(
        domain, "settings_updated", 0,
        "tlsrpt: " + (r.settings.tlsrpt_rua.empty() ? std::string("none") : tlsrpt_record(r.settings.tlsrpt_rua)) +
            "; vantages: " + std::to_string(r.settings.vantages.size()));
  });
}

void PolicyStore::remove_domain(std::string_view domain_text, RemovalCheck check) {
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    const DomainRecord r = tx.existing(domain);
    const std::string detail = removal_detail(tx, domain, r, check);  // RFC 8461 §8.3
    tx.remove_domain(domain, r.last_number);
    tx.add_event(domain, "removed", 0, detail);
  });
}

StageResult PolicyStore::stage(std::string_view domain_text, const Policy& policy_in, bool skip_if_unchanged) {
  StageResult result;
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    DomainRecord r = tx.existing(domain);
    const Policy policy = checked_policy(domain, policy_in);
    result.warnings = policy_warnings(policy_in, r.confirmed ? &r.confirmed->policy : nullptr);
    if (skip_if_unchanged && r.staged && same_policy(r.staged->policy, policy)) {
      result.version = r.staged->number;
      result.created = false;
      return;  // nothing to write
    }
    if (r.last_number == UINT32_MAX) throw PolicyError(domain + ": version numbers exhausted");
    result.version = stage_version(tx, domain, r, policy, "").number;
    result.created = true;
    tx.put_record(domain, r);
  });
  return result;
}

void PolicyStore::confirm(std::string_view domain_text, uint32_t version, bool manual, std::string_view reason_in,
                          std::string_view detail_in, std::optional<int64_t> evidence_until) {
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    DomainRecord r = tx.existing(domain);
    const std::string reason = bounded("reason", reason_in, kMaxReason);
    const std::string detail = bounded("detail", detail_in, kMaxDetail);
    if (manual && reason.empty()) throw PolicyError(domain + ": a manual confirmation needs a reason");
    if (r.confirmed && version < r.confirmed->number)
      throw PolicyError(domain + ": version " + std::to_string(version) + " is older than the confirmed version " +
                        std::to_string(r.confirmed->number) + " (to roll back, stage the old policy again)");
    std::shared_ptr<const PolicyVersion> target;
    if (r.staged && r.staged->number == version)
      target = r.staged;
    else if (r.confirmed && r.confirmed->number == version)
      target = r.confirmed;
    else if (version >= 1 && version <= r.last_number)
      if (auto v = tx.version(domain, version)) target = std::make_shared<const PolicyVersion>(std::move(*v));
    if (!target) throw PolicyError(domain + ": there is no version " + std::to_string(version));
    const bool moves = !r.confirmed || r.confirmed->number != version;
    const int64_t period_before = shown_period_start(r, rotation_hash(domain), tx.now(), schedule());
    const int64_t txt_before = r.txt_changed_at;
    r.confirmed = target;
    r.confirmation = Confirmation{version, tx.now(), manual, reason};
    if (moves || r.hold) r.txt_changed_at = tx.change_stamp(txt_before);
    const bool released = r.hold.has_value();
    r.hold.reset();  // a confirmation says what is served now: nothing left to hold for
    // The confirming round's evidence also lets the id rotate until it runs out. By hand,
    // while a verifier runs, a gated domain keeps its gate and an ungated one is gated now,
    // so its next rotation waits for evidence; with no verifier running (the confirm
    // service removed) nothing would ever lift the gate, so the confirmation does.
    if (evidence_until)
      r.rotate_until = std::max(r.rotate_until.value_or(*evidence_until), *evidence_until);
    else if (!r.rotate_until && rotation_evidence_required())
      r.rotate_until = tx.now();
    else if (manual && !rotation_evidence_required())
      r.rotate_until.reset();  // no verifier runs: the operator's confirmation lifts the gate
    // A gate moved or lifted may move the id (and the zone's serial must follow).
    if (shown_period_start(r, rotation_hash(domain), tx.now(), schedule()) != period_before)
      r.txt_changed_at = tx.change_stamp(txt_before);
    tx.put_record(domain, r);
    std::string event_detail = reason;
    if (!detail.empty()) event_detail += (event_detail.empty() ? "" : ": ") + detail;
    tx.add_event(domain, manual ? "manual_confirm" : "confirmed", version, event_detail);
    if (released) tx.add_event(domain, "hold_released", version, "released by the confirmation");
    retirement_after_confirm(tx, domain, r);
  });
}

void PolicyStore::record_event(std::string_view domain_text, std::string_view kind, uint32_t version,
                               std::string_view detail) {
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    tx.existing(domain);
    if (kind.empty() || kind.size() > 32 || !std::all_of(kind.begin(), kind.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        }))
      throw PolicyError("event kind '" + std::string(kind) + "' must be 1-32 characters of a-z, 0-9 and _");
    tx.add_event(domain, std::string(kind), version, bounded("detail", detail, kMaxDetail));
  });
}

void PolicyStore::set_hold(std::string_view domain_text, std::optional<std::string> reason) {
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    DomainRecord r = tx.existing(domain);
    if (reason) {
      const std::string text = bounded("hold reason", *reason, kMaxReason);
      if (text.empty()) throw PolicyError(domain + ": a hold needs a reason");
      if (!r.confirmed) throw PolicyError(domain + ": nothing is confirmed, so there is no id to hold");
      if (r.hold && r.hold->reason == text) return;  // already held for this reason
      if (!r.hold)
        r.hold = Hold{text, tx.now()};
      else
        r.hold->reason = text;  // keeps `since`: the id stays frozen
      tx.add_event(domain, "hold", r.confirmed->number, text);
    } else {
      if (!r.hold) return;
      r.hold.reset();
      r.txt_changed_at = tx.change_stamp(r.txt_changed_at);  // the id jumps to the current period
      tx.add_event(domain, "hold_released", r.confirmed ? r.confirmed->number : 0, "");
    }
    tx.put_record(domain, r);
  });
}

EvidenceResult PolicyStore::record_rotation_evidence(std::string_view domain_text, const RotationEvidence& evidence) {
  EvidenceResult result;
  write(domain_text, [&](Transaction& tx, const std::string& domain) {
    DomainRecord r = tx.existing(domain);
    if (!r.confirmed || r.confirmed->number != evidence.version) return;  // about a version no longer served
    const std::string detail = bounded("detail", evidence.detail, kMaxDetail);
    const int64_t now = tx.now();
    const RotationSchedule schedule = this->schedule();
    const uint32_t hash = rotation_hash(domain);
    const int64_t before = shown_period_start(r, hash, now, schedule);
    if (!evidence.verified) {
      // Keep the id where it is now: no later period until evidence comes back.
      if (r.rotate_until && *r.rotate_until <= now) return;
      r.rotate_until = now;
      tx.put_record(domain, r);
      tx.add_event(domain, "rotation_held", evidence.version, detail);
      result.written = true;
      return;
    }
    if (evidence.window.count() <= 0) throw PolicyError(domain + ": the evidence window must be positive");
    const int64_t until = std::min(evidence.seen_at, now) + evidence.window.count();
    if (!r.rotate_until) {
      // Not gated yet: its id already shows the current period, which this evidence must
      // not take back.
      r.rotate_until = std::max(until, now);
      tx.put_record(domain, r);
      result.written = true;
      return;
    }
    if (until <= *r.rotate_until) return;
    // Only evidence that lets the id reach a later period changes what senders may see;
    // the rest is not written (a million domains probed hourly would otherwise write
    // hundreds of times a second).
    if (period_at(until, hash, schedule).start == period_at(*r.rotate_until, hash, schedule).start) return;
    r.rotate_until = until;
    const int64_t after = shown_period_start(r, hash, now, schedule);
    if (after != before) {
      r.txt_changed_at = tx.change_stamp(r.txt_changed_at);  // the id jumps to the current period
      tx.add_event(domain, "rotation_resumed", evidence.version, detail);
      result.id_changed = true;
    }
    tx.put_record(domain, r);
    result.written = true;
  });
  return result;
}

ImportRefused::ImportRefused(std::vector<ImportRefusal> refusals, size_t items)
    : PolicyError(std::to_string(refusals.size()) + " of " + std::to_string(items) +
                  " items are refused and nothing was imported; the first: " +
                  (refusals.empty() ? std::string() : refusals.front().message)),
      refusals_(std::move(refusals)) {}

std::vector<ImportResult> PolicyStore::import(const std::vector<ImportItem>& items, bool confirm_now,
                                              std::string_view reason) {
  std::vector<ImportResult> results;
  write([&](Transaction& tx) {
    auto checked = validate_import(tx, items, confirm_now, reason);
    if (!checked.refusals.empty()) throw ImportRefused(std::move(checked.refusals), items.size());
    // What needs no transaction, in two halves at once for a large request: the digests of
    // the versions it stages and the warnings about each policy as given.
    in_two_halves(checked.items.size(), kItemsForTwoThreads, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        auto& c = checked.items[i];
        const bool confirmed = c.record && c.record->confirmed;
        c.warnings = policy_warnings(items[c.index].policy, confirmed ? &c.record->confirmed->policy : nullptr);
        if (c.stages) c.digest = policy_digest(c.policy);
      }
    });
    const std::string confirm_reason(reason);
    // A new domain writes about 0.8 KB (keys and values of its record, served record,
    // version and event) and 1.1 KB with a long reason: room for that.
    tx.reserve(checked.items.size(), checked.items.size() * (1100 + 2 * reason.size()));
    results.resize(items.size());
    for (auto& item : checked.items)
      results[item.index] = import_one(tx, item, confirm_now ? &confirm_reason : nullptr, rotation_evidence_required());
  });
  return results;
}

std::vector<ImportRefusal> PolicyStore::check_import(const std::vector<ImportItem>& items, bool confirm_now,
                                                     std::string_view reason) {
  std::vector<ImportRefusal> refusals;
  // Inside the write frame for import()'s view of the store (the writer lock, the name
  // room); the transaction stays empty, so nothing is committed.
  write([&](Transaction& tx) { refusals = validate_import(tx, items, confirm_now, reason).refusals; });
  return refusals;
}

}  // namespace stsd::store
