#include "store/store.h"

#include "store/midpoint_lru.h"
#include "util/hash.h"

namespace meshcache {
namespace {

// Past this, shards only shrink the largest storable entry.
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
  std::mutex mu;
  MidpointLru lru;  // guarded by mu
};

Store::Store(const StoreOptions& options, const Clock* clock)
    : options_(options), clock_(clock), shard_bits_(ShardBits(options.shards)) {
  const size_t count = size_t{1} << shard_bits_;
  LruOptions lru;
  lru.budget_bytes = options.capacity_bytes / count;
  lru.old_ratio = options.old_ratio;
  lru.old_time_ms = options.old_time_ms;
  shards_.reserve(count);
  for (size_t i = 0; i < count; ++i) shards_.push_back(std::make_unique<Shard>(lru));
}

Store::~Store() = default;

Store::Shard& Store::ShardFor(uint32_t hash) {
  // The top bits: each shard's table indexes its buckets by the low ones.
  return *shards_[(uint64_t{hash} << shard_bits_) >> 32];
}

std::optional<Value> Store::Get(std::string_view key, int64_t* ttl_left_ms, uint64_t* version) {
  const uint32_t hash = Xxh32(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mu);
  return shard.lru.Get(key, hash, clock_->NowMs(), ttl_left_ms, version);
}

std::optional<uint64_t> Store::VersionOf(std::string_view key) {
  const uint32_t hash = Xxh32(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mu);
  return shard.lru.VersionOf(key, hash, clock_->NowMs());
}

bool Store::Set(std::string_view key, Value value, int64_t ttl_ms, uint64_t version) {
  const uint32_t hash = Xxh32(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mu);
  const int64_t now = clock_->NowMs();
  return shard.lru.Set(key, hash, std::move(value), DeadlineFor(ttl_ms, now), now, version);
}

bool Store::SetIfNewer(std::string_view key, Value value, int64_t ttl_ms, uint64_t version) {
  const uint32_t hash = Xxh32(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mu);
  const int64_t now = clock_->NowMs();
  return shard.lru.Set(key, hash, std::move(value), DeadlineFor(ttl_ms, now), now, version,
                       /*if_newer=*/true);
}

bool Store::Del(std::string_view key) {
  const uint32_t hash = Xxh32(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mu);
  return shard.lru.Del(key, hash, clock_->NowMs());
}

void Store::Clear() {
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    shard->lru.Clear();
  }
}

size_t Store::SweepExpired(size_t max_checks) {
  std::lock_guard sweep_lock(sweep_mu_);
  const int64_t now = clock_->NowMs();
  size_t removed = 0;
  for (size_t finished = 0; max_checks > 0 && finished < shards_.size(); ++finished) {
    Shard& shard = *shards_[sweep_cursor_];
    std::lock_guard lock(shard.mu);
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
      std::lock_guard lock(shard.mu);
      passed = shard.lru.Scan(now, &cursor->bucket, &max_entries, out);
    }
    if (!passed) return;
    cursor->bucket = 0;
    cursor->shard = cursor->shard + 1 < shards_.size() ? cursor->shard + 1 : SIZE_MAX;
  }
}

StoreStats Store::Stats() const {
  StoreStats total;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    const StoreStats s = shard->lru.Stats();
    total.items += s.items;
    total.bytes += s.bytes;
    total.limit_bytes += s.limit_bytes;
    total.hits += s.hits;
    total.misses += s.misses;
    total.evictions += s.evictions;
    total.expired += s.expired;
  }
  return total;
}

}  // namespace meshcache
