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

HandOff::Step HandOff::Next(Store& store, size_t max_entries) {
  Step step;
  if (!walking_) return step;
  std::vector<StoreEntry> entries;
  store.Scan(&cursor_, max_entries, &entries);
  std::map<std::string, size_t> open_batch;  // holder -> index in step.batches
  std::vector<size_t> batch_bytes;
  for (const StoreEntry& e : entries) Visit(e, step, open_batch, batch_bytes);
  if (cursor_.done()) {
    walking_ = false;
    base_ = ring_;
    ++stats_.passes;
  }
  return step;
}

void HandOff::Visit(const StoreEntry& e, Step& step, std::map<std::string, size_t>& open_batch,
                    std::vector<size_t>& batch_bytes) {
  const std::vector<const std::string*> before = base_->Holders(e.key);
  const std::vector<const std::string*> after = ring_->Holders(e.key);
  for (const std::string* holder : after) {
    if (*holder == self_ || Holds(before, *holder)) continue;
    auto it = open_batch.find(*holder);
    if (it == open_batch.end() || batch_bytes[it->second] >= max_batch_bytes_ ||
        step.batches[it->second].second.size() >= max_batch_entries_) {
      step.batches.emplace_back(*holder, std::vector<protocol::HandoffEntry>{});
      batch_bytes.push_back(0);
      it = open_batch.insert_or_assign(*holder, step.batches.size() - 1).first;
    }
    step.batches[it->second].second.push_back(
        {e.key, std::string(e.value.view()), static_cast<uint64_t>(e.ttl_left_ms), e.version});
    batch_bytes[it->second] += e.key.size() + e.value.size();
    ++stats_.entries_sent;
  }
  if (!Holds(after, self_)) {
    step.drop.push_back(e.key);
    ++stats_.entries_dropped;
  }
}

}  // namespace meshcache::node
