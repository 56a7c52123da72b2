// Tombstones: the versions of recent deletes, so that an older value cannot
// come back after a del: not a load that started before it, not a replica
// write or a hand-off that arrives late. Bounded in count and in age; a
// tombstone that is forgotten lets such a late older value in again, which
// the age (a minute by default, longer than a partition the mesh heals
// from) makes unlikely.
//
// Pure bookkeeping; time from the Clock. Not thread-safe: the I/O thread
// owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/clock.h"

namespace meshcache::node {

class Tombstones {
 public:
  // REQUIRES: clock outlives this.
  Tombstones(const Clock* clock, int64_t life_ms, size_t max_count)
      : clock_(clock), life_ms_(life_ms), max_count_(max_count) {}

  // key was deleted by the write stamped `version` (a newer one is kept).
  void Add(const std::string& key, uint64_t version) {
    Forget();
    const int64_t until = clock_->NowMs() + life_ms_;
    auto [it, fresh] = by_key_.try_emplace(key, Stone{version, until});
    if (!fresh && it->second.version >= version) return;
    it->second = Stone{version, until};
    order_.emplace_back(until, key);
    while (by_key_.size() > max_count_) Drop();
  }
  // The version of key's delete while it is remembered.
  std::optional<uint64_t> Find(std::string_view key) {
    if (by_key_.empty()) return std::nullopt;  // the common case: no string made
    Forget();
    auto it = by_key_.find(std::string(key));
    if (it == by_key_.end()) return std::nullopt;
    return it->second.version;
  }
  // A write newer than the delete: the key lives again.
  void Erase(std::string_view key) {
    if (!by_key_.empty()) by_key_.erase(std::string(key));
  }
  // True when a write stamped `version` is older than key's delete.
  bool Buries(std::string_view key, uint64_t version) {
    std::optional<uint64_t> deleted = Find(key);
    return deleted && *deleted >= version;
  }
  size_t size() const { return by_key_.size(); }
  // Every remembered delete: (key, version).
  std::vector<std::pair<std::string, uint64_t>> Live() {
    Forget();
    std::vector<std::pair<std::string, uint64_t>> out;
    out.reserve(by_key_.size());
    for (const auto& [key, stone] : by_key_) out.emplace_back(key, stone.version);
    return out;
  }

 private:
  void Forget() {
    const int64_t now = clock_->NowMs();
    while (!order_.empty() && order_.front().first <= now) Drop();
  }
  // Drops the oldest tombstone. An order_ entry of a key re-added or erased
  // since is passed over: only the entry with the key's current deadline
  // ends it.
  void Drop() {
    auto [until, key] = std::move(order_.front());
    order_.pop_front();
    auto it = by_key_.find(key);
    if (it != by_key_.end() && it->second.until == until) by_key_.erase(it);
  }

  struct Stone {
    uint64_t version;
    int64_t until;
  };

  const Clock* clock_;
  const int64_t life_ms_;
  const size_t max_count_;
  std::unordered_map<std::string, Stone> by_key_;
  std::deque<std::pair<int64_t, std::string>> order_;  // (forget at, key), oldest first
};

}  // namespace meshcache::node
