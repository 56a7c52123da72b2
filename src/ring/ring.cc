#include "ring/ring.h"

#include <algorithm>
#include <cassert>

#include "util/hash.h"

namespace meshcache {

namespace {

bool IdLess(const MemberInfo& a, const MemberInfo& b) { return a.id < b.id; }
bool IdEqual(const MemberInfo& a, const MemberInfo& b) { return a.id == b.id; }

constexpr unsigned kMaxBucketBits = 16;  // 256 KiB of bucket starts at most

}  // namespace

std::shared_ptr<const Ring> Ring::Build(std::vector<MemberInfo> members, const RingParams& params) {
  std::shared_ptr<Ring> ring(new Ring());
  ring->params_ = params;
  ring->SetMembers(std::move(members));
  for (uint32_t m = 0; m < ring->members_.size(); ++m) {
    const MemberInfo& info = ring->members_[m];
    if (!OnRing(info.state)) continue;
    ++ring->on_ring_;
    std::string name = info.id + "#";
    const size_t prefix = name.size();
    for (uint32_t i = 0; i < params.vnodes; ++i) {
      name.resize(prefix);
      name += std::to_string(i);
      ring->points_.push_back({Xxh32(name), m});
    }
  }
  ring->SortPoints();
  return ring;
}

std::shared_ptr<const Ring> Ring::BuildAt(
    const std::vector<std::pair<std::string, uint32_t>>& points, const RingParams& params) {
  std::shared_ptr<Ring> ring(new Ring());
  ring->params_ = params;
  std::vector<MemberInfo> members;
  members.reserve(points.size());
  for (const auto& [id, position] : points) members.push_back({id, id, "", NodeState::kAlive, 0});
  ring->SetMembers(std::move(members));
  ring->on_ring_ = ring->members_.size();
  for (const auto& [id, position] : points) {
    const MemberInfo* member = ring->Find(id);
    ring->points_.push_back({position, static_cast<uint32_t>(member - ring->members_.data())});
  }
  ring->SortPoints();
  return ring;
}

void Ring::SetMembers(std::vector<MemberInfo> members) {
  // A stable sort keeps the first of equal ids first, and unique keeps it.
  std::stable_sort(members.begin(), members.end(), IdLess);
  members.erase(std::unique(members.begin(), members.end(), IdEqual), members.end());
  members_ = std::move(members);
}

void Ring::SortPoints() {
  // members_ is sorted by id, so comparing indices compares ids.
  std::sort(points_.begin(), points_.end(), [](const Point& a, const Point& b) {
    return a.position != b.position ? a.position < b.position : a.member > b.member;
  });
  unsigned bits = 1;
  while (bits < kMaxBucketBits && (size_t{1} << bits) < points_.size()) ++bits;
  bucket_shift_ = 32 - bits;
  const size_t buckets = size_t{1} << bits;
  bucket_start_.assign(buckets + 1, static_cast<uint32_t>(points_.size()));
  size_t b = 0;
  for (size_t i = 0; i < points_.size(); ++i) {
    // Every bucket starting at or below this point's position, and not yet
    // started by an earlier point, starts here.
    while (b < buckets && (uint64_t{b} << bucket_shift_) <= points_[i].position) {
      bucket_start_[b++] = static_cast<uint32_t>(i);
    }
  }
}

size_t Ring::IndexAtOrBelow(uint32_t position) const {
  assert(!points_.empty());
  // Points before the bucket's start lie below the bucket, so below
  // position; points from the next bucket's start on lie above it.
  const size_t b = position >> bucket_shift_;
  auto above =
      std::upper_bound(points_.begin() + bucket_start_[b], points_.begin() + bucket_start_[b + 1],
                       position, [](uint32_t p, const Point& pt) { return p < pt.position; });
  // Below every position: the ring wraps to the greatest one, the last point.
  if (above == points_.begin()) return points_.size() - 1;
  return static_cast<size_t>(above - points_.begin()) - 1;
}

const std::string* Ring::Owner(std::string_view key) const { return OwnerOfPosition(Xxh32(key)); }

std::vector<std::pair<std::string, double>> Ring::Shares() const {
  // Between two neighbouring distinct positions every key belongs to the
  // owner of the lower one; past the highest, the ring wraps to the lowest.
  std::vector<uint64_t> owned(members_.size(), 0);
  for (size_t i = 0; i < points_.size(); ++i) {
    const uint32_t at = points_[i].position;
    if (i + 1 < points_.size() && points_[i + 1].position == at) continue;  // one arc a position
    const uint64_t next = i + 1 < points_.size() ? points_[i + 1].position
                                                 : (uint64_t{1} << 32) + points_[0].position;
    owned[points_[IndexAtOrBelow(at)].member] += next - at;
  }
  std::vector<std::pair<std::string, double>> out;
  for (size_t m = 0; m < members_.size(); ++m) {
    if (!OnRing(members_[m].state)) continue;
    out.emplace_back(members_[m].id, static_cast<double>(owned[m]) / 4294967296.0);
  }
  return out;
}

const std::string* Ring::OwnerOfPosition(uint32_t position) const {
  if (points_.empty()) return nullptr;
  return &members_[points_[IndexAtOrBelow(position)].member].id;
}

std::vector<const std::string*> Ring::Holders(std::string_view key, size_t n) const {
  return HoldersOfPosition(Xxh32(key), n);
}

std::vector<const std::string*> Ring::HoldersOfPosition(uint32_t position, size_t n) const {
  std::vector<const std::string*> out;
  if (points_.empty()) return out;
  // Every node on the ring has a point, so the walk finds `want` distinct ones
  // within one turn.
  const size_t want = std::min(n, on_ring_);
  for (size_t i = IndexAtOrBelow(position); out.size() < want;
       i = (i == 0 ? points_.size() : i) - 1) {
    const std::string* id = &members_[points_[i].member].id;
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

const MemberInfo* Ring::Find(std::string_view id) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), id,
                             [](const MemberInfo& m, std::string_view v) { return m.id < v; });
  return it != members_.end() && it->id == id ? &*it : nullptr;
}

}  // namespace meshcache
