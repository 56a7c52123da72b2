#include "node/handoff.h"

#include <algorithm>
#include <set>

namespace meshcache::node {
namespace {

bool Holds(const std::vector<const std::string*>& holders, const std::string& id) {
  return std::any_of(holders.begin(), holders.end(),
                     [&](const std::string* h) { return *h == id; });
}

// The nodes with ring positions: only they hold keys.
std::set<std::string> Positioned(const Ring& ring) {
  std::set<std::string> ids;
  for (const MemberInfo& m : ring.members()) {
    if (meshcache::OnRing(m.state)) ids.insert(m.id);
  }
  return ids;
}

}  // namespace

HandOff::HandOff(std::string self, size_t max_batch_entries, size_t max_batch_bytes)
    : self_(std::move(self)),
      max_batch_entries_(max_batch_entries),
      max_batch_bytes_(max_batch_bytes) {}

void HandOff::OnRing(std::shared_ptr<const Ring> ring) {
  ring_ = std::move(ring);
  if (!base_) base_ = ring_;
  if (!walking_ && Positioned(*ring_) == Positioned(*base_)) {
    base_ = ring_;  // the same nodes hold positions: nothing moves
    return;
  }
  walking_ = true;
  cursor_ = Store::ScanCursor{};
}

HandOff::Step HandOff::Next(Store& store, size_t max_entries,
                            const std::function<Deletes()>& deletes) {
  Step step;
  if (!walking_) return step;
  std::vector<StoreEntry> entries;
  store.Scan(&cursor_, max_entries, &entries);
  Batches batches{step, {}, {}};
  for (const StoreEntry& e : entries) Visit(e, batches);
  if (cursor_.done()) {
    for (const auto& [key, version] : deletes()) VisitDelete(key, version, batches);
    walking_ = false;
    base_ = ring_;
    ++stats_.passes;
  }
  return step;
}

HandOff::Batched HandOff::Pack(
    std::vector<std::pair<std::string, protocol::HandoffEntry>> moves) const {
  Step step;
  Batches batches{step, {}, {}};
  // Not a structured binding: clang-tidy 14 does not see a move out of one,
  // and would ask for `moves` by const reference.
  for (auto& m : moves) {
    batches.Add(m.first, std::move(m.second), max_batch_entries_, max_batch_bytes_);
  }
  return std::move(step.batches);
}

void HandOff::Batches::Add(const std::string& holder, protocol::HandoffEntry entry,
                           size_t max_entries, size_t max_bytes) {
  auto it = open.find(holder);
  if (it == open.end() || bytes[it->second] >= max_bytes ||
      step.batches[it->second].second.size() >= max_entries) {
    step.batches.emplace_back(holder, std::vector<protocol::HandoffEntry>{});
    bytes.push_back(0);
    it = open.insert_or_assign(holder, step.batches.size() - 1).first;
  }
  bytes[it->second] += entry.key.size() + entry.value.size();
  step.batches[it->second].second.push_back(std::move(entry));
}

void HandOff::Visit(const StoreEntry& e, Batches& batches) {
  const std::vector<const std::string*> before = base_->Holders(e.key);
  const std::vector<const std::string*> after = ring_->Holders(e.key);
  for (const std::string* holder : after) {
    if (*holder == self_ || Holds(before, *holder)) continue;
    batches.Add(
        *holder,
        {e.key, std::string(e.value.view()), static_cast<uint64_t>(e.ttl_left_ms), e.version,
         /*deleted=*/false, e.flags},
        max_batch_entries_, max_batch_bytes_);
    ++stats_.entries_sent;
  }
  if (!Holds(after, self_)) {
    batches.step.drop.push_back(e.key);
    ++stats_.entries_dropped;
  }
}

void HandOff::VisitDelete(const std::string& key, uint64_t version, Batches& batches) {
  const std::vector<const std::string*> before = base_->Holders(key);
  for (const std::string* holder : ring_->Holders(key)) {
    if (*holder == self_ || Holds(before, *holder)) continue;
    batches.Add(*holder, {key, {}, 0, version, /*deleted=*/true}, max_batch_entries_,
                max_batch_bytes_);
    ++stats_.deletes_sent;
  }
}

}  // namespace meshcache::node
