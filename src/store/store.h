// Store: the owner's cache of values, an LRU that works like MySQL InnoDB's
// buffer pool.
//
// One list per shard, split into a young sublist (head side) and an old
// sublist (tail side, about old_ratio of the bytes). A new entry enters at the
// head of the old sublist (the midpoint). A hit on an old entry moves it to
// the young head only once the entry has been in the store for old_time_ms;
// a hit on a young entry moves it only once a quarter of the young sublist's
// worth of entries has left the shard since it was made young (InnoDB's
// freed_page_clock test): until then it counts as near the head. Eviction
// takes the old tail. So a one-off scan of cold keys passes through the old
// sublist and leaves the hot young set alone.
//
// Memory: every entry is charged key + value + kEntryOverhead bytes against
// capacity_bytes, one budget for all the shards. An entry larger than the
// whole budget is refused (Set returns false); any other fits. When the store
// is full a Set evicts from its own shard's old tail if that shard holds more
// than its share (capacity / shards), else from the old tails of shards that
// do. Used from one thread, the store never holds more than capacity_bytes
// after a call returns. Under concurrent Sets the total may pass it for a
// moment, by at most the charges of the entries being set at that moment:
// each Set evicts back under the budget before it returns, so once the calls
// return the store is within capacity_bytes again.
//
// Expiry: an entry past its deadline is never returned; it is removed when
// touched (lazy) or by SweepExpired (incremental).
//
// Versions: every entry carries the 64-bit version of the write that made it
// (opaque here; the node stamps them with a HybridClock). SetIfNewer keeps a
// live entry whose version is at least as new.
//
// Thread safety: every method is safe from many threads. Keys are sharded by
// hash; each shard has one mutex and one list.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/bytes.h"
#include "util/clock.h"
#include "util/thread_annotations.h"

namespace meshcache {

// A TTL in unsigned milliseconds, as the protocol and loaders carry it, as
// Set takes it: one past what int64 holds is as good as none (it never
// expires), never a negative, already expired, TTL.
inline int64_t TtlMs(uint64_t ttl_ms) {
  return ttl_ms > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(ttl_ms);
}

struct StoreOptions {
  // Budget for key + value + overhead of all entries. 64 MiB matches
  // meshcached's default --memory.
  size_t capacity_bytes = 64u << 20;
  // Share of each shard's bytes given to the old sublist. InnoDB's default
  // 3/8: larger protects more of a new working set, smaller protects the hot
  // set harder against scans.
  double old_ratio = 3.0 / 8.0;
  // An old entry hit before it is this old stays old (InnoDB's
  // innodb_old_blocks_time). 0 promotes on the first hit, which gives up
  // scan resistance for scans that touch a key twice.
  int64_t old_time_ms = 1000;
  // Number of shards (rounded up to a power of two, at most 65536), each with
  // its own lock and list. More shards: less lock contention, but each list
  // is shorter, so its LRU order is coarser (the shards share one byte
  // budget, so the largest storable entry does not shrink).
  size_t shards = 16;
};

// One live entry, as Store::Scan hands it out.
struct StoreEntry {
  std::string key;
  Value value;          // shares the entry's bytes, as Get's does
  int64_t ttl_left_ms;  // 0: never expires
  uint64_t version;
  uint32_t flags = 0;  // the client's flags
};

struct StoreStats {
  uint64_t items = 0;
  uint64_t bytes = 0;  // charged bytes, including overhead
  uint64_t limit_bytes = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t expired = 0;
};

class Store {
 public:
  // Bytes charged per entry beyond its key and value: the entry's header
  // (reference count, 32-bit list and chain links, version, ages, sizes: 40
  // bytes on 64-bit, 48 with a deadline), malloc's chunk header and rounding,
  // the entry's slot in its shard's id table and the hash buckets. The key
  // and the value's bytes share the header's allocation. Measured by
  // store_bench (resident set growth over 1,000,000 entries, 12-byte keys,
  // glibc 2.36): 70.5, 60.5 and 72.7 bytes for 10, 100 and 1000-byte values
  // with no ttl, 76.5 for 100-byte values with one; rounded up, as malloc's
  // rounding to 16 bytes moves other sizes by up to 15. The byte budget is
  // charged with this, so a lower figure lets a budget hold more entries.
  static constexpr size_t kEntryOverhead = 80;

  // REQUIRES: clock outlives the store.
  Store(const StoreOptions& options, const Clock* clock);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The value, or nullopt on a miss (absent or expired). Counts a hit or a
  // miss and applies the midpoint promotion rule. The Value shares the
  // entry's bytes without copying them and keeps them readable after the
  // entry is replaced, deleted or evicted.
  // On a hit, *ttl_left_ms (when given) is the entry's remaining life in
  // milliseconds, 0 when it never expires.
  // *version (when given) is the version the entry was written with, and
  // *flags (when given) the client's flags it was written with.
  std::optional<Value> Get(std::string_view key, int64_t* ttl_left_ms = nullptr,
                           uint64_t* version = nullptr, uint32_t* flags = nullptr);
  // Get for a caller that has hashed the key already (the node hashes it
  // for the ring) and read the clock: now_ms is the store's clock (NowMs)
  // as read for the request, once for all of its keys (a clock read costs
  // about as much as a lookup of a cached entry). REQUIRES: hash == Xxh32(key).
  std::optional<Value> GetHashed(std::string_view key, uint32_t hash, int64_t now_ms,
                                 int64_t* ttl_left_ms = nullptr, uint64_t* version = nullptr,
                                 uint32_t* flags = nullptr);
  // Starts loading the entry a GetHashed of this hash would find first, and
  // does not wait for it: no hit, no move. Called for every key of a batch
  // before their GetHashed, it lets the batch's cache misses overlap
  // instead of taking them one after another (under a uniform load the
  // miss on the entry is most of a hit's cost in the store).
  void Prefetch(uint32_t hash);
  // The live entry's version, without counting a hit or moving the entry.
  std::optional<uint64_t> VersionOf(std::string_view key);
  // Inserts or replaces, copying the value's bytes into the entry (the
  // caller's bytes are not kept: a request's body can be stored as it came).
  // ttl_ms 0 = no expiry. Evicts old-tail entries until
  // the entry fits. Replacing a live key keeps its place in the list. Returns
  // false (and stores nothing, removing any older value for the key) when
  // the entry is larger than capacity_bytes or ttl_ms
  // is negative (already expired). flags: the client's 32 bits kept with
  // the value (memcached's flags; 0 costs nothing, others 4 bytes).
  bool Set(std::string_view key, std::string_view value, int64_t ttl_ms, uint64_t version = 0,
           uint32_t flags = 0);
  // As Set, unless a live entry's version is >= version: then that entry
  // stays and false is returned (also false when Set would refuse).
  bool SetIfNewer(std::string_view key, std::string_view value, int64_t ttl_ms, uint64_t version,
                  uint32_t flags = 0);
  // SetIfNewer for a caller that has hashed the key and read the clock, as
  // for GetHashed. REQUIRES: hash == Xxh32(key).
  bool SetIfNewerHashed(std::string_view key, uint32_t hash, int64_t now_ms, std::string_view value,
                        int64_t ttl_ms, uint64_t version, uint32_t flags = 0);
  // Removes the key; true when a live (unexpired) entry was there.
  bool Del(std::string_view key);
  // Del for a caller that has hashed the key and read the clock, as for
  // GetHashed. REQUIRES: hash == Xxh32(key).
  bool DelHashed(std::string_view key, uint32_t hash, int64_t now_ms);
  // Removes all entries; the hit/miss/eviction/expiry counters stay.
  void Clear();
  // Visits up to max_checks entries across shards (continuing where the last
  // call stopped) and removes the expired ones; returns how many it removed.
  size_t SweepExpired(size_t max_checks);

  // Where a Scan goes on from; a default one starts at the beginning.
  struct ScanCursor {
    size_t shard = 0;
    size_t bucket = 0;
    bool done() const { return shard == SIZE_MAX; }
  };
  // Appends about max_entries live entries to *out, going on from *cursor,
  // and advances it; cursor->done() once every shard was passed. Entries
  // written or dropped meanwhile may or may not be seen, and one may be seen
  // twice (a shard's table grew): callers must be idempotent.
  void Scan(ScanCursor* cursor, size_t max_entries, std::vector<StoreEntry>* out);

  StoreStats Stats() const;

 private:
  class Shard;
  size_t ShardIndex(uint32_t hash) const;
  Shard& ShardFor(uint32_t hash);
  // Set and SetIfNewer: stores under the shard's lock, then MakeRoom.
  bool Put(std::string_view key, uint32_t hash, int64_t now_ms, std::string_view value,
           int64_t ttl_ms, uint64_t version, uint32_t flags, bool if_newer);
  // Evicts from other shards' old tails until the store is within budget;
  // `self` (whose lock the caller does not hold) is the last resort.
  void MakeRoom(size_t self);
  size_t PickVictim(size_t self);
  const StoreOptions options_;
  const Clock* const clock_;
  unsigned shard_bits_ = 0;               // shards_.size() == 1 << shard_bits_
  std::atomic<uint64_t> bytes_{0};        // charged bytes of all shards
  std::atomic<size_t> victim_cursor_{0};  // where PickVictim starts looking
  std::vector<std::unique_ptr<Shard>> shards_;
  Mutex sweep_mu_;
  size_t sweep_cursor_ GUARDED_BY(sweep_mu_) = 0;
};

}  // namespace meshcache
