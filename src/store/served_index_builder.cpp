// The served index built at start-up from the served records (ServedIndexBuilder,
// store/served_index.h): each shard allocated once at its final size, on two threads.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <thread>
#include <unordered_map>
#include <utility>

#include "store/errors.h"
#include "store/served_shard.h"

namespace stsd::store {

using namespace served_shard;

ServedIndexBuilder::Part::Buffer::Buffer(size_t capacity) { reserve(capacity); }

ServedIndexBuilder::Part::Buffer::~Buffer() {
  if (data_) munmap(data_, capacity_);
}

ServedIndexBuilder::Part::Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

ServedIndexBuilder::Part::Buffer& ServedIndexBuilder::Part::Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    if (data_) munmap(data_, capacity_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void ServedIndexBuilder::Part::Buffer::reserve(size_t capacity) {
  constexpr size_t kHugePage = size_t{2} << 20;
  capacity = std::max(kHugePage, (capacity + kHugePage - 1) / kHugePage * kHugePage);
  if (capacity <= capacity_) return;
  void* at = data_ ? mremap(data_, capacity_, capacity, MREMAP_MAYMOVE)
                   : mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (at == MAP_FAILED) throw std::bad_alloc();
  madvise(at, capacity, MADV_HUGEPAGE);  // a hint: without it, 4 KiB pages
  data_ = static_cast<std::byte*>(at);
  capacity_ = capacity;
}

std::byte* ServedIndexBuilder::Part::Buffer::grow(size_t bytes) {
  if (size_ + bytes > capacity_) reserve(std::max(capacity_ * 2, size_ + bytes));
  std::byte* at = data_ + size_;
  size_ += bytes;
  return at;
}

ServedIndexBuilder::ServedIndexBuilder(size_t parts, uint64_t expected_bytes) : parts_(std::max<size_t>(parts, 1)) {
  // Entries take more room than the compressed records on disk: reserve generously, it is
  // address space until written.
  const uint64_t share = expected_bytes * 3 / parts_.size();
  for (auto& part : parts_) part.scratch_ = Part::Buffer(std::min<uint64_t>(share, uint64_t{1} << 36));
}

bool ServedIndexBuilder::Part::add(std::string_view domain, const Facts& facts) {
  uint8_t wire[256];
  const size_t n = wire_key_into(domain, wire);
  if (n == 0 || std::any_of(domain.begin(), domain.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) return false;
  if (scratch_.size() / 8 >= UINT32_MAX - 64) throw StoreError("too many domains for the served index");
  refs_.push_back(Ref{static_cast<uint32_t>(hash_name({wire, n})), static_cast<uint32_t>(scratch_.size() / 8)});
  write_entry(scratch_.grow(encoded_size({wire, n}, &facts)), {wire, n}, &facts, 0);
  size_t depth = 0;
  for_each_ancestor(as_text({wire, n}), [&](std::string_view a) {
    if (depth < recent_.size()) {
      auto& [name, count] = recent_[depth++];
      if (count == nullptr || name != a) name.assign(a), count = &ancestors_[name];  // map nodes never move
      ++*count;
      return;
    }
    ++ancestors_[std::string(a)];
  });
  return true;
}

namespace {

// Runs f(0) and f(1) on two threads (this one and another): both cores at start-up.
template <class F>
void on_two_threads(F&& f) {
  std::thread other([&] { f(1); });
  f(0);
  other.join();
}

}  // namespace

// Entries are scattered from the parts' buffers (read in order) into shards allocated
// once at their final size; slots are filled per shard; ancestors are set last (most are
// on few names).
void ServedIndexBuilder::build_into(ServedIndex& index) {
  std::unordered_map<std::string, uint32_t> ancestors = std::move(parts_[0].ancestors_);
  size_t domains = parts_[0].refs_.size();
  for (size_t p = 1; p < parts_.size(); ++p) {
    for (auto& [name, n] : parts_[p].ancestors_) ancestors[name] += n;
    parts_[p].ancestors_ = {};
    domains += parts_[p].refs_.size();
  }
  // Room for every entry (ancestors that are domains too are counted twice: a few more
  // shards at most).
  const uint64_t layout = index.layout_for(domains + ancestors.size());
  index.add_segments_for(layout);
  const size_t shards = shards_in(layout);

  // Sizes per shard, then each shard allocated once.
  const auto entry_bytes = [](const Part& part, size_t i) {
    const size_t end = i + 1 < part.refs_.size() ? part.refs_[i + 1].offset_words * size_t{8} : part.scratch_.size();
    return end - part.refs_[i].offset_words * size_t{8};
  };
  std::vector<uint64_t> bytes(shards, 0);
  std::vector<uint32_t> counts(shards, 0);
  for (const auto& part : parts_)
    for (size_t i = 0; i < part.refs_.size(); ++i) {
      const size_t s = address(part.refs_[i].hash_low, layout);
      bytes[s] += entry_bytes(part, i);
      ++counts[s];
    }
  std::vector<std::shared_ptr<Shard>> built(shards);
  for (size_t s = 0; s < shards; ++s)
    if (counts[s] != 0) built[s] = allocate_shard(bytes[s], counts[s]);

  // Entries copied into their shards (each thread its half of the shards), then indexed.
  std::vector<uint64_t>& written = bytes;  // reused: bytes written into each shard so far
  std::fill(written.begin(), written.end(), 0);
  on_two_threads([&](size_t half) {
    for (const auto& part : parts_)
      for (size_t i = 0; i < part.refs_.size(); ++i) {
        const size_t s = address(part.refs_[i].hash_low, layout);
        if ((s & 1) != half) continue;
        const size_t n = entry_bytes(part, i);
        std::memcpy(arena_of(*built[s]) + written[s], part.scratch_.data() + part.refs_[i].offset_words * size_t{8}, n);
        written[s] += n;
      }
    for (size_t s = half; s < shards; s += 2)
      if (built[s]) index_entries(*built[s]);
  });
  std::vector<Part>().swap(parts_);  // the loading buffers go now

  // Ancestors: a count on the domain entry of the same name, else an entry of their own
  // (the few shards that get one are built again with it).
  std::vector<std::pair<size_t, std::vector<std::byte>>> extra;  // shard, ancestor-only entries
  for (const auto& [name, n] : ancestors) {
    const uint64_t hash = hash_name(as_bytes(name));
    const size_t s = address(hash, layout);
    if (built[s])
      if (const std::byte* e = built[s]->find(as_bytes(name), hash)) {
        set_ancestors(const_cast<std::byte*>(e), n);  // not published yet
        continue;
      }
    std::vector<std::byte> entry;
    append(entry, as_bytes(name), nullptr, n);
    extra.emplace_back(s, std::move(entry));
  }
  std::sort(extra.begin(), extra.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < extra.size();) {
    const size_t s = extra[i].first;
    size_t end = i;
    size_t more_bytes = 0;
    for (; end < extra.size() && extra[end].first == s; ++end) more_bytes += extra[end].second.size();
    const Shard* before = built[s].get();
    const size_t old_bytes = before ? before->arena_bytes : 0;
    auto shard = allocate_shard(old_bytes + more_bytes, (before ? before->entries : 0) + (end - i));
    std::byte* out = arena_of(*shard);
    if (before) std::memcpy(out, before->arena(), old_bytes), out += old_bytes;
    for (; i < end; ++i) std::memcpy(out, extra[i].second.data(), extra[i].second.size()), out += extra[i].second.size();
    index_entries(*shard);
    built[s] = std::move(shard);
  }

  size_t entries = 0;
  for (size_t s = 0; s < shards; ++s) {
    if (!built[s]) {
      index.slot(s).store(empty_shard(), std::memory_order_release);
      continue;
    }
    entries += built[s]->entries;
    index.slot(s).store(std::move(built[s]), std::memory_order_release);
  }
  // The index is not read before it is built: the layout follows its shards.
  index.layout_.store(layout, std::memory_order_release);
  index.count_ = domains;
  index.entries_ = entries;
}

}  // namespace stsd::store
