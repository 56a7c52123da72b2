#include "client/router.h"

#include <algorithm>
#include <utility>

namespace meshcache::client {

Router::Router(std::vector<std::string> seeds, bool smart, int64_t node_retry_ms)
    : seeds_(std::move(seeds)), smart_(smart), node_retry_ms_(node_retry_ms) {}

void Router::SetRing(std::shared_ptr<const Ring> ring) {
  if (smart_) ring_ = std::move(ring);
}

void Router::MarkDown(const std::string& node, int64_t now_ms) {
  down_until_[node] = now_ms + node_retry_ms_;
}

bool Router::IsDown(const std::string& node, int64_t now_ms) const {
  auto it = down_until_.find(node);
  return it != down_until_.end() && now_ms < it->second;
}

bool Router::Usable(const std::string& node, int64_t now_ms,
                    const std::vector<std::string>& tried) const {
  return !IsDown(node, now_ms) && std::find(tried.begin(), tried.end(), node) == tried.end();
}

const std::string& Router::ServiceOf(const std::string& id) const {
  const MemberInfo* m = ring_->Find(id);
  return m && !m->service.empty() ? m->service : id;
}

std::optional<std::string> Router::ForKey(std::string_view key, int64_t now_ms,
                                          const std::vector<std::string>& tried) const {
  if (ring_ && ring_->nodes_on_ring() > 0) {
    // Holders of every rank: the owner, then the ring walk past it, so a
    // fallback lands where a replica lives when there is one.
    for (const std::string* id : ring_->Holders(key, ring_->nodes_on_ring())) {
      const std::string& node = ServiceOf(*id);
      if (Usable(node, now_ms, tried)) return node;
    }
  }
  return AnyNode(now_ms, tried);
}

std::optional<std::string> Router::AnyNode(int64_t now_ms,
                                           const std::vector<std::string>& tried) const {
  for (const std::string& seed : seeds_) {
    if (Usable(seed, now_ms, tried)) return seed;
  }
  if (!ring_) return std::nullopt;
  for (const MemberInfo& m : ring_->members()) {
    if (!OnRing(m.state)) continue;
    const std::string& node = ServiceOf(m.id);
    if (Usable(node, now_ms, tried)) return node;
  }
  return std::nullopt;
}

std::vector<KeyGroup> Router::Split(const std::vector<std::string>& keys, int64_t now_ms,
                                    std::vector<size_t>* unrouted) const {
  std::vector<KeyGroup> groups;
  std::map<std::string, size_t, std::less<>> index;  // node -> position in groups
  for (size_t slot = 0; slot < keys.size(); ++slot) {
    std::optional<std::string> node = ForKey(keys[slot], now_ms, {});
    if (!node) {
      if (unrouted) unrouted->push_back(slot);
      continue;
    }
    auto [it, fresh] = index.try_emplace(*node, groups.size());
    if (fresh) groups.push_back({*node, {}});
    groups[it->second].slots.push_back(slot);
  }
  return groups;
}

std::set<std::string> Router::Known() const {
  std::set<std::string> known(seeds_.begin(), seeds_.end());
  if (!ring_) return known;
  for (const MemberInfo& m : ring_->members()) {
    if (OnRing(m.state)) known.insert(ServiceOf(m.id));
  }
  return known;
}

}  // namespace meshcache::client
