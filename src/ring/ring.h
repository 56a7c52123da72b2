// Ring: the consistent-hash ring that names each key's owner, exactly as
// docs/protocol.md ("Where a key lives") says.
//
// XXH32 positions in [0, 2^32). Each node on the ring has `vnodes` positions:
// vnode i of node N sits at Xxh32(N + "#" + decimal(i)). The owner of key k is
// the node of the vnode with the greatest position <= Xxh32(k), wrapping to
// the greatest position overall when Xxh32(k) is below all of them. Equal
// positions: the lower node id (bytewise) wins. With R replicas the further
// holders are found by walking on toward lower positions (wrapping), skipping
// nodes already chosen.
//
// A Ring is immutable once built. Readers share it through
// std::shared_ptr<const Ring> and never lock; a membership change builds a
// new one and swaps the pointer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/member.h"

namespace meshcache {

struct RingParams {
  uint32_t vnodes = 160;  // positions per node: more = better balance, larger ring
  uint32_t replicas = 1;  // holders per key
  uint64_t epoch = 0;     // the membership epoch the ring was built from
};

class Ring {
 public:
  // Members in any order (incarnations are ignored); only alive and suspect ones get positions, the
  // others are kept for listing. Duplicate ids: the first one counts.
  static std::shared_ptr<const Ring> Build(std::vector<MemberInfo> members,
                                           const RingParams& params);
  // For tests and tools: a ring whose vnodes sit at the given (node id,
  // position) points instead of at their hashes. Every named node is an alive
  // member (service = id); params.vnodes is reported as given.
  static std::shared_ptr<const Ring> BuildAt(
      const std::vector<std::pair<std::string, uint32_t>>& points, const RingParams& params);

  // The owner's id, or nullptr when no node is on the ring. The pointer lives
  // as long as the ring.
  const std::string* Owner(std::string_view key) const;
  const std::string* OwnerOfPosition(uint32_t position) const;
  // Up to n distinct holders of the key, the owner first.
  std::vector<const std::string*> Holders(std::string_view key, size_t n) const;
  std::vector<const std::string*> HoldersOfPosition(uint32_t position, size_t n) const;
  // The replicas() holders of the key.
  std::vector<const std::string*> Holders(std::string_view key) const {
    return Holders(key, params_.replicas);
  }

  // Each node on the ring with the share of the 2^32 positions it owns (0 to
  // 1; the shares add up to 1), in id order. Empty when no node is on it.
  std::vector<std::pair<std::string, double>> Shares() const;
  // Every member, on the ring or not, sorted by id.
  const std::vector<MemberInfo>& members() const { return members_; }
  // The member with this id, or nullptr.
  const MemberInfo* Find(std::string_view id) const;
  size_t nodes_on_ring() const { return on_ring_; }
  uint64_t epoch() const { return params_.epoch; }
  uint32_t vnodes() const { return params_.vnodes; }
  uint32_t replicas() const { return params_.replicas; }

 private:
  struct Point {
    uint32_t position;
    uint32_t member;  // index into members_
  };
  Ring() = default;
  void SetMembers(std::vector<MemberInfo> members);
  // Sorts points_ and indexes them by bucket (bucket_start_).
  void SortPoints();
  // The owner's point: the greatest position <= position (wrapping), the
  // lowest id among equal positions. REQUIRES: !points_.empty().
  size_t IndexAtOrBelow(uint32_t position) const;  // into points_

  RingParams params_;
  std::vector<MemberInfo> members_;
  // Sorted by position ascending, equal positions by member id descending, so
  // that walking down the index visits lower positions and, within one
  // position, lower ids first: the order in which holders are chosen.
  std::vector<Point> points_;
  // The positions cut into 2^bits equal buckets, about one point each (at
  // most 2^16 buckets): bucket_start_[b] is the first point at or above
  // bucket b's lowest position, bucket_start_[2^bits] is points_.size(). A
  // lookup searches its own bucket's few points only, where a search of the
  // whole ring costs a get about as much as the store's lookup.
  std::vector<uint32_t> bucket_start_;
  unsigned bucket_shift_ = 31;  // 32 - bits
  size_t on_ring_ = 0;
};

}  // namespace meshcache
