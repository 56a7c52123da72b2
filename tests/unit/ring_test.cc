#include "ring/ring.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "util/hash.h"

using namespace meshcache;

namespace {

MemberInfo Member(const std::string& id, NodeState state = NodeState::kAlive) {
  return {id, id, id + "-gossip", state, 0};
}

std::vector<MemberInfo> Nodes(int count) {
  std::vector<MemberInfo> out;
  for (int i = 1; i <= count; ++i)
    out.push_back(Member("tcp://10.0.0." + std::to_string(i) + ":7400"));
  return out;
}

std::shared_ptr<const Ring> At(const std::vector<std::pair<std::string, uint32_t>>& points) {
  return Ring::BuildAt(points, RingParams{});
}

std::vector<std::string> Ids(const std::vector<const std::string*>& holders) {
  std::vector<std::string> out;
  for (const std::string* h : holders) out.push_back(*h);
  return out;
}

// The protocol's owner rule written out literally over every vnode, to check
// the ring's binary search against.
std::string ReferenceOwner(const std::vector<MemberInfo>& members, uint32_t vnodes, uint32_t h) {
  bool found_below = false;
  uint32_t best = 0, top = 0;
  std::string best_id, top_id;
  for (const MemberInfo& m : members) {
    for (uint32_t i = 0; i < vnodes; ++i) {
      uint32_t p = Xxh32(m.id + "#" + std::to_string(i));
      if (p <= h && (!found_below || p > best || (p == best && m.id < best_id))) {
        found_below = true, best = p, best_id = m.id;
      }
      if (top_id.empty() || p > top || (p == top && m.id < top_id)) top = p, top_id = m.id;
    }
  }
  return found_below ? best_id : top_id;
}

// The owner rule over explicit (id, position) points, written out literally.
std::string ReferenceOwnerAt(const std::vector<std::pair<std::string, uint32_t>>& points,
                             uint32_t h) {
  bool found_below = false;
  uint32_t best = 0, top = 0;
  std::string best_id, top_id;
  for (const auto& [id, p] : points) {
    if (p <= h && (!found_below || p > best || (p == best && id < best_id))) {
      found_below = true, best = p, best_id = id;
    }
    if (top_id.empty() || p > top || (p == top && id < top_id)) top = p, top_id = id;
  }
  return found_below ? best_id : top_id;
}

}  // namespace

TEST_CASE("ring places keys at the protocol's xxh32 vectors", "[ring]") {
  // "" = 46947589, "xia" = 181303650, "user" = 2062859425, "hello" = 4211111929.
  auto ring = At({{"low", 100'000'000}, {"mid", 2'000'000'000}, {"high", 4'000'000'000}});
  CHECK(*ring->Owner("") == "high");  // below every vnode: wraps
  CHECK(*ring->Owner("xia") == "low");
  CHECK(*ring->Owner("user") == "mid");
  CHECK(*ring->Owner("hello") == "high");
  auto edges = At({{"on", 181303650}, {"above", 181303651}});
  CHECK(*edges->Owner("xia") == "on");
}

TEST_CASE("ring puts vnode 0 of a node at the hash of id#0", "[ring]") {
  // One vnode each: 7000 sits at 330272902, so it owns that position and the
  // other node owns the one just below it.
  const std::string a = "tcp://127.0.0.1:7000", b = "tcp://127.0.0.1:7001";
  const uint32_t pb = Xxh32(b + "#0");
  REQUIRE(pb != 330272902u);
  auto ring = Ring::Build({Member(a), Member(b)}, RingParams{.vnodes = 1});
  CHECK(*ring->OwnerOfPosition(330272902u) == a);
  CHECK(*ring->OwnerOfPosition(330272901u) == b);
  CHECK(*ring->OwnerOfPosition(pb) == b);
  CHECK(*ring->Owner("user") == ReferenceOwner(ring->members(), 1, Xxh32("user")));
}

TEST_CASE("ring follows the protocol's example of A at 2000 and B at 5000", "[ring]") {
  auto ring = At({{"A", 2000}, {"B", 5000}});
  CHECK(*ring->OwnerOfPosition(3333) == "A");
  CHECK(*ring->OwnerOfPosition(5000) == "B");
  CHECK(*ring->OwnerOfPosition(9999) == "B");
  CHECK(*ring->OwnerOfPosition(1000) == "B");
}

TEST_CASE("ring owner is the vnode at or below the position", "[ring]") {
  auto ring = At({{"A", 2000}, {"B", 5000}});
  CHECK(*ring->OwnerOfPosition(2000) == "A");
  CHECK(*ring->OwnerOfPosition(4999) == "A");
  CHECK(*ring->OwnerOfPosition(UINT32_MAX) == "B");
}

TEST_CASE("ring wraps below the lowest vnode", "[ring]") {
  auto ring = At({{"A", 2000}, {"B", 5000}, {"C", 7000}});
  CHECK(*ring->OwnerOfPosition(0) == "C");
  CHECK(*ring->OwnerOfPosition(1999) == "C");
  CHECK(*ring->OwnerOfPosition(2000) == "A");
}

TEST_CASE("ring breaks equal positions by the lower id", "[ring]") {
  // Input order must not matter: B is listed first.
  auto ring = At({{"B", 100}, {"A", 100}, {"C", 50}});
  CHECK(*ring->OwnerOfPosition(100) == "A");
  CHECK(*ring->OwnerOfPosition(150) == "A");
  CHECK(*ring->OwnerOfPosition(10) == "A");  // wraps to the top position
  CHECK(*ring->OwnerOfPosition(50) == "C");
  CHECK(Ids(ring->HoldersOfPosition(100, 3)) == std::vector<std::string>{"A", "B", "C"});
}

TEST_CASE("ring matches the protocol's owner rule on hashed vnodes", "[ring]") {
  auto members = Nodes(4);
  auto ring = Ring::Build(members, RingParams{.vnodes = 8});
  for (int i = 0; i < 2000; ++i) {
    std::string key = "key:" + std::to_string(i);
    REQUIRE(*ring->Owner(key) == ReferenceOwner(members, 8, Xxh32(key)));
  }
}

TEST_CASE("ring replicas are distinct, owner first, walking to lower positions", "[ring]") {
  auto ring = At({{"A", 4000}, {"A", 3000}, {"B", 2000}, {"C", 1000}, {"D", 500}});
  // From A at 4000 the walk skips A's second vnode.
  CHECK(Ids(ring->HoldersOfPosition(4500, 3)) == std::vector<std::string>{"A", "B", "C"});
  CHECK(Ids(ring->HoldersOfPosition(2500, 3)) == std::vector<std::string>{"B", "C", "D"});
  // From D the walk wraps to the top and meets A next.
  CHECK(Ids(ring->HoldersOfPosition(600, 3)) == std::vector<std::string>{"D", "A", "B"});
  CHECK(Ids(ring->HoldersOfPosition(100, 2)) == std::vector<std::string>{"A", "B"});
}

TEST_CASE("ring gives at most one holder per node on it", "[ring]") {
  auto ring = At({{"A", 4000}, {"A", 3000}, {"B", 2000}});
  CHECK(Ids(ring->HoldersOfPosition(4500, 5)) == std::vector<std::string>{"A", "B"});
  CHECK(ring->HoldersOfPosition(4500, 0).empty());
}

TEST_CASE("ring holders of a key use the replicas setting and start at the owner", "[ring]") {
  auto ring = Ring::Build(Nodes(5), RingParams{.vnodes = 16, .replicas = 3});
  for (int i = 0; i < 200; ++i) {
    std::string key = "k" + std::to_string(i);
    auto holders = ring->Holders(key);
    REQUIRE(holders.size() == 3);
    CHECK(holders[0] == ring->Owner(key));
    CHECK(holders == ring->HoldersOfPosition(Xxh32(key), 3));
    std::vector<const std::string*> sorted = holders;
    std::sort(sorted.begin(), sorted.end());
    CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  }
}

TEST_CASE("ring keeps dead and left members listed but off the ring", "[ring]") {
  auto ring = Ring::Build({Member("d", NodeState::kDead), Member("b", NodeState::kSuspect),
                           Member("c", NodeState::kLeft), Member("a")},
                          RingParams{.vnodes = 32, .epoch = 7});
  CHECK(ring->nodes_on_ring() == 2);
  CHECK(ring->epoch() == 7);
  REQUIRE(ring->members().size() == 4);
  std::vector<std::string> listed;
  for (const auto& m : ring->members()) listed.push_back(m.id);
  CHECK(listed == std::vector<std::string>{"a", "b", "c", "d"});
  REQUIRE(ring->Find("c") != nullptr);
  CHECK(ring->Find("c")->state == NodeState::kLeft);
  CHECK(ring->Find("e") == nullptr);
  for (int i = 0; i < 500; ++i) {
    const std::string& owner = *ring->Owner("key" + std::to_string(i));
    REQUIRE((owner == "a" || owner == "b"));
  }
  CHECK(ring->Holders("x", 4).size() == 2);
}

TEST_CASE("ring keeps the first of duplicate ids", "[ring]") {
  auto ring = Ring::Build({Member("a", NodeState::kDead), Member("a"), Member("b")},
                          RingParams{.vnodes = 4});
  CHECK(ring->members().size() == 2);
  CHECK(ring->Find("a")->state == NodeState::kDead);
  CHECK(ring->nodes_on_ring() == 1);
  CHECK(*ring->Owner("anything") == "b");
}

TEST_CASE("ring with no node on it has no owner", "[ring]") {
  auto empty = Ring::Build({}, RingParams{});
  CHECK(empty->Owner("k") == nullptr);
  CHECK(empty->OwnerOfPosition(0) == nullptr);
  CHECK(empty->Holders("k", 3).empty());
  CHECK(empty->members().empty());
  auto all_dead = Ring::Build({Member("a", NodeState::kDead)}, RingParams{});
  CHECK(all_dead->Owner("k") == nullptr);
  CHECK(all_dead->members().size() == 1);
}

TEST_CASE("ring spreads a million keys within 15% of the mean", "[ring]") {
  auto ring = Ring::Build(Nodes(10), RingParams{.vnodes = 160});
  std::map<const std::string*, int> load;
  const int keys = 1'000'000;
  for (int i = 0; i < keys; ++i) ++load[ring->Owner("key:" + std::to_string(i))];
  REQUIRE(load.size() == 10);
  int busiest = 0;
  for (const auto& [node, n] : load) busiest = std::max(busiest, n);
  CHECK(busiest <= 1.15 * keys / 10);
}

TEST_CASE("ring moves about a share of keys, all to the node added", "[ring]") {
  auto members = Nodes(11);
  const std::string added = members.back().id;
  auto after = Ring::Build(members, RingParams{.vnodes = 160});
  members.pop_back();
  auto before = Ring::Build(members, RingParams{.vnodes = 160});
  const int keys = 1'000'000;
  int moved = 0, moved_elsewhere = 0;
  for (int i = 0; i < keys; ++i) {
    std::string key = "key:" + std::to_string(i);
    const std::string& was = *before->Owner(key);
    const std::string& now = *after->Owner(key);
    if (was == now) continue;
    ++moved;
    if (now != added) ++moved_elsewhere;
  }
  CHECK(moved_elsewhere == 0);
  const double share = static_cast<double>(moved) / keys;
  CHECK(share >= 0.06);
  CHECK(share <= 0.13);
}

TEST_CASE("shares are the arcs each node owns, and add up to 1", "[ring][shares]") {
  constexpr double kAll = 4294967296.0;
  auto two = Ring::BuildAt({{"a", 1000}, {"b", 3000}}, RingParams{});
  auto shares = two->Shares();
  REQUIRE(shares.size() == 2);
  CHECK(shares[0].first == "a");
  CHECK(shares[0].second == Approx(2000 / kAll));
  CHECK(shares[1].first == "b");
  CHECK(shares[1].second == Approx((kAll - 2000) / kAll));  // past 3000, and wrapped below 1000

  // Equal positions: the lower id owns the arc.
  auto tied = Ring::BuildAt({{"b", 5}, {"a", 5}, {"c", 10}}, RingParams{});
  shares = tied->Shares();
  REQUIRE(shares.size() == 3);
  CHECK(shares[0].second == Approx(5 / kAll));
  CHECK(shares[1].second == 0.0);
  CHECK(shares[2].second == Approx((kAll - 5) / kAll));

  CHECK(Ring::BuildAt({}, RingParams{})->Shares().empty());
}

TEST_CASE("shares match where sampled keys land", "[ring][shares]") {
  std::vector<MemberInfo> members;
  for (int i = 0; i < 5; ++i) {
    MemberInfo m;
    m.id = "tcp://127.0.0.1:" + std::to_string(7000 + i);
    m.service = m.id;
    m.state = i == 4 ? NodeState::kDead : NodeState::kAlive;
    members.push_back(m);
  }
  auto ring = Ring::Build(members, RingParams{16, 1, 1});
  const auto shares = ring->Shares();
  REQUIRE(shares.size() == 4);  // the dead node owns nothing and is not listed
  double total = 0;
  std::map<std::string, int> landed;
  constexpr int kKeys = 200000;
  for (int k = 0; k < kKeys; ++k) ++landed[*ring->Owner("key" + std::to_string(k))];
  for (const auto& [id, share] : shares) {
    total += share;
    CHECK(static_cast<double>(landed[id]) / kKeys == Approx(share).margin(0.01));
  }
  CHECK(total == Approx(1.0));
}

TEST_CASE("ring finds the owner at bucket edges, in crowded buckets and in empty ones", "[ring]") {
  // Points at the ends of the ring, at and around bucket boundaries of every
  // size, crowded into one stretch, and spread thinly: each lookup searches
  // one bucket only, so every position near an edge is checked against the
  // rule written out over all points.
  std::vector<std::pair<std::string, uint32_t>> points = {
      {"a", 0}, {"b", UINT32_MAX}, {"c", 0x80000000u}, {"d", 0x7fffffffu}, {"e", 0x80000001u}};
  for (uint32_t i = 0; i < 40; ++i)
    points.emplace_back("f" + std::to_string(i % 7), 0x40000000u + i);
  for (uint32_t i = 0; i < 16; ++i) points.emplace_back("g" + std::to_string(i), i << 28);
  points.emplace_back("h", 0x40000000u);  // a tie with f0's position: the lower id wins
  for (size_t n : {size_t{1}, size_t{2}, size_t{3}, points.size()}) {
    const std::vector<std::pair<std::string, uint32_t>> some(points.begin(), points.begin() + n);
    auto ring = At(some);
    std::vector<uint32_t> probes = {0, 1, UINT32_MAX, UINT32_MAX - 1};
    for (const auto& [id, p] : some) {
      for (int64_t d = -2; d <= 2; ++d) probes.push_back(static_cast<uint32_t>(p + d));
    }
    for (unsigned bits = 1; bits <= 16; ++bits) {
      for (uint64_t edge = 0; edge < (uint64_t{1} << 32); edge += uint64_t{1} << (32 - bits)) {
        probes.push_back(static_cast<uint32_t>(edge));
        probes.push_back(static_cast<uint32_t>(edge - 1));
        if (bits > 6) break;  // the first edges of fine buckets; all of coarse ones
      }
    }
    for (uint32_t h : probes) {
      INFO("points " << n << ", position " << h);
      REQUIRE(*ring->OwnerOfPosition(h) == ReferenceOwnerAt(some, h));
    }
  }
}

TEST_CASE("ring matches the owner rule across ring sizes", "[ring]") {
  // From one node to thousands of points (past the largest bucket table
  // only with many vnodes: 70 x 1000 points), at hashed and random positions.
  uint64_t x = 0x9E3779B97F4A7C15ull;
  auto next = [&x] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return static_cast<uint32_t>(x);
  };
  for (auto [nodes, vnodes] : {std::pair{1, 1}, {1, 160}, {3, 160}, {70, 1000}}) {
    std::vector<std::pair<std::string, uint32_t>> points;
    for (int n = 0; n < nodes; ++n) {
      for (int v = 0; v < vnodes; ++v) points.emplace_back("n" + std::to_string(n), next());
    }
    auto ring = At(points);
    for (int i = 0; i < 300; ++i) {
      const uint32_t h = i % 3 == 0 ? points[next() % points.size()].second + i % 2 : next();
      INFO(nodes << " nodes x " << vnodes << ", position " << h);
      REQUIRE(*ring->OwnerOfPosition(h) == ReferenceOwnerAt(points, h));
    }
  }
}
