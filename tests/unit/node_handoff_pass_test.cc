// HandOff alone: passes over a Store between two Rings built by Ring::Build,
// on a manual clock.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "node/handoff.h"

using namespace meshcache;
using node::HandOff;
using protocol::HandoffEntry;

namespace {

std::vector<std::pair<std::string, uint64_t>> NoDeletes() { return {}; }

const std::string kS = "s";  // self

MemberInfo Node(const std::string& id, NodeState state = NodeState::kAlive) {
  return {id, id, id + "/gossip", state, 1};
}

std::shared_ptr<const Ring> RingOf(std::vector<MemberInfo> members, uint32_t replicas) {
  return Ring::Build(std::move(members), {.vnodes = 64, .replicas = replicas});
}

std::vector<std::string> HoldersOf(const Ring& ring, const std::string& key) {
  std::vector<std::string> out;
  for (const std::string* id : ring.Holders(key)) out.push_back(*id);
  return out;
}

bool Has(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

using ByHolder = std::map<std::string, std::set<std::string>>;  // holder -> keys

struct Walk {
  ByHolder sent;
  std::set<std::string> dropped;
  std::vector<std::pair<std::string, std::vector<HandoffEntry>>> batches;
};

void Add(Walk& w, HandOff::Step step) {
  for (auto& [holder, entries] : step.batches) {
    for (const HandoffEntry& e : entries) CHECK(w.sent[holder].insert(e.key).second);
    w.batches.emplace_back(holder, std::move(entries));
  }
  for (const std::string& key : step.drop) CHECK(w.dropped.insert(key).second);
}

// What a pass from `before` to `after` should send and drop.
Walk Expected(const Ring& before, const Ring& after, const std::vector<std::string>& keys) {
  Walk w;
  for (const std::string& key : keys) {
    const std::vector<std::string> was = HoldersOf(before, key), is = HoldersOf(after, key);
    for (const std::string& h : is) {
      if (h != kS && !Has(was, h)) w.sent[h].insert(key);
    }
    if (!Has(is, kS)) w.dropped.insert(key);
  }
  return w;
}

struct Fixture {
  explicit Fixture(size_t n, size_t value_bytes = 8) {
    for (size_t i = 0; i < n; ++i) {
      std::string key = "k" + std::to_string(i);
      std::string value(value_bytes, static_cast<char>('a' + i % 26));
      REQUIRE(store.Set(key, value, i % 3 == 0 ? 5000 : 0, 100 + i));
      keys.push_back(key);
    }
  }
  // Steps until the pass is done.
  Walk Finish(HandOff& ho, size_t per_step = 1000) {
    Walk w;
    for (int i = 0; i < 1000 && ho.active(); ++i) Add(w, ho.Next(store, per_step, NoDeletes));
    REQUIRE_FALSE(ho.active());
    return w;
  }

  ManualClock clock{0};
  Store store{StoreOptions{}, &clock};
  std::vector<std::string> keys;
};

}  // namespace

TEST_CASE("hand-off sends only entries whose holders gained someone, to exactly those",
          "[node][handoff]") {
  Fixture f(300);
  f.clock.Advance(1000);
  auto before = RingOf({Node(kS), Node("a"), Node("b")}, 2);
  auto after = RingOf({Node(kS), Node("a"), Node("b"), Node("c")}, 2);
  HandOff ho(kS, 1000, 1u << 20);
  ho.OnRing(before);
  CHECK_FALSE(ho.active());  // the first ring is only the starting point
  ho.OnRing(after);
  REQUIRE(ho.active());
  const Walk got = f.Finish(ho);
  const Walk want = Expected(*before, *after, f.keys);
  size_t moved = 0;
  for (const auto& [holder, keys] : want.sent) moved += keys.size();
  REQUIRE(moved > 0);
  REQUIRE(moved < f.keys.size());  // some keys keep their holders
  CHECK(got.sent == want.sent);
  CHECK(got.sent.count(kS) == 0);
  CHECK(got.dropped == want.dropped);
  CHECK(ho.stats().passes == 1);
  CHECK(ho.stats().entries_sent == moved);
  CHECK(ho.stats().entries_dropped == want.dropped.size());
  for (const auto& [holder, entries] : got.batches) {
    for (const HandoffEntry& e : entries) {
      const size_t i = std::stoul(e.key.substr(1));
      CHECK(e.version == 100 + i);
      CHECK(e.ttl_left_ms == (i % 3 == 0 ? 4000u : 0u));
      CHECK(e.value == std::string(8, static_cast<char>('a' + i % 26)));
    }
  }
  CHECK(f.store.Stats().items == f.keys.size());  // dropping is the caller's
}

TEST_CASE("hand-off drops what this node no longer holds, and only that", "[node][handoff]") {
  Fixture f(200);
  auto alone = RingOf({Node(kS)}, 1);
  auto two = RingOf({Node(kS), Node("a")}, 1);
  HandOff ho(kS, 1000, 1u << 20);
  ho.OnRing(alone);
  ho.OnRing(two);
  const Walk got = f.Finish(ho);
  std::set<std::string> theirs;
  for (const std::string& key : f.keys) {
    if (*two->Owner(key) == "a") theirs.insert(key);
  }
  REQUIRE(!theirs.empty());
  CHECK(got.dropped == theirs);
  CHECK(got.sent == ByHolder{{"a", theirs}});
}

TEST_CASE("hand-off batches are bounded by entries and by bytes", "[node][handoff]") {
  auto alone = RingOf({Node(kS)}, 1);
  auto two = RingOf({Node(kS), Node("a")}, 1);
  size_t theirs = 0;

  SECTION("entries") {
    Fixture f(200);
    for (const std::string& key : f.keys) theirs += *two->Owner(key) == "a";
    HandOff ho(kS, 3, 1u << 20);
    ho.OnRing(alone);
    ho.OnRing(two);
    const Walk w = f.Finish(ho, 10'000);  // one step
    CHECK(w.batches.size() == (theirs + 2) / 3);
    size_t total = 0;
    for (const auto& [holder, entries] : w.batches) {
      CHECK(holder == "a");
      CHECK(!entries.empty());
      CHECK(entries.size() <= 3);
      total += entries.size();
    }
    CHECK(total == theirs);
  }
  SECTION("bytes") {
    Fixture f(200, /*value_bytes=*/10);
    for (const std::string& key : f.keys) theirs += *two->Owner(key) == "a";
    constexpr size_t kMax = 40;
    HandOff ho(kS, 1000, kMax);
    ho.OnRing(alone);
    ho.OnRing(two);
    const Walk w = f.Finish(ho, 10'000);
    REQUIRE(w.batches.size() > 1);
    size_t total = 0;
    for (size_t b = 0; b < w.batches.size(); ++b) {
      const auto& entries = w.batches[b].second;
      size_t bytes = 0;
      for (size_t i = 0; i < entries.size(); ++i) {
        CHECK(bytes < kMax);  // a batch closes once its bytes reach the bound
        bytes += entries[i].key.size() + entries[i].value.size();
      }
      if (b + 1 < w.batches.size()) CHECK(bytes >= kMax);  // and not before
      total += entries.size();
    }
    CHECK(total == theirs);
  }
  SECTION("a value larger than the bound goes alone") {
    Fixture f(50, /*value_bytes=*/100);
    for (const std::string& key : f.keys) theirs += *two->Owner(key) == "a";
    HandOff ho(kS, 1000, 64);
    ho.OnRing(alone);
    ho.OnRing(two);
    const Walk w = f.Finish(ho, 10'000);
    CHECK(w.batches.size() == theirs);
  }
}

TEST_CASE("a ring change during a pass restarts the walk against the older ring",
          "[node][handoff]") {
  Fixture f(300);
  auto r1 = RingOf({Node(kS)}, 1);
  auto r2 = RingOf({Node(kS), Node("a")}, 1);
  auto r3 = RingOf({Node(kS), Node("a"), Node("b")}, 1);
  HandOff ho(kS, 1000, 1u << 20);
  ho.OnRing(r1);
  ho.OnRing(r2);
  Walk early;
  Add(early, ho.Next(f.store, 20, NoDeletes));  // part of the store, against r1 -> r2
  REQUIRE(ho.active());
  REQUIRE(!early.sent.empty());
  ho.OnRing(r3);
  REQUIRE(ho.active());
  const Walk got = f.Finish(ho);
  const Walk want = Expected(*r1, *r3, f.keys);
  CHECK(got.sent == want.sent);  // what the early part saw is seen again
  CHECK(got.dropped == want.dropped);
  CHECK(ho.stats().passes == 1);

  SECTION("the next pass starts from the ring the pass finished with") {
    auto r4 = RingOf({Node(kS), Node("a"), Node("b"), Node("c")}, 1);
    ho.OnRing(r4);
    CHECK(f.Finish(ho).sent == Expected(*r3, *r4, f.keys).sent);
  }
}

TEST_CASE("hand-off starts no pass when a node only turns suspect or alive again",
          "[node][handoff]") {
  Fixture f(100);
  auto alive = RingOf({Node(kS), Node("a"), Node("b")}, 2);
  auto suspect = RingOf({Node(kS), Node("a", NodeState::kSuspect), Node("b")}, 2);
  auto again = RingOf({Node(kS), Node("a"), Node("b")}, 2);
  HandOff ho(kS, 1000, 1u << 20);
  ho.OnRing(alive);
  ho.OnRing(suspect);
  CHECK_FALSE(ho.active());
  HandOff::Step step = ho.Next(f.store, 1000, NoDeletes);
  CHECK(step.batches.empty());
  CHECK(step.drop.empty());
  ho.OnRing(again);
  CHECK_FALSE(ho.active());
  CHECK(ho.stats().passes == 0);

  SECTION("a node that dies does start one") {
    auto dead = RingOf({Node(kS), Node("a", NodeState::kDead), Node("b")}, 2);
    ho.OnRing(dead);
    CHECK(ho.active());
    const Walk got = f.Finish(ho);
    CHECK(got.sent == Expected(*again, *dead, f.keys).sent);
    CHECK(ho.stats().passes == 1);
  }
}
