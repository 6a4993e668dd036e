#include "tracker.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "dns/types.h"
#include "logging.h"
#include "store/policy_store.h"

namespace stsd::transfer {

namespace {

std::string key_of(const dns::Name& lowered) {
  return std::string(reinterpret_cast<const char*>(lowered.data()), lowered.size());
}

dns::Name name_of(const std::string& key) {
  return *dns::Name::from_wire({reinterpret_cast<const uint8_t*>(key.data()), key.size()});
}

}  // namespace

std::shared_ptr<Tracker> Tracker::of(Environment& env) {
  return env.shared<Tracker>(kSharedKey, [&env] { return std::make_shared<Tracker>(env); });
}

Tracker::Tracker(Environment& env)
    : env_(env),
      sources_(env.shared<zone::Sources>(zone::Sources::kSharedKey, [] { return std::make_shared<zone::Sources>(); })),
      journal_(kDefaultJournalMaxMib << 20) {
  metrics_ = metrics::metrics_registry(env)->add("transfer", [this](metrics::MetricsWriter& writer) { collect(writer); });
}

Tracker::~Tracker() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  metrics_.reset();
}

void Tracker::apply(TrackerSettings settings, std::shared_ptr<store::PolicyStore> store) {
  journal_.set_max_bytes(settings.journal_max_bytes);
  {
    std::lock_guard lock(settings_mutex_);
    if (!notifier_) {
      notifier_ = std::make_unique<Notifier>(settings.notify, settings.keys, env_);
      notifier_->start();
    } else {
      notifier_->reconfigure(settings.notify, settings.keys);
    }
    settings_ = std::move(settings);
    store_ = std::move(store);
  }
  wake_.notify_all();
}

void Tracker::begin_polling() {
  if (thread_.joinable()) return;
  try {
    poll_once();
  } catch (const std::exception& error) {
    log::error(std::string("transfer: the first poll of the zones failed: ") + error.what());
  }
  thread_ = std::thread([this] { run(); });
}

int64_t Tracker::now() const {
  std::shared_ptr<store::PolicyStore> store;
  {
    std::lock_guard lock(settings_mutex_);
    store = store_;
  }
  if (store) return store->now();
  return std::chrono::duration_cast<std::chrono::seconds>(env_.clock().now().time_since_epoch()).count();
}

void Tracker::run() {
  std::unique_lock lock(wake_mutex_);
  while (!stopping_) {
    std::chrono::seconds poll;
    {
      std::lock_guard settings_lock(settings_mutex_);
      poll = settings_.poll;
    }
    // The first round ran in begin_polling, once every source of the load was added.
    wake_.wait_for(lock, poll, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    try {
      poll_once();
    } catch (const std::exception& error) {
      log::error(std::string("transfer: a poll of the zones failed: ") + error.what());
    }
    lock.lock();
  }
}

void Tracker::poll_once() {
  std::optional<dns::Name> catalog_apex;
  {
    std::lock_guard lock(settings_mutex_);
    catalog_apex = settings_.catalog;
  }
  const auto sources = sources_->snapshot();
  entries_.clear();
  std::vector<Listed> listed;
  for (size_t i = 0; i < sources.size(); ++i) {
    const size_t before = entries_.size();
    sources[i]->list(entries_);
    for (size_t k = before; k < entries_.size(); ++k) {
      entries_[k].apex.to_lower();
      if (catalog_apex && entries_[k].apex == *catalog_apex) continue;  // the catalog is ours
      listed.push_back(Listed{key_of(entries_[k].apex), entries_[k].serial, i});
    }
  }
  // Two sources listing one zone (two server blocks of one store): the first in key
  // order serves its transfers.
  std::stable_sort(listed.begin(), listed.end(), [](const Listed& a, const Listed& b) { return a.key < b.key; });
  listed.erase(std::unique(listed.begin(), listed.end(), [](const Listed& a, const Listed& b) { return a.key == b.key; }),
               listed.end());

  MemberKeys members;
  members.reserve(listed.size());
  for (const Listed& zone : listed) {
    const dns::Name apex = name_of(zone.key);
    if (journal_.serial(apex) != zone.serial) refresh_zone(*sources[zone.source], apex, !first_round_);
    if (journal_.serial(apex)) members.push_back(zone.key);
  }
  // Zones no source lists any more.
  std::vector<std::string> gone;
  std::set_difference(members_.begin(), members_.end(), members.begin(), members.end(), std::back_inserter(gone));
  for (const auto& key : gone) journal_.remove(name_of(key));

  const bool members_changed = members != members_;
  members_ = std::move(members);
  refresh_catalog(catalog_apex, members_changed || first_round_);
  first_round_ = false;
}

void Tracker::refresh_zone(const zone::Source& source, const dns::Name& apex, bool announce) {
  auto content = source.render(apex);
  if (!content) return;  // gone between list() and render()
  if (content->records.empty() || content->records.front().type != dns::rrtype::SOA) {
    log::warn("transfer: the zone " + apex.to_text() + " was rendered without its SOA first; not served");
    return;
  }
  const auto outcome = journal_.record(apex, version_of(*content));
  if (outcome == Journal::Outcome::Reset)
    log::warn("transfer: the serial of " + apex.to_text() + " went back to " + std::to_string(content->serial) +
              " (RFC 1982); secondaries holding a newer serial keep it until they expire");
  // At the first round every zone is new to a fresh process; secondaries check their
  // serials on their own refresh timers (docs/secondaries.md, "Restarts").
  const bool changed = outcome == Journal::Outcome::Changed || outcome == Journal::Outcome::Reset;
  if (changed || (outcome == Journal::Outcome::Added && announce)) zone_changed(apex, content->serial);
}

void Tracker::refresh_catalog(const std::optional<dns::Name>& apex, bool members_changed) {
  if (catalog_apex_ && (!apex || !(*apex == *catalog_apex_))) {
    journal_.remove(*catalog_apex_);
    catalog_.store(nullptr, std::memory_order_release);
    catalog_apex_.reset();
    catalog_serial_.reset();
  }
  if (!apex) return;
  const bool new_catalog = !catalog_apex_;
  if (!members_changed && !new_catalog) return;
  std::shared_ptr<store::PolicyStore> store;
  {
    std::lock_guard lock(settings_mutex_);
    store = store_;
  }
  const std::string fact = catalog_fact_name(*apex);
  if (!catalog_serial_ && store) {
    if (auto text = store->fact(fact)) catalog_serial_ = parse_catalog_fact(*text);
  }
  const CatalogSerial next = next_catalog_serial(catalog_serial_, member_set_digest(members_), now());
  if (store && next != catalog_serial_) {
    try {
      store->put_fact(fact, format_catalog_fact(next));
    } catch (const std::exception& error) {
      // The serial still increases in this process; a restart before the next change
      // may hand the same members a newer serial (one AXFR of the catalog, no harm).
      log::warn(std::string("transfer: cannot keep the catalog serial in the store: ") + error.what());
    }
  }
  catalog_serial_ = next;
  auto catalog = std::make_shared<const CatalogZone>(*apex, next.serial, members_);
  const auto outcome = journal_.record(*apex, catalog->version());
  catalog_.store(std::move(catalog), std::memory_order_release);
  catalog_apex_ = *apex;
  if (outcome == Journal::Outcome::Changed || outcome == Journal::Outcome::Reset) zone_changed(*apex, next.serial);
}

void Tracker::zone_changed(const dns::Name& apex, uint32_t serial) {
  const int64_t at = now();
  std::lock_guard lock(settings_mutex_);
  if (notifier_) notifier_->zone_changed(apex, serial, at);
}

void Tracker::secondary_has(const boost::asio::ip::address& secondary, const dns::Name& apex, uint32_t serial) {
  const int64_t at = now();
  std::lock_guard lock(settings_mutex_);
  if (notifier_) notifier_->secondary_has(secondary, apex, serial, at);
}

void Tracker::collect(metrics::MetricsWriter& writer) const {
  static constexpr std::string_view kTransfersHelp = "Zone transfer requests answered, by how (RFC 5936, RFC 1995).";
  static constexpr std::string_view kKinds[] = {"axfr", "ixfr", "ixfr_udp", "ixfr_udp_too_large", "up_to_date"};
  for (size_t i = 0; i < TransferCounters::kKinds; ++i)
    writer.counter("stsd_transfer_requests_total", kTransfersHelp, {{"type", kKinds[i]}},
                   static_cast<double>(counters_.transfers[i].load(std::memory_order_relaxed)));
  static constexpr std::string_view kRefusedHelp = "Zone transfer requests refused, by reason.";
  static constexpr std::string_view kReasons[] = {"acl", "tsig", "axfr_udp"};
  for (size_t i = 0; i < TransferCounters::kRefusals; ++i)
    writer.counter("stsd_transfer_refused_total", kRefusedHelp, {{"reason", kReasons[i]}},
                   static_cast<double>(counters_.refused[i].load(std::memory_order_relaxed)));
  writer.counter("stsd_transfer_failed_total", "Zone transfers that could not be completed.", {},
                 static_cast<double>(counters_.failed.load(std::memory_order_relaxed)));
  writer.counter("stsd_transfer_messages_sent_total", "DNS messages sent in zone transfer answers.", {},
                 static_cast<double>(counters_.messages.load(std::memory_order_relaxed)));
  writer.counter("stsd_transfer_bytes_sent_total", "Octets sent in zone transfer answers.", {},
                 static_cast<double>(counters_.bytes.load(std::memory_order_relaxed)));
  writer.gauge("stsd_transfer_journal_bytes", "Octets of zone differences kept for IXFR.", {},
               static_cast<double>(journal_.journal_bytes()));
  writer.gauge("stsd_transfer_zone_content_bytes", "Octets of the current content of every tracked zone.", {},
               static_cast<double>(journal_.content_bytes()));
  writer.gauge("stsd_transfer_zones", "Zones offered to secondaries (the catalog zone included).", {},
               static_cast<double>(journal_.zone_count()));
}

}  // namespace stsd::transfer
