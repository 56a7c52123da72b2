// MidpointLru: one shard of the Store, the InnoDB buffer-pool LRU that
// store.h describes, without a lock. The Store holds the shard's mutex around
// every call; tests drive a shard directly to see its list order.
//
// The list runs from the young head (most recently promoted) to the old tail
// (next to evict). The midpoint is the first old entry; the old sublist is
// the shortest tail whose bytes reach old_ratio of the shard's bytes. After
// every call that changes the list the midpoint has moved at most a few
// entries toward that target, so an entry much larger than its neighbours
// rebalances over the next calls instead of in one.
//
// Budget: a shard alone (total_bytes null) holds at most budget_bytes. The
// shards of a Store share one budget instead: each counts its charged bytes
// in *total_bytes as well, and evicts its own old tail to make room only
// while the total would pass budget_bytes and it holds more than share_bytes;
// a shard at or under its share leaves the room to be found in other shards
// (Store does that, through EvictWhileOver, after this shard's call).
//
// Every call takes `now` (Clock milliseconds) from the caller.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"
#include "util/bytes.h"

namespace meshcache {

struct LruOptions {
  size_t budget_bytes = 0;  // charged bytes this shard (with those sharing total_bytes) may hold
  double old_ratio = 3.0 / 8.0;
  int64_t old_time_ms = 1000;
  size_t entry_overhead = Store::kEntryOverhead;  // charged per entry
  // Shared budget: the charged bytes of every shard sharing budget_bytes
  // (null: this shard alone), and this shard's fair share of the budget.
  // REQUIRES: *total_bytes outlives the shard.
  std::atomic<uint64_t>* total_bytes = nullptr;
  size_t share_bytes = SIZE_MAX;
};

class MidpointLru {
 public:
  // A deadline that never comes.
  static constexpr int64_t kNoDeadline = INT64_MAX;

  explicit MidpointLru(const LruOptions& options);
  ~MidpointLru();
  MidpointLru(const MidpointLru&) = delete;
  MidpointLru& operator=(const MidpointLru&) = delete;

  // `hash` is Xxh32(key); the caller has it already from picking the shard.
  // On a hit, *ttl_left_ms (when given) is the entry's remaining life, 0 for
  // an entry that never expires.
  // *version and *flags (when given) are the entry's version and client
  // flags.
  std::optional<Value> Get(std::string_view key, uint32_t hash, int64_t now,
                           int64_t* ttl_left_ms = nullptr, uint64_t* version = nullptr,
                           uint32_t* flags = nullptr);
  // Starts loading the first entry in hash's bucket (its header, key and the
  // start of its value) without waiting for it; changes nothing.
  void Prefetch(uint32_t hash) const;
  // The live entry's version without touching it (no hit, no promotion).
  std::optional<uint64_t> VersionOf(std::string_view key, uint32_t hash, int64_t now);
  // Stores the value until deadline_ms (kNoDeadline: forever). Replacing a
  // live key keeps its place in the list. Returns false, storing nothing and
  // removing any older value, when the entry is larger
  // than the whole budget, or the deadline is not after now. With a shared
  // budget the total may be over budget_bytes when this returns (this shard
  // was at its share); the caller then calls EvictWhileOver on other shards. With if_newer, a live
  // entry whose version is >= version is kept and false returned. flags: the
  // client's flags kept with the value (4 bytes more when not 0).
  bool Set(std::string_view key, uint32_t hash, std::string_view value, int64_t deadline_ms,
           int64_t now, uint64_t version = 0, bool if_newer = false, uint32_t flags = 0);
  // True when a live entry was removed.
  bool Del(std::string_view key, uint32_t hash, int64_t now);
  void Clear();
  // Checks up to *budget entries from the old tail toward the head, removing
  // expired ones; decrements *budget per check and adds removals to
  // *removed. Returns true when the pass reached the head; the next call
  // starts a new pass at the tail.
  bool SweepExpired(int64_t now, size_t* budget, size_t* removed);

  // Evicts from the old tail while the shared total is over budget_bytes and
  // this shard has entries, whatever its share. Returns true when the total
  // is within the budget.
  bool EvictWhileOver(int64_t now);

  // Appends the live entries of buckets *bucket, *bucket+1, ... until about
  // *budget entries were appended (whole buckets; *budget is decremented);
  // returns true when the last bucket was passed. A table that grows between
  // calls renumbers its buckets: bucket b's entries move to b or b + the old
  // bucket count, so a scan may see an entry twice but never misses one that
  // was in the table throughout.
  bool Scan(int64_t now, size_t* bucket, size_t* budget, std::vector<StoreEntry>* out);

  // items, bytes, limit_bytes and the counters of this shard.
  StoreStats Stats() const;
  uint64_t old_bytes() const { return old_bytes_; }
  uint64_t young_bytes() const { return young_bytes_; }
  // This shard's charged bytes; safe to read without the shard's lock.
  uint64_t charged_bytes() const { return charged_.load(std::memory_order_relaxed); }
  // Keys from the young head to the old tail, the midpoint shown as "|":
  // "c b | a". For tests.
  std::string DebugOrder() const;

 private:
  struct Entry;
  // Entries are named by 32-bit ids, indexes into slots_: the list links,
  // the buckets and the hash chains hold ids, half a pointer each. Replacing
  // an entry's block keeps its id, so nothing that names it changes.
  using Id = uint32_t;
  static constexpr Id kNone = 0;  // slots_[0] is never an entry

  Entry* At(Id id) const { return slots_[id]; }
  size_t Charge(const Entry* e) const;
  static bool Expired(const Entry* e, int64_t now);
  Id Find(std::string_view key, uint32_t hash) const;
  Id* FindSlot(std::string_view key, uint32_t hash);
  Id* SlotOf(Id id);  // the bucket or chain link that holds id
  void GrowTable();
  Id NewId(Entry* e);
  // The shard's reference, with copies of the key and value bytes.
  static Entry* NewEntry(std::string_view key, std::string_view value, int64_t deadline_ms,
                         int64_t now, uint64_t version, uint32_t flags);
  static int64_t TtlLeft(const Entry* e, int64_t now);
  void Insert(Entry* e, uint32_t hash);
  void Replace(Id id, std::string_view value, int64_t deadline_ms, int64_t now, uint64_t version,
               uint32_t flags);
  // Replace's slow path, kept apart so that the in-place path stays small:
  // the new value in a new block under the same id.
  void ReplaceBlock(Id id, std::string_view value, int64_t deadline_ms, int64_t now,
                    uint64_t version, uint32_t flags);
  void Remove(Id id);
  // Removes an entry the shard drops on its own: counted as expired when past
  // its deadline, else as evicted.
  void RemoveCounted(Id id, int64_t now);
  // Adds delta (mod 2^64) to this shard's charged bytes and the total.
  void Account(uint64_t delta);
  uint64_t Total() const;
  void EvictUntilFits(size_t incoming, Id keep, int64_t now);

  void LinkAtYoungHead(Id id);
  void LinkAtMidpoint(Id id);
  void Unlink(Id id);
  void Touch(Id id, int64_t now);
  void Rebalance();
  void DemoteYoungTail();
  void PromoteOldHead();

  const LruOptions options_;

  std::vector<Id> buckets_;    // chained through Entry::chain
  std::vector<Entry*> slots_;  // by id; null at 0 and at free ids
  std::vector<Id> free_ids_;   // ids of removed entries, reused first
  Id head_ = kNone;            // young head
  Id tail_ = kNone;            // old tail
  Id old_ = kNone;             // midpoint: first old entry, kNone if none
  Id sweep_next_ = kNone;      // next entry SweepExpired checks
  uint64_t young_bytes_ = 0;
  uint64_t old_bytes_ = 0;
  // young_bytes_ + old_bytes_, for readers without the lock (written under it).
  std::atomic<uint64_t> charged_{0};
  uint64_t items_ = 0;
  uint64_t young_items_ = 0;
  // Entries that left the list (InnoDB's freed_page_clock), stamped on an
  // entry when it is made young. A young entry moves on a hit only once a
  // quarter of the young sublist's worth of entries has left since: until
  // then it counts as near the head, as InnoDB's buf_page_peek_if_young
  // reckons. While nothing leaves the order does not matter (nothing is
  // evicted), and hits move nothing but old entries.
  uint32_t freed_ = 0;

  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
  uint64_t expired_ = 0;
};

}  // namespace meshcache
