#include "store/store.h"

#include "store/midpoint_lru.h"
#include "util/hash.h"

namespace meshcache {
namespace {

// Past this, more shards only make each list's LRU order coarser.
constexpr unsigned kMaxShardBits = 16;

unsigned ShardBits(size_t shards) {
  unsigned bits = 0;
  while (bits < kMaxShardBits && (size_t{1} << bits) < shards) ++bits;
  return bits;
}

int64_t DeadlineFor(int64_t ttl_ms, int64_t now) {
  if (ttl_ms == 0 || (now > 0 && ttl_ms > MidpointLru::kNoDeadline - now)) {
    return MidpointLru::kNoDeadline;
  }
  return ttl_ms < 0 ? now : now + ttl_ms;  // a deadline at now is refused as expired
}

}  // namespace

// The clock is read under the shard's lock, so within a shard time never
// runs backwards between calls (entry ages are unsigned).
class Store::Shard {
 public:
  explicit Shard(const LruOptions& options) : lru(options) {}
  // The shard's charged bytes without its lock, for a pick that may be stale
  // (PickVictim): the count is an atomic, nothing else of lru is read.
  uint64_t charged_bytes() const NO_THREAD_SAFETY_ANALYSIS { return lru.charged_bytes(); }
  Mutex mu;
  MidpointLru lru GUARDED_BY(mu);
};

Store::Store(const StoreOptions& options, const Clock* clock)
    : options_(options), clock_(clock), shard_bits_(ShardBits(options.shards)) {
  const size_t count = size_t{1} << shard_bits_;
  LruOptions lru;
  lru.budget_bytes = options.capacity_bytes;
  lru.old_ratio = options.old_ratio;
  lru.old_time_ms = options.old_time_ms;
  lru.total_bytes = &bytes_;
  lru.share_bytes = options.capacity_bytes / count;
  shards_.reserve(count);
  for (size_t i = 0; i < count; ++i) shards_.push_back(std::make_unique<Shard>(lru));
}

Store::~Store() = default;

size_t Store::ShardIndex(uint32_t hash) const {
  // The top bits: each shard's table indexes its buckets by the low ones.
  return static_cast<size_t>((uint64_t{hash} << shard_bits_) >> 32);
}

Store::Shard& Store::ShardFor(uint32_t hash) { return *shards_[ShardIndex(hash)]; }

std::optional<Value> Store::Get(std::string_view key, int64_t* ttl_left_ms, uint64_t* version,
                                uint32_t* flags) {
  return GetHashed(key, Xxh32(key), clock_->NowMs(), ttl_left_ms, version, flags);
}

std::optional<Value> Store::GetHashed(std::string_view key, uint32_t hash, int64_t now_ms,
                                      int64_t* ttl_left_ms, uint64_t* version, uint32_t* flags) {
  Shard& shard = ShardFor(hash);
  MutexLock lock(&shard.mu);
  return shard.lru.Get(key, hash, now_ms, ttl_left_ms, version, flags);
}

void Store::Prefetch(uint32_t hash) {
  Shard& shard = ShardFor(hash);
  MutexLock lock(&shard.mu);
  shard.lru.Prefetch(hash);
}

std::optional<uint64_t> Store::VersionOf(std::string_view key) {
  const uint32_t hash = Xxh32(key);
  Shard& shard = ShardFor(hash);
  MutexLock lock(&shard.mu);
  return shard.lru.VersionOf(key, hash, clock_->NowMs());
}

bool Store::Set(std::string_view key, std::string_view value, int64_t ttl_ms, uint64_t version,
                uint32_t flags) {
  return Put(key, Xxh32(key), clock_->NowMs(), value, ttl_ms, version, flags, /*if_newer=*/false);
}

bool Store::SetIfNewer(std::string_view key, std::string_view value, int64_t ttl_ms,
                       uint64_t version, uint32_t flags) {
  return Put(key, Xxh32(key), clock_->NowMs(), value, ttl_ms, version, flags, /*if_newer=*/true);
}

bool Store::SetIfNewerHashed(std::string_view key, uint32_t hash, int64_t now_ms,
                             std::string_view value, int64_t ttl_ms, uint64_t version,
                             uint32_t flags) {
  return Put(key, hash, now_ms, value, ttl_ms, version, flags, /*if_newer=*/true);
}

bool Store::Put(std::string_view key, uint32_t hash, int64_t now_ms, std::string_view value,
                int64_t ttl_ms, uint64_t version, uint32_t flags, bool if_newer) {
  const size_t index = ShardIndex(hash);
  bool stored;
  {
    Shard& shard = *shards_[index];
    MutexLock lock(&shard.mu);
    stored = shard.lru.Set(key, hash, value, DeadlineFor(ttl_ms, now_ms), now_ms, version, if_newer,
                           flags);
  }
  MakeRoom(index);
  return stored;
}

// Called with no lock held, so it takes one shard's lock at a time and no
// two threads can wait on each other. The shard just written to is the last
// resort: on its own, it is over budget only when the others are empty, and
// then its Set evicted its own tail already.
void Store::MakeRoom(size_t self) {
  while (bytes_.load(std::memory_order_relaxed) > options_.capacity_bytes) {
    Shard& victim = *shards_[PickVictim(self)];
    MutexLock lock(&victim.mu);
    if (victim.lru.EvictWhileOver(clock_->NowMs())) return;
  }
}

// The next shard from a rotating cursor that holds more than its share
// (one must, while the store is over budget), else the next that holds
// anything, else self. Reads the shards' counts without their locks, so the
// pick may be stale; MakeRoom just picks again.
size_t Store::PickVictim(size_t self) {
  const size_t count = shards_.size();
  const uint64_t share = options_.capacity_bytes / count;
  const size_t start = victim_cursor_.load(std::memory_order_relaxed);
  size_t fallback = self;
  for (size_t step = 0; step < count; ++step) {
    const size_t i = (start + step) & (count - 1);
    if (i == self) continue;
    const uint64_t held = shards_[i]->charged_bytes();
    if (held > share) {
      victim_cursor_.store((i + 1) & (count - 1), std::memory_order_relaxed);
      return i;
    }
    if (held > 0 && fallback == self) fallback = i;
  }
  return fallback;
}

bool Store::Del(std::string_view key) { return DelHashed(key, Xxh32(key), clock_->NowMs()); }

bool Store::DelHashed(std::string_view key, uint32_t hash, int64_t now_ms) {
  Shard& shard = ShardFor(hash);
  MutexLock lock(&shard.mu);
  return shard.lru.Del(key, hash, now_ms);
}

void Store::Clear() {
  for (auto& shard : shards_) {
    MutexLock lock(&shard->mu);
    shard->lru.Clear();
  }
}

size_t Store::SweepExpired(size_t max_checks) {
  MutexLock sweep_lock(&sweep_mu_);
  const int64_t now = clock_->NowMs();
  size_t removed = 0;
  for (size_t finished = 0; max_checks > 0 && finished < shards_.size(); ++finished) {
    Shard& shard = *shards_[sweep_cursor_];
    MutexLock lock(&shard.mu);
    if (!shard.lru.SweepExpired(now, &max_checks, &removed)) break;
    sweep_cursor_ = (sweep_cursor_ + 1) % shards_.size();
  }
  return removed;
}

void Store::Scan(ScanCursor* cursor, size_t max_entries, std::vector<StoreEntry>* out) {
  const int64_t now = clock_->NowMs();
  while (!cursor->done() && max_entries > 0) {
    Shard& shard = *shards_[cursor->shard];
    bool passed;
    {
      MutexLock lock(&shard.mu);
      passed = shard.lru.Scan(now, &cursor->bucket, &max_entries, out);
    }
    if (!passed) return;
    cursor->bucket = 0;
    cursor->shard = cursor->shard + 1 < shards_.size() ? cursor->shard + 1 : SIZE_MAX;
  }
}

StoreStats Store::Stats() const {
  StoreStats total;
  total.limit_bytes = options_.capacity_bytes;
  for (const auto& shard : shards_) {
    MutexLock lock(&shard->mu);
    const StoreStats s = shard->lru.Stats();
    total.items += s.items;
    total.bytes += s.bytes;
    total.hits += s.hits;
    total.misses += s.misses;
    total.evictions += s.evictions;
    total.expired += s.expired;
  }
  return total;
}

}  // namespace meshcache
