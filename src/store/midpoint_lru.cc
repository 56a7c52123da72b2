#include "store/midpoint_lru.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
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
// Keys longer than this cannot be stored (Entry::key_size has 29 bits).
constexpr size_t kMaxKeySize = (size_t{1} << 29) - 1;
// Entries per bucket before the table doubles. Every probe costs a load from
// slots_ as well as the entry's, so chains are kept short: at most one entry
// a bucket, whose 4-byte ids then cost 4-8 bytes per entry, what 8-byte
// pointers did at two.
constexpr size_t kMaxLoad = 1;
// Ids run from 1 (0 is kNone) to this.
constexpr size_t kMaxId = std::numeric_limits<uint32_t>::max();

}  // namespace

// One allocation per entry: this header, then the deadline (only when the
// entry expires), then the client's flags (only when not 0: memcached's
// 32-bit flags, which a door client stores with a value), then the key's
// bytes, then the value's. The header starts
// with the Value::Block that the shard's handles share: the shard holds one
// reference while the entry is in the table, and a Value from Get another,
// so an entry dropped from the shard stays readable until its last handle
// goes. Every byte here is paid per entry, so links are 32-bit ids, there is
// no stored hash (chains compare keys; a rehash recomputes it), and an entry
// with no ttl has no deadline: 40 bytes, which with a 12-byte key and a
// 100-byte value fills a 160-byte malloc chunk where 41 would take 176.
struct MidpointLru::Entry {
  Value::Block block;  // block.size: the value's size
  uint64_t version;    // the write's version (HybridClock); 0: none given
  Id prev;             // toward the young head
  Id next;             // toward the old tail
  Id chain;            // next entry in the same hash bucket
  // Truncated to 32 bits, as InnoDB's access_time: ages are taken modulo
  // 2^32 ms (49 days), so an entry left unhit that long can look young again
  // and stay old on a hit, which costs a promotion, never correctness.
  uint32_t entered_ms;
  uint32_t young_stamp;
  uint32_t key_size : 29;
  uint32_t old : 1;
  uint32_t expires : 1;  // a deadline follows the header
  uint32_t flagged : 1;  // the client's flags follow the deadline

  static size_t DeadlineBytes(bool expires) { return expires ? sizeof(int64_t) : 0; }
  static size_t FlagsBytes(bool flagged) { return flagged ? sizeof(uint32_t) : 0; }
  // What follows the header before the key: the deadline and the flags.
  size_t extra_bytes() const { return DeadlineBytes(expires) + FlagsBytes(flagged); }
  char* bytes() { return reinterpret_cast<char*>(this + 1) + extra_bytes(); }
  const char* bytes() const { return reinterpret_cast<const char*>(this + 1) + extra_bytes(); }
  uint32_t flags() const {
    uint32_t flags = 0;
    if (flagged) {
      std::memcpy(&flags, reinterpret_cast<const char*>(this + 1) + DeadlineBytes(expires),
                  sizeof flags);
    }
    return flags;
  }
  // REQUIRES: flagged == (flags != 0), set before.
  void set_flags(uint32_t flags) {
    if (flagged) {
      std::memcpy(reinterpret_cast<char*>(this + 1) + DeadlineBytes(expires), &flags, sizeof flags);
    }
  }
  // REQUIRES: expires.
  int64_t deadline_ms() const {
    int64_t deadline;
    std::memcpy(&deadline, reinterpret_cast<const char*>(this + 1), sizeof deadline);
    return deadline;
  }
  void set_deadline_ms(int64_t deadline) {
    std::memcpy(reinterpret_cast<char*>(this + 1), &deadline, sizeof deadline);
  }
  std::string_view key() const { return {bytes(), key_size}; }
  const char* value_data() const { return bytes() + key_size; }
  size_t value_size() const { return block.size; }
};

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
    : options_(Sanitized(options)), buckets_(kInitialBuckets, kNone), slots_(1, nullptr) {}

MidpointLru::~MidpointLru() { Clear(); }

size_t MidpointLru::Charge(const Entry* e) const {
  // kEntryOverhead covers a deadline; flags are charged on top.
  return e->key_size + e->value_size() + Entry::FlagsBytes(e->flagged) + options_.entry_overhead;
}

bool MidpointLru::Expired(const Entry* e, int64_t now) {
  return e->expires && now >= e->deadline_ms();
}

std::optional<Value> MidpointLru::Get(std::string_view key, uint32_t hash, int64_t now,
                                      int64_t* ttl_left_ms, uint64_t* version, uint32_t* flags) {
  Id id = Find(key, hash);
  if (id != kNone && Expired(At(id), now)) {
    RemoveCounted(id, now);
    Rebalance();
    id = kNone;
  }
  if (id == kNone) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  Touch(id, now);
  Entry* e = At(id);
  if (ttl_left_ms) *ttl_left_ms = TtlLeft(e, now);
  if (version) *version = e->version;
  if (flags) *flags = e->flags();
  return Value::Share(&e->block, e->value_data());
}

void MidpointLru::Prefetch(uint32_t hash) const {
  const Id id = buckets_[hash & (buckets_.size() - 1)];
  if (id == kNone) return;
  // The header and key, then the value's first bytes: the lines a hit reads
  // first (a cache line is 64 bytes on the machines this runs on).
  const char* p = reinterpret_cast<const char*>(At(id));
  __builtin_prefetch(p);
  __builtin_prefetch(p + 64);
}

int64_t MidpointLru::TtlLeft(const Entry* e, int64_t now) {
  return e->expires ? e->deadline_ms() - now : 0;
}

std::optional<uint64_t> MidpointLru::VersionOf(std::string_view key, uint32_t hash, int64_t now) {
  const Id id = Find(key, hash);
  if (id == kNone || Expired(At(id), now)) return std::nullopt;
  return At(id)->version;
}

bool MidpointLru::Set(std::string_view key, uint32_t hash, std::string_view value,
                      int64_t deadline_ms, int64_t now, uint64_t version, bool if_newer,
                      uint32_t flags) {
  Id id = Find(key, hash);
  if (id != kNone && Expired(At(id), now)) {
    RemoveCounted(id, now);
    id = kNone;
  }
  if (if_newer && id != kNone && At(id)->version >= version) return false;
  const size_t charge =
      key.size() + value.size() + Entry::FlagsBytes(flags != 0) + options_.entry_overhead;
  const bool fits = key.size() <= kMaxKeySize && deadline_ms > now &&
                    charge <= options_.budget_bytes &&
                    (id != kNone || !free_ids_.empty() || slots_.size() <= kMaxId);
  if (!fits) {
    if (id != kNone) Remove(id);
  } else if (id != kNone) {
    Replace(id, value, deadline_ms, now, version, flags);
  } else {
    EvictUntilFits(charge, kNone, now);
    Insert(NewEntry(key, value, deadline_ms, now, version, flags), hash);
  }
  Rebalance();
  return fits;
}

bool MidpointLru::Del(std::string_view key, uint32_t hash, int64_t now) {
  const Id id = Find(key, hash);
  if (id == kNone) return false;
  const bool live = !Expired(At(id), now);
  if (live) {
    Remove(id);
  } else {
    RemoveCounted(id, now);
  }
  Rebalance();
  return live;
}

void MidpointLru::Clear() {
  while (tail_ != kNone) Remove(tail_);
  buckets_.assign(kInitialBuckets, kNone);
  slots_.assign(1, nullptr);
  free_ids_.clear();
}

bool MidpointLru::SweepExpired(int64_t now, size_t* budget, size_t* removed) {
  if (sweep_next_ == kNone) sweep_next_ = tail_;
  while (sweep_next_ != kNone && *budget > 0) {
    const Id id = sweep_next_;
    sweep_next_ = At(id)->prev;
    --*budget;
    if (Expired(At(id), now)) {
      RemoveCounted(id, now);
      ++*removed;
    }
  }
  Rebalance();
  return sweep_next_ == kNone;
}

bool MidpointLru::Scan(int64_t now, size_t* bucket, size_t* budget, std::vector<StoreEntry>* out) {
  while (*bucket < buckets_.size() && *budget > 0) {
    for (Id id = buckets_[*bucket]; id != kNone; id = At(id)->chain) {
      Entry* e = At(id);
      if (Expired(e, now)) continue;
      out->push_back({std::string(e->key()), Value::Share(&e->block, e->value_data()),
                      TtlLeft(e, now), e->version, e->flags()});
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
  for (Id id = head_; id != kNone; id = At(id)->next) {
    if (id == old_) out += "| ";
    out.append(At(id)->key()) += ' ';
  }
  if (old_ == kNone) out += "| ";
  out.pop_back();
  return out;
}

// --- hash table (LevelDB's HandleTable: chains threaded through entries) ---

MidpointLru::Id MidpointLru::Find(std::string_view key, uint32_t hash) const {
  Id id = buckets_[hash & (buckets_.size() - 1)];
  while (id != kNone && At(id)->key() != key) id = At(id)->chain;
  return id;
}

MidpointLru::Id* MidpointLru::FindSlot(std::string_view key, uint32_t hash) {
  Id* slot = &buckets_[hash & (buckets_.size() - 1)];
  while (*slot != kNone && At(*slot)->key() != key) slot = &At(*slot)->chain;
  return slot;
}

MidpointLru::Id* MidpointLru::SlotOf(Id id) {
  Id* slot = &buckets_[Xxh32(At(id)->key()) & (buckets_.size() - 1)];
  while (*slot != id) slot = &At(*slot)->chain;
  return slot;
}

// Doubling keeps each entry's bucket number or adds the old size to it, never
// moving an entry below a scan's cursor (see Scan).
void MidpointLru::GrowTable() {
  std::vector<Id> grown(buckets_.size() * 2, kNone);
  for (Id id : buckets_) {
    while (id != kNone) {
      Entry* e = At(id);
      const Id chain = e->chain;
      Id& bucket = grown[Xxh32(e->key()) & (grown.size() - 1)];
      e->chain = bucket;
      bucket = id;
      id = chain;
    }
  }
  buckets_.swap(grown);
}

// REQUIRES: a free id, or slots_.size() <= kMaxId.
MidpointLru::Id MidpointLru::NewId(Entry* e) {
  if (free_ids_.empty()) {
    slots_.push_back(e);
    return static_cast<Id>(slots_.size() - 1);
  }
  const Id id = free_ids_.back();
  free_ids_.pop_back();
  slots_[id] = e;
  return id;
}

// --- entries ---

MidpointLru::Entry* MidpointLru::NewEntry(std::string_view key, std::string_view value,
                                          int64_t deadline_ms, int64_t now, uint64_t version,
                                          uint32_t flags) {
  static_assert(std::is_standard_layout_v<Entry> && std::is_trivially_destructible_v<Entry>);
  static_assert(offsetof(Entry, block) == 0, "Value handles free the block from its start");
  static_assert(sizeof(Entry) == 40 && alignof(Entry) == 8, "Entry grew");
  const bool expires = deadline_ms != kNoDeadline;
  void* mem = ::operator new(sizeof(Entry) + Entry::DeadlineBytes(expires) +
                             Entry::FlagsBytes(flags != 0) + key.size() + value.size());
  auto* e = new (mem) Entry;
  e->block.refs.store(1, std::memory_order_relaxed);  // the shard's reference
  e->block.size = static_cast<uint32_t>(value.size());
  e->version = version;
  e->prev = e->next = e->chain = kNone;
  e->entered_ms = static_cast<uint32_t>(now);
  e->young_stamp = 0;
  e->key_size = static_cast<uint32_t>(key.size());
  e->old = 0;
  e->expires = expires;
  e->flagged = flags != 0;
  if (expires) e->set_deadline_ms(deadline_ms);
  e->set_flags(flags);
  if (!key.empty()) std::memcpy(e->bytes(), key.data(), key.size());
  if (!value.empty()) std::memcpy(e->bytes() + key.size(), value.data(), value.size());
  return e;
}

void MidpointLru::Insert(Entry* e, uint32_t hash) {
  if (items_ >= kMaxLoad * buckets_.size()) GrowTable();
  const Id id = NewId(e);
  *FindSlot(e->key(), hash) = id;
  ++items_;
  LinkAtMidpoint(id);
  Account(Charge(e));
}

// With no handle out (only the shard's reference, and none can appear while
// the caller holds the shard's lock) a value of the same size, with a
// deadline where the old one had one, is overwritten in place. Otherwise
// handles may still read the old bytes (or the layout differs), so the new
// value gets a new block under the same id, in the same place.
void MidpointLru::Replace(Id id, std::string_view value, int64_t deadline_ms, int64_t now,
                          uint64_t version, uint32_t flags) {
  Entry* e = At(id);
  const bool expires = deadline_ms != kNoDeadline;
  if (e->value_size() == value.size() && e->expires == expires &&
      static_cast<bool>(e->flagged) == (flags != 0) &&
      e->block.refs.load(std::memory_order_acquire) == 1) {
    if (!value.empty()) std::memcpy(e->bytes() + e->key_size, value.data(), value.size());
    if (expires) e->set_deadline_ms(deadline_ms);
    e->set_flags(flags);
    e->version = version;
    return;
  }
  ReplaceBlock(id, value, deadline_ms, now, version, flags);
}

void MidpointLru::ReplaceBlock(Id id, std::string_view value, int64_t deadline_ms, int64_t now,
                               uint64_t version, uint32_t flags) {
  Entry* e = At(id);
  Entry* fresh = NewEntry(e->key(), value, deadline_ms, now, version, flags);
  fresh->prev = e->prev;
  fresh->next = e->next;
  fresh->chain = e->chain;
  fresh->entered_ms = e->entered_ms;
  fresh->young_stamp = e->young_stamp;
  fresh->old = e->old;
  slots_[id] = fresh;
  uint64_t& side = e->old ? old_bytes_ : young_bytes_;
  side = side - Charge(e) + Charge(fresh);
  Account(Charge(fresh) - Charge(e));
  Value::Unref(&e->block);
  EvictUntilFits(0, id, now);
}

void MidpointLru::Remove(Id id) {
  Entry* e = At(id);
  Unlink(id);
  *SlotOf(id) = e->chain;
  --items_;
  Account(0 - Charge(e));
  slots_[id] = nullptr;
  free_ids_.push_back(id);
  Value::Unref(&e->block);
  ++freed_;
}

void MidpointLru::RemoveCounted(Id id, int64_t now) {
  ++(Expired(At(id), now) ? expired_ : evictions_);
  Remove(id);
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
void MidpointLru::EvictUntilFits(size_t incoming, Id keep, int64_t now) {
  while (Total() + incoming > options_.budget_bytes &&
         young_bytes_ + old_bytes_ + incoming > options_.share_bytes) {
    const Id victim = tail_ != kNone && tail_ == keep ? At(keep)->prev : tail_;
    if (victim == kNone) return;
    RemoveCounted(victim, now);
  }
}

bool MidpointLru::EvictWhileOver(int64_t now) {
  while (Total() > options_.budget_bytes && tail_ != kNone) RemoveCounted(tail_, now);
  Rebalance();
  return Total() <= options_.budget_bytes;
}

// --- the list ---

void MidpointLru::LinkAtYoungHead(Id id) {
  Entry* e = At(id);
  e->old = 0;
  e->prev = kNone;
  e->next = head_;
  (head_ != kNone ? At(head_)->prev : tail_) = id;
  head_ = id;
  young_bytes_ += Charge(e);
  ++young_items_;
  e->young_stamp = freed_;
}

void MidpointLru::LinkAtMidpoint(Id id) {
  Entry* e = At(id);
  const Id before = old_ != kNone ? At(old_)->prev : tail_;
  e->old = 1;
  e->prev = before;
  e->next = old_;
  (before != kNone ? At(before)->next : head_) = id;
  (old_ != kNone ? At(old_)->prev : tail_) = id;
  old_ = id;
  old_bytes_ += Charge(e);
}

void MidpointLru::Unlink(Id id) {
  Entry* e = At(id);
  if (sweep_next_ == id) sweep_next_ = e->prev;
  if (old_ == id) old_ = e->next;
  if (e->old) {
    old_bytes_ -= Charge(e);
  } else {
    young_bytes_ -= Charge(e);
    --young_items_;
  }
  (e->prev != kNone ? At(e->prev)->next : head_) = e->next;
  (e->next != kNone ? At(e->next)->prev : tail_) = e->prev;
}

void MidpointLru::Touch(Id id, int64_t now) {
  const Entry* e = At(id);
  if (e->old) {
    const uint32_t age = static_cast<uint32_t>(now) - e->entered_ms;
    if (static_cast<int64_t>(age) < options_.old_time_ms) return;
  } else if (id == head_ || freed_ - e->young_stamp < young_items_ / 4) {
    return;
  }
  Unlink(id);
  LinkAtYoungHead(id);
  Rebalance();
}

void MidpointLru::Rebalance() {
  const auto target =
      static_cast<uint64_t>(static_cast<double>(young_bytes_ + old_bytes_) * options_.old_ratio);
  for (int step = 0; step < kMaxRebalanceSteps; ++step) {
    const Id young_tail = old_ != kNone ? At(old_)->prev : tail_;
    if (old_bytes_ < target && young_tail != kNone) {
      DemoteYoungTail();
    } else if (old_ != kNone && old_bytes_ - Charge(At(old_)) >= target) {
      PromoteOldHead();
    } else {
      return;
    }
  }
}

void MidpointLru::DemoteYoungTail() {
  const Id id = old_ != kNone ? At(old_)->prev : tail_;
  Entry* e = At(id);
  const size_t charge = Charge(e);
  e->old = 1;
  young_bytes_ -= charge;
  old_bytes_ += charge;
  --young_items_;
  old_ = id;
}

void MidpointLru::PromoteOldHead() {
  Entry* e = At(old_);
  const size_t charge = Charge(e);
  e->old = 0;
  old_bytes_ -= charge;
  young_bytes_ += charge;
  ++young_items_;
  old_ = e->next;
  // It joins at the young tail, as far from the head as the sublist is long.
  e->young_stamp = freed_ - static_cast<uint32_t>(young_items_);
}

}  // namespace meshcache
