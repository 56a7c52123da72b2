#include "store/midpoint_lru.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include "util/hash.h"

namespace meshcache {
namespace {

constexpr size_t kInitialBuckets = 16;
// Midpoint moves per call: enough for entries of similar size to stay
// balanced on every call, and a bound on the work one odd-sized entry causes.
constexpr int kMaxRebalanceSteps = 4;
// Keys longer than this cannot be stored (Entry::key_size has 31 bits).
constexpr size_t kMaxKeySize = (size_t{1} << 31) - 1;
// Entries per bucket before the table doubles: chains average 1-2 entries,
// and the buckets cost 4-8 bytes per entry instead of 8-16.
constexpr size_t kMaxLoad = 2;

}  // namespace

// One allocation per entry: this header, then the key's bytes, then the
// value's. The header starts with the Value::Block that the shard's handles
// share: the shard holds one reference while the entry is in the table, and
// a Value from Get another, so an entry dropped from the shard stays readable
// until its last handle goes. Every byte here is paid per entry, so there is
// no stored hash (chains compare keys; a rehash recomputes it) and the key
// starts right after the last field, in what would be the struct's tail
// padding.
struct MidpointLru::Entry {
  Value::Block block;  // block.size: the value's size
  Entry* prev;         // toward the young head
  Entry* next;         // toward the old tail
  Entry* chain;        // next entry in the same hash bucket
  int64_t deadline_ms;
  uint64_t version;  // the write's version (HybridClock); 0: none given
  // Truncated to 32 bits, as InnoDB's access_time: ages are taken modulo
  // 2^32 ms (49 days), so an entry left unhit that long can look young again
  // and stay old on a hit, which costs a promotion, never correctness.
  uint32_t entered_ms;
  uint32_t young_stamp;
  uint32_t key_size : 31;
  uint32_t old : 1;

  static constexpr size_t HeaderBytes();
  char* bytes() { return reinterpret_cast<char*>(this) + HeaderBytes(); }
  const char* bytes() const { return reinterpret_cast<const char*>(this) + HeaderBytes(); }
  std::string_view key() const { return {bytes(), key_size}; }
  const char* value_data() const { return bytes() + key_size; }
  size_t value_size() const { return block.size; }
};

constexpr size_t MidpointLru::Entry::HeaderBytes() {
  return offsetof(Entry, young_stamp) + 2 * sizeof(uint32_t);
}

namespace {

LruOptions Sanitized(LruOptions options) {
  if (!(options.old_ratio >= 0.0)) options.old_ratio = 0.0;  // also NaN
  options.old_ratio = std::min(options.old_ratio, 1.0);
  options.old_time_ms = std::max<int64_t>(options.old_time_ms, 0);
  options.share_bytes = std::min(options.share_bytes, options.budget_bytes);
  return options;
}

}  // namespace

MidpointLru::MidpointLru(const LruOptions& options)
    : options_(Sanitized(options)), buckets_(kInitialBuckets, nullptr) {}

MidpointLru::~MidpointLru() { Clear(); }

size_t MidpointLru::Charge(const Entry* e) const {
  return e->key_size + e->value_size() + options_.entry_overhead;
}

bool MidpointLru::Expired(const Entry* e, int64_t now) const { return now >= e->deadline_ms; }

std::optional<Value> MidpointLru::Get(std::string_view key, uint32_t hash, int64_t now,
                                      int64_t* ttl_left_ms, uint64_t* version) {
  Entry* e = *FindSlot(key, hash);
  if (e != nullptr && Expired(e, now)) {
    RemoveCounted(e, now);
    Rebalance();
    e = nullptr;
  }
  if (e == nullptr) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  Touch(e, now);
  if (ttl_left_ms) *ttl_left_ms = TtlLeft(e, now);
  if (version) *version = e->version;
  return Value::Share(&e->block, e->value_data());
}

int64_t MidpointLru::TtlLeft(const Entry* e, int64_t now) {
  return e->deadline_ms == kNoDeadline ? 0 : e->deadline_ms - now;
}

std::optional<uint64_t> MidpointLru::VersionOf(std::string_view key, uint32_t hash, int64_t now) {
  Entry* e = *FindSlot(key, hash);
  if (e == nullptr || Expired(e, now)) return std::nullopt;
  return e->version;
}

bool MidpointLru::Set(std::string_view key, uint32_t hash, Value value, int64_t deadline_ms,
                      int64_t now, uint64_t version, bool if_newer) {
  Entry** slot = FindSlot(key, hash);  // stays valid: only inserts move slots
  Entry* e = *slot;
  if (e != nullptr && Expired(e, now)) {
    RemoveCounted(e, now);
    e = nullptr;
  }
  if (if_newer && e != nullptr && e->version >= version) return false;
  const bool fits = value != nullptr && key.size() <= kMaxKeySize && deadline_ms > now &&
                    key.size() + value.size() + options_.entry_overhead <= options_.budget_bytes;
  if (!fits) {
    if (e != nullptr) Remove(e);
  } else if (e != nullptr) {
    Replace(slot, value, deadline_ms, now, version);
  } else {
    EvictUntilFits(key.size() + value.size() + options_.entry_overhead, nullptr, now);
    Insert(NewEntry(key, value, deadline_ms, now, version), hash);
  }
  Rebalance();
  return fits;
}

bool MidpointLru::Del(std::string_view key, uint32_t hash, int64_t now) {
  Entry* e = *FindSlot(key, hash);
  if (e == nullptr) return false;
  const bool live = !Expired(e, now);
  if (live) {
    Remove(e);
  } else {
    RemoveCounted(e, now);
  }
  Rebalance();
  return live;
}

void MidpointLru::Clear() {
  while (tail_ != nullptr) Remove(tail_);
  buckets_.assign(kInitialBuckets, nullptr);
}

bool MidpointLru::SweepExpired(int64_t now, size_t* budget, size_t* removed) {
  if (sweep_next_ == nullptr) sweep_next_ = tail_;
  while (sweep_next_ != nullptr && *budget > 0) {
    Entry* e = sweep_next_;
    sweep_next_ = e->prev;
    --*budget;
    if (Expired(e, now)) {
      RemoveCounted(e, now);
      ++*removed;
    }
  }
  Rebalance();
  return sweep_next_ == nullptr;
}

bool MidpointLru::Scan(int64_t now, size_t* bucket, size_t* budget, std::vector<StoreEntry>* out) {
  while (*bucket < buckets_.size() && *budget > 0) {
    for (Entry* e = buckets_[*bucket]; e != nullptr; e = e->chain) {
      if (Expired(e, now)) continue;
      out->push_back({std::string(e->key()), Value::Share(&e->block, e->value_data()),
                      TtlLeft(e, now), e->version});
      if (*budget > 0) --*budget;
    }
    ++*bucket;
  }
  return *bucket >= buckets_.size();
}

StoreStats MidpointLru::Stats() const {
  StoreStats s;
  s.items = items_;
  s.bytes = young_bytes_ + old_bytes_;
  s.limit_bytes = options_.budget_bytes;
  s.hits = hits_;
  s.misses = misses_;
  s.evictions = evictions_;
  s.expired = expired_;
  return s;
}

std::string MidpointLru::DebugOrder() const {
  std::string out;
  for (const Entry* e = head_; e != nullptr; e = e->next) {
    if (e == old_) out += "| ";
    out.append(e->key()) += ' ';
  }
  if (old_ == nullptr) out += "| ";
  out.pop_back();
  return out;
}

// --- hash table (LevelDB's HandleTable: chains threaded through entries) ---

MidpointLru::Entry** MidpointLru::FindSlot(std::string_view key, uint32_t hash) {
  Entry** slot = &buckets_[hash & (buckets_.size() - 1)];
  while (*slot != nullptr && (*slot)->key() != key) {
    slot = &(*slot)->chain;
  }
  return slot;
}

void MidpointLru::GrowTable() {
  std::vector<Entry*> grown(buckets_.size() * 2, nullptr);
  for (Entry* e : buckets_) {
    while (e != nullptr) {
      Entry* chain = e->chain;
      Entry*& bucket = grown[Xxh32(e->key()) & (grown.size() - 1)];
      e->chain = bucket;
      bucket = e;
      e = chain;
    }
  }
  buckets_.swap(grown);
}

// --- entries ---

MidpointLru::Entry* MidpointLru::NewEntry(std::string_view key, const Value& value,
                                          int64_t deadline_ms, int64_t now, uint64_t version) {
  static_assert(std::is_standard_layout_v<Entry> && std::is_trivially_destructible_v<Entry>);
  static_assert(offsetof(Entry, block) == 0, "Value handles free the block from its start");
  static_assert(sizeof(void*) != 8 || Entry::HeaderBytes() == 60, "Entry grew");
  void* mem = ::operator new(Entry::HeaderBytes() + key.size() + value.size());
  Entry* e = new (mem) Entry;
  e->block.refs.store(1, std::memory_order_relaxed);  // the shard's reference
  e->block.size = static_cast<uint32_t>(value.size());
  e->prev = e->next = e->chain = nullptr;
  e->deadline_ms = deadline_ms;
  e->version = version;
  e->entered_ms = static_cast<uint32_t>(now);
  e->young_stamp = 0;
  e->key_size = static_cast<uint32_t>(key.size());
  e->old = 0;
  if (!key.empty()) std::memcpy(e->bytes(), key.data(), key.size());
  if (value.size() > 0) std::memcpy(e->bytes() + key.size(), value.data(), value.size());
  return e;
}

void MidpointLru::Insert(Entry* e, uint32_t hash) {
  if (items_ >= kMaxLoad * buckets_.size()) GrowTable();
  *FindSlot(e->key(), hash) = e;
  ++items_;
  LinkAtMidpoint(e);
  Account(Charge(e));
}

// With no handle out (only the shard's reference, and none can appear while
// the caller holds the shard's lock) a value of the same size is overwritten
// in place. Otherwise handles may still read the old bytes, so the new value
// gets a new entry that takes the old one's place in the list and the bucket.
void MidpointLru::Replace(Entry** slot, const Value& value, int64_t deadline_ms, int64_t now,
                          uint64_t version) {
  Entry* e = *slot;
  if (e->value_size() == value.size() && e->block.refs.load(std::memory_order_acquire) == 1) {
    if (value.size() > 0) std::memcpy(e->bytes() + e->key_size, value.data(), value.size());
    e->deadline_ms = deadline_ms;
    e->version = version;
    return;
  }
  Entry* fresh = NewEntry(e->key(), value, deadline_ms, now, version);
  fresh->prev = e->prev;
  fresh->next = e->next;
  fresh->chain = e->chain;
  fresh->entered_ms = e->entered_ms;
  fresh->young_stamp = e->young_stamp;
  fresh->old = e->old;
  (e->prev != nullptr ? e->prev->next : head_) = fresh;
  (e->next != nullptr ? e->next->prev : tail_) = fresh;
  if (old_ == e) old_ = fresh;
  if (sweep_next_ == e) sweep_next_ = fresh;
  *slot = fresh;
  uint64_t& side = e->old ? old_bytes_ : young_bytes_;
  side = side - Charge(e) + Charge(fresh);
  Account(Charge(fresh) - Charge(e));
  Value::Unref(&e->block);
  EvictUntilFits(0, fresh, now);
}

void MidpointLru::Remove(Entry* e) {
  Unlink(e);
  Entry** slot = SlotOf(e);
  *slot = e->chain;
  --items_;
  Account(0 - Charge(e));
  Value::Unref(&e->block);
}

MidpointLru::Entry** MidpointLru::SlotOf(const Entry* e) {
  Entry** slot = &buckets_[Xxh32(e->key()) & (buckets_.size() - 1)];
  while (*slot != e) slot = &(*slot)->chain;
  return slot;
}

void MidpointLru::RemoveCounted(Entry* e, int64_t now) {
  ++(Expired(e, now) ? expired_ : evictions_);
  Remove(e);
}

void MidpointLru::Account(uint64_t delta) {
  // Only the lock holder writes charged_: a load and a store, no read-modify-write.
  charged_.store(charged_.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  if (options_.total_bytes != nullptr) {
    options_.total_bytes->fetch_add(delta, std::memory_order_relaxed);
  }
}

uint64_t MidpointLru::Total() const {
  return options_.total_bytes != nullptr ? options_.total_bytes->load(std::memory_order_relaxed)
                                         : young_bytes_ + old_bytes_;
}

// A shard at or under its share leaves the room to other shards, so a shard
// that is sent more entries (or larger ones) than the others grows past its
// share instead of cycling through a share-sized list while idle shards keep
// stale entries.
void MidpointLru::EvictUntilFits(size_t incoming, const Entry* keep, int64_t now) {
  while (Total() + incoming > options_.budget_bytes &&
         young_bytes_ + old_bytes_ + incoming > options_.share_bytes) {
    Entry* victim = tail_ != nullptr && tail_ == keep ? keep->prev : tail_;
    if (victim == nullptr) return;
    RemoveCounted(victim, now);
  }
}

bool MidpointLru::EvictWhileOver(int64_t now) {
  while (Total() > options_.budget_bytes && tail_ != nullptr) RemoveCounted(tail_, now);
  Rebalance();
  return Total() <= options_.budget_bytes;
}

// --- the list ---

void MidpointLru::LinkAtYoungHead(Entry* e) {
  e->old = 0;
  e->prev = nullptr;
  e->next = head_;
  (head_ != nullptr ? head_->prev : tail_) = e;
  head_ = e;
  young_bytes_ += Charge(e);
  ++young_items_;
  e->young_stamp = ++young_moves_;
}

void MidpointLru::LinkAtMidpoint(Entry* e) {
  Entry* before = old_ != nullptr ? old_->prev : tail_;
  e->old = 1;
  e->prev = before;
  e->next = old_;
  (before != nullptr ? before->next : head_) = e;
  (old_ != nullptr ? old_->prev : tail_) = e;
  old_ = e;
  old_bytes_ += Charge(e);
}

void MidpointLru::Unlink(Entry* e) {
  if (sweep_next_ == e) sweep_next_ = e->prev;
  if (old_ == e) old_ = e->next;
  if (e->old) {
    old_bytes_ -= Charge(e);
  } else {
    young_bytes_ -= Charge(e);
    --young_items_;
  }
  (e->prev != nullptr ? e->prev->next : head_) = e->next;
  (e->next != nullptr ? e->next->prev : tail_) = e->prev;
}

void MidpointLru::Touch(Entry* e, int64_t now) {
  if (e->old) {
    const uint32_t age = static_cast<uint32_t>(now) - e->entered_ms;
    if (static_cast<int64_t>(age) < options_.old_time_ms) return;
  } else if (e == head_ || young_moves_ - e->young_stamp < young_items_ / 4) {
    return;
  }
  Unlink(e);
  LinkAtYoungHead(e);
  Rebalance();
}

void MidpointLru::Rebalance() {
  const auto target =
      static_cast<uint64_t>(static_cast<double>(young_bytes_ + old_bytes_) * options_.old_ratio);
  for (int step = 0; step < kMaxRebalanceSteps; ++step) {
    Entry* young_tail = old_ != nullptr ? old_->prev : tail_;
    if (old_bytes_ < target && young_tail != nullptr) {
      DemoteYoungTail();
    } else if (old_ != nullptr && old_bytes_ - Charge(old_) >= target) {
      PromoteOldHead();
    } else {
      return;
    }
  }
}

void MidpointLru::DemoteYoungTail() {
  Entry* e = old_ != nullptr ? old_->prev : tail_;
  const size_t charge = Charge(e);
  e->old = 1;
  young_bytes_ -= charge;
  old_bytes_ += charge;
  --young_items_;
  old_ = e;
}

void MidpointLru::PromoteOldHead() {
  Entry* e = old_;
  const size_t charge = Charge(e);
  e->old = 0;
  old_bytes_ -= charge;
  young_bytes_ += charge;
  ++young_items_;
  old_ = e->next;
  // It joins at the young tail, as far from the head as the sublist is long.
  e->young_stamp = young_moves_ - static_cast<uint32_t>(young_items_);
}

}  // namespace meshcache
