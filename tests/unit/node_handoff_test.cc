// node::Service when the ring changes: hand-off batches to the holders a key
// gained, the entries this node drops, a leaving node handing everything on,
// and the hot copies that end with the ring (the harness: node_harness.h).
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "node_harness.h"
#include "util/hlc.h"

using namespace meshcache;
using namespace meshcache::testing;

namespace {

using protocol::HandoffEntry;
using protocol::ReplyStatus;

struct Written {
  std::string value;
  uint64_t version = 0;
  uint64_t ttl_ms = 0;
  uint32_t flags = 0;  // a memcached client's flags, on every third key
};

// Sets n keys at self, with a ttl on every other one and client flags on
// every third, and returns what each
// got, its version as the node's HybridClock stamps it (same clock, same
// order, nothing else stamped meanwhile).
std::map<std::string, Written> Fill(Harness& h, const std::vector<std::string>& keys) {
  HybridClock stamps(&h.clock);
  std::map<std::string, Written> out;
  for (size_t i = 0; i < keys.size(); ++i) {
    Written w{"v-" + keys[i], 0, i % 2 == 0 ? 10'000u : 0u, i % 3 == 0 ? 0xF00u + uint32_t(i) : 0u};
    h.Send("w", {.op = Op::kSet,
                 .keys = {keys[i]},
                 .value = w.value,
                 .ttl_ms = w.ttl_ms,
                 .flags = w.flags});
    REQUIRE(h.Last("w", Op::kSet).status == ReplyStatus::kOk);
    w.version = stamps.Now();
    out[keys[i]] = w;
  }
  return out;
}

std::vector<std::string> Keys(size_t n) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < n; ++i) keys.push_back("k" + std::to_string(i));
  return keys;
}

// Runs a few timer rounds at the current time (each steps the hand-off).
void Rounds(Harness& h) {
  for (int i = 0; i < 4; ++i) h.At(h.clock.NowMs());
}

// Every entry handed to peer, by key; each key at most once.
std::map<std::string, HandoffEntry> HandedTo(const Harness& h, const std::string& peer) {
  std::map<std::string, HandoffEntry> out;
  for (const Sent& s : h.HandoffsTo(peer)) {
    CHECK(s.request.from == kSelf);
    for (const HandoffEntry& e : s.request.entries) CHECK(out.emplace(e.key, e).second);
  }
  return out;
}

// peer acknowledges every hand-off batch sent to it.
void Acknowledge(Harness& h, const std::string& peer) {
  for (const Sent& s : h.HandoffsTo(peer)) h.Answer(protocol::EncodeOk(s.id));
}

std::vector<std::string> HoldersOf(const Harness& h, const std::string& key) {
  std::vector<std::string> out;
  for (const std::string* id : h.service.gossiper().ring()->Holders(key)) out.push_back(*id);
  return out;
}

bool Has(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// The first of k0, k1, ... that fits.
std::string KeyWhere(const std::function<bool(const std::string&)>& fits) {
  for (int i = 0; i < 100'000; ++i) {
    std::string key = "k" + std::to_string(i);
    if (fits(key)) return key;
  }
  FAIL("no such key");
  return {};
}

}  // namespace

// ---- a peer joins ---------------------------------------------------------------------

TEST_CASE("a joining peer is handed the entries it now owns, with versions, ttls and flags",
          "[node][handoff]") {
  Harness h;
  const std::map<std::string, Written> written = Fill(h, Keys(200));
  h.clock.Advance(1000);
  h.Heartbeat(kA);
  CHECK(h.service.HandingOff());
  Rounds(h);
  std::set<std::string> moved;
  for (const auto& [key, w] : written) {
    if (HoldersOf(h, key)[0] == kA) moved.insert(key);
  }
  REQUIRE(!moved.empty());
  REQUIRE(moved.size() < written.size());
  const std::map<std::string, HandoffEntry> handed = HandedTo(h, kA);
  std::set<std::string> handed_keys;
  for (const auto& [key, e] : handed) {
    handed_keys.insert(key);
    const Written& w = written.at(key);
    CHECK(e.value == w.value);
    CHECK(e.version == w.version);
    CHECK(e.ttl_left_ms == (w.ttl_ms ? w.ttl_ms - 1000 : 0));
    CHECK(e.flags == w.flags);
  }
  CHECK(handed_keys == moved);  // the keys whose holders did not change stay here, unsent
  // What was handed on stays, and answers, until kA has it.
  CHECK(h.Stat("items") == static_cast<int64_t>(written.size()));
  Acknowledge(h, kA);
  CHECK(h.Stat("items") == static_cast<int64_t>(written.size() - moved.size()));
  CHECK(h.Stat("handoff_sent") == static_cast<int64_t>(moved.size()));
  CHECK(h.Stat("handoff_dropped") == static_cast<int64_t>(moved.size()));
  CHECK(h.Stat("handoff_passes") == 1);

  const std::string gone = *moved.begin();
  h.PastWarmUp({kA});                          // a miss now is not a peek at kA
  CHECK(HeldAt(h, kA, gone) == std::nullopt);  // dropped from this store
  const int64_t hits = h.Stat("hits");
  h.Get("c", gone);
  CHECK(IsGetOf(h.LastSent(kA), gone));
  CHECK(h.RepliesTo("c") == 0);
  CHECK(h.Stat("hits") == hits);
  for (const auto& [key, w] : written) {
    if (moved.count(key)) continue;
    CHECK(HeldAt(h, kA, key) == w.value);  // kept
    break;
  }
}

TEST_CASE("with two replicas a joining peer gets every entry and this node keeps them",
          "[node][handoff]") {
  Harness h(Options(2));
  const std::map<std::string, Written> written = Fill(h, Keys(100));
  h.Heartbeat(kA);
  Rounds(h);
  CHECK(HandedTo(h, kA).size() == written.size());  // every key gained kA
  CHECK(h.Stat("items") == static_cast<int64_t>(written.size()));
  CHECK(h.Stat("handoff_dropped") == 0);
  const size_t to_a = h.HandoffsTo(kA).size();

  SECTION("a second peer gets only what it gained; what moved off this node is dropped") {
    h.Heartbeat(kB);
    Rounds(h);
    std::set<std::string> to_b, kept, unchanged;
    for (const auto& [key, w] : written) {
      const std::vector<std::string> after = HoldersOf(h, key);
      if (Has(after, kB)) to_b.insert(key);
      if (Has(after, kSelf)) kept.insert(key);
      if (!Has(after, kB)) unchanged.insert(key);
    }
    REQUIRE(!to_b.empty());
    REQUIRE(!unchanged.empty());
    REQUIRE(kept.size() < written.size());
    std::set<std::string> handed_b;
    for (const auto& [key, e] : HandedTo(h, kB)) handed_b.insert(key);
    CHECK(handed_b == to_b);
    CHECK(h.HandoffsTo(kA).size() == to_a);  // kA gained nothing
    Acknowledge(h, kB);
    CHECK(h.Stat("items") == static_cast<int64_t>(kept.size()));
    h.PastWarmUp({kA, kB});
    for (const auto& [key, w] : written) {
      INFO(key);
      CHECK(HeldAt(h, kB, key) == (kept.count(key) ? std::optional(w.value) : std::nullopt));
    }
  }
}

// ---- leaving ----------------------------------------------------------------------------

TEST_CASE("a leaving node hands every entry on and hands off until the batches are answered",
          "[node][handoff]") {
  Harness h;
  h.Join({kA});
  Rounds(h);  // the join's pass, over an empty store
  REQUIRE_FALSE(h.service.HandingOff());
  std::vector<std::string> mine;
  for (int i = 0; mine.size() < 300; ++i) {
    std::string key = "k" + std::to_string(i);
    if (HoldersOf(h, key)[0] == kSelf) mine.push_back(key);
  }
  const std::map<std::string, Written> written = Fill(h, mine);
  REQUIRE(h.peers.sent.empty());
  CHECK_FALSE(h.service.HandingOff());

  h.service.Leave();
  CHECK(h.service.HandingOff());
  CHECK(*h.service.gossiper().ring()->Owner(mine[0]) == kA);  // off its own ring
  h.At(h.clock.NowMs());
  const std::vector<Sent> batches = h.HandoffsTo(kA);
  REQUIRE(batches.size() == 2);  // at most 256 entries a batch
  CHECK(batches[0].request.entries.size() + batches[1].request.entries.size() == mine.size());
  for (const Sent& b : batches) CHECK(b.request.entries.size() <= 256);
  const std::map<std::string, HandoffEntry> handed = HandedTo(h, kA);
  CHECK(handed.size() == mine.size());
  for (const auto& [key, w] : written) {
    INFO(key);
    REQUIRE(handed.count(key) == 1);
    CHECK(handed.at(key).version == w.version);
  }
  CHECK(h.Stat("items") == static_cast<int64_t>(mine.size()));  // kept until kA has them
  CHECK(h.service.HandingOff());                                // the batches are not answered yet

  SECTION("answered") {
    h.Answer(protocol::EncodeOk(batches[1].id));
    CHECK(h.service.HandingOff());
    CHECK(h.Stat("items") == static_cast<int64_t>(batches[0].request.entries.size()));
    h.Answer(protocol::EncodeOk(batches[0].id));
    CHECK_FALSE(h.service.HandingOff());
    CHECK(h.Stat("items") == 0);
  }
  SECTION("not answered: sent again, and given up after four tries") {
    h.At(h.clock.NowMs() + h.options.forward_timeout_ms - 1);
    CHECK(h.service.HandingOff());
    h.PastForwardTimeout();
    CHECK(h.service.HandingOff());  // the link may be back in a moment, as after a heal
    const std::vector<Sent> all = h.HandoffsTo(kA);
    REQUIRE(all.size() == 4);
    const std::vector<Sent> again(all.begin() + 2, all.end());
    CHECK(again[0].request.entries.size() + again[1].request.entries.size() == mine.size());
    for (const Sent& b : again) {
      for (const HandoffEntry& e : b.request.entries) CHECK(e.version == written.at(e.key).version);
    }
    CHECK(h.Stat("items") == static_cast<int64_t>(mine.size()));

    SECTION("answered the second time") {
      for (const Sent& b : again) h.Answer(protocol::EncodeOk(b.id));
      CHECK_FALSE(h.service.HandingOff());
      CHECK(h.Stat("items") == 0);
    }
    SECTION("never answered") {
      for (int i = 0; i < 3; ++i) h.PastForwardTimeout();
      CHECK(h.HandoffsTo(kA).size() == 8);
      CHECK_FALSE(h.service.HandingOff());
      CHECK(h.Stat("items") == 0);  // a cache may lose what its new holder never got
    }
  }
}

TEST_CASE("a pass keeps what an earlier pass's unanswered batch gave away", "[node][handoff]") {
  // kA comes back, then kB a moment later (a partition heals node by node):
  // the second pass finds kA's keys with the same holder as before and would
  // drop them, although the first pass's batch has not reached kA yet.
  Harness h;
  const std::map<std::string, Written> written = Fill(h, Keys(100));
  h.Heartbeat(kA);
  Rounds(h);
  const size_t first = h.HandoffsTo(kA).size();
  REQUIRE(first >= 1);
  h.Heartbeat(kB);
  Rounds(h);
  std::set<std::string> stays;  // kA's after both changes
  for (const auto& [key, w] : written) {
    if (HoldersOf(h, key)[0] == kA) stays.insert(key);
  }
  REQUIRE(!stays.empty());
  for (const std::string& key : stays) CHECK(HeldAt(h, kB, key) == written.at(key).value);
  h.PastForwardTimeout();  // the first pass's batch was lost: sent again
  std::set<std::string> again;
  const std::vector<Sent> to_a = h.HandoffsTo(kA);
  for (size_t i = first; i < to_a.size(); ++i) {
    for (const HandoffEntry& e : to_a[i].request.entries) again.insert(e.key);
  }
  for (const std::string& key : stays) CHECK(again.count(key) == 1);
}

// ---- entries for keys this node does not hold -----------------------------------------

TEST_CASE("an entry handed here for a key another node holds goes on to that node",
          "[node][handoff]") {
  // The sender's ring and this node's differ for a moment (a partition
  // heals, and the members come back one by one): what it sends here for
  // kB's key would stay where no get looks.
  Harness h;
  h.Join({kA, kB});
  Rounds(h);  // the join's pass, over an empty store
  const std::string theirs =
      KeyWhere([&](const std::string& k) { return HoldersOf(h, k)[0] == kB; });
  const std::string mine =
      KeyWhere([&](const std::string& k) { return HoldersOf(h, k)[0] == kSelf; });
  const size_t before = h.HandoffsTo(kB).size();
  h.Handoff(kA, {{theirs, "newest", 0, 777}, {mine, "kept", 0, 778}});
  CHECK(h.Last(kA, Op::kHandoff).status == ReplyStatus::kOk);
  const std::vector<Sent> to_b = h.HandoffsTo(kB);
  REQUIRE(to_b.size() == before + 1);
  const Sent& on = to_b.back();
  REQUIRE(on.request.entries.size() == 1);
  CHECK(on.request.entries[0] == HandoffEntry{theirs, "newest", 0, 777});
  CHECK(h.Stat("items") == 2);  // kept, and answering peeks, until kB has it
  h.Handoff(kA, {{theirs, "newest", 0, 777}, {theirs, "older", 0, 700}});
  CHECK(h.HandoffsTo(kB).size() == before + 1);  // nothing newer came: nothing goes on
  h.Answer(protocol::EncodeOk(on.id));
  CHECK(h.Stat("items") == 1);
  CHECK(HeldAt(h, kA, mine) == "kept");

  SECTION("a delete goes on too") {
    h.Handoff(kA, {{theirs, {}, 0, 900, /*deleted=*/true}});
    REQUIRE(h.HandoffsTo(kB).size() == before + 2);
    CHECK(h.HandoffsTo(kB).back().request.entries ==
          std::vector<HandoffEntry>{{theirs, {}, 0, 900, true}});
    h.PastForwardTimeout();  // and again when it is not acknowledged
    REQUIRE(h.HandoffsTo(kB).size() == before + 3);
    CHECK(h.HandoffsTo(kB).back().request.entries ==
          std::vector<HandoffEntry>{{theirs, {}, 0, 900, true}});
  }
}

// ---- hot copies ------------------------------------------------------------------------------

TEST_CASE("a peer joining drops every hot copy", "[node][handoff][hot]") {
  Harness h;
  h.Join({kA});
  auto three = Ring::Build({Member(kSelf), Member(kA), Member(kB)}, {.vnodes = h.options.vnodes});
  const auto& ring = h.service.gossiper().ring();
  const std::string key = KeyWhere([&](const std::string& k) {  // kA's before and after
    return *ring->Owner(k) == kA && *three->Owner(k) == kA;
  });
  h.Get("c1", key);
  h.AnswerValue(h.LastSent(kA), "v");
  h.Get("c2", key);
  REQUIRE(h.ValueOf("c2") == "v");
  REQUIRE(h.peers.SentTo(kA).size() == 1);
  REQUIRE(h.Stat("hot_items") == 1);
  h.Heartbeat(kB);
  REQUIRE(*h.service.gossiper().ring()->Owner(key) == kA);
  CHECK(h.Stat("hot_items") == 0);
  CHECK(h.Stat("hot_invalidations") == 1);
  h.Get("c3", key);
  CHECK(h.peers.SentTo(kA).size() == 2);
  CHECK(IsGetOf(h.LastSent(kA), key));
  CHECK(h.RepliesTo("c3") == 0);
  CHECK(h.Stat("hot_hits") == 1);
}

TEST_CASE("a hot copy is not served once its owner has been silent for suspect_ms",
          "[node][handoff][hot]") {
  NodeOptions o = Options();
  o.heartbeat_ms = 100;
  o.suspect_ms = 300;
  o.dead_ms = 100'000;
  Harness h(o);
  h.Join({kA});  // kA heard now
  const std::string key = h.KeyOwnedBy(kA);
  h.Get("c", key);
  h.AnswerValue(h.LastSent(kA), "v");
  // The clock moves without timers: the ring stays as it is.
  SECTION("silent") {
    h.clock.Advance(299);
    h.Get("c", key);
    CHECK(h.peers.SentTo(kA).size() == 1);  // served from the hot copy
    h.clock.Advance(1);
    h.Get("c", key);
    CHECK(h.peers.SentTo(kA).size() == 2);
    CHECK(IsGetOf(h.LastSent(kA), key));
    CHECK(h.Stat("hot_hits") == 1);
  }
  SECTION("heartbeats keep it served") {
    for (int i = 0; i < 5; ++i) {
      h.clock.Advance(250);
      h.Heartbeat(kA);
    }
    h.clock.Advance(250);
    h.Get("c", key);
    CHECK(h.peers.SentTo(kA).size() == 1);
    CHECK(h.Stat("hot_hits") == 1);
  }
}

TEST_CASE("an owner's write drops the hot copy it took of the key before it owned it",
          "[node][handoff][hot]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kA);
  h.Get("c1", key);
  const Sent asked = h.LastSent(kA);
  h.Gossip({.kind = protocol::Gossip::Kind::kHeartbeat,  // kA leaves: self owns every key
            .from = kA,
            .members = {MemberInfo{kA, kA, kA + "/gossip", NodeState::kLeft, 1}}});
  REQUIRE(*h.service.gossiper().ring()->Owner(key) == kSelf);
  h.AnswerValue(asked, "old");  // kA's answer comes after the ring changed
  CHECK(h.ValueOf("c1") == "old");
  h.Set("w", key, "new");
  CHECK(h.Stat("hot_items") == 0);
  h.Get("c2", key);
  CHECK(h.ValueOf("c2") == "new");
}

TEST_CASE("a write forwarded to this node drops its hot copy of the key", "[node][handoff][hot]") {
  Harness h;
  h.Join({kA, kB});
  const std::string key = h.KeyOwnedBy(kA);
  h.Get("c", key);
  h.AnswerValue(h.LastSent(kA), "old");
  h.Get("c", key);
  REQUIRE(h.peers.SentTo(kA).size() == 1);  // hot
  // kB's ring names this node the owner (it holds kA dead, say).
  h.Forwarded(kB, {.op = Op::kSet, .keys = {key}, .value = "new"}, /*replica=*/false);
  REQUIRE(h.Last(kB, Op::kSet).status == ReplyStatus::kOk);
  CHECK(h.Stat("hot_items") == 0);
  REQUIRE(h.HandoffsTo(kA).size() == 1);  // relayed to kA, which this node's ring names
  CHECK(h.HandoffsTo(kA)[0].request.relayed);
  CHECK(h.HandoffsTo(kA)[0].request.entries[0].value == "new");
  h.Get("c", key);
  CHECK(IsGetOf(h.LastSent(kA), key));  // not the old copy
  CHECK(h.Stat("hot_hits") == 1);
}

TEST_CASE("a pass hands the deletes this node remembers to the holders the keys gained",
          "[node][handoff]") {
  Harness h;
  const std::vector<std::string> keys = Keys(60);
  (void)Fill(h, keys);
  for (const std::string& key : keys) h.Del("w", key);  // self alone: it owns every key
  h.Heartbeat(kA);
  Rounds(h);
  std::set<std::string> deleted_to_a, gained;
  for (const Sent& s : h.HandoffsTo(kA)) {
    for (const HandoffEntry& e : s.request.entries) {
      if (e.deleted) deleted_to_a.insert(e.key);
    }
  }
  for (const std::string& key : keys) {
    if (HoldersOf(h, key)[0] == kA) gained.insert(key);
  }
  REQUIRE(!gained.empty());
  CHECK(deleted_to_a == gained);
}

TEST_CASE("an entry written again while its hand-off is out is handed on again, not dropped",
          "[node][handoff]") {
  Harness h;
  const std::map<std::string, Written> written = Fill(h, Keys(50));
  h.Heartbeat(kA);
  Rounds(h);
  std::string moved;
  int64_t mine = 0;
  for (const auto& [key, w] : written) {
    if (HoldersOf(h, key)[0] == kA) moved = key;
    mine += HoldersOf(h, key)[0] == kSelf;
  }
  REQUIRE(!moved.empty());
  const size_t batches = h.HandoffsTo(kA).size();
  // A write served here whatever the ring says (a forwarded one) lands after
  // the scan; it is relayed to kA at once.
  h.Forwarded(kA, {.op = Op::kSet, .keys = {moved}, .value = "again"}, /*replica=*/false);
  const std::vector<Sent> after = h.HandoffsTo(kA);
  REQUIRE(after.size() == batches + 1);
  const Sent relay = after.back();
  CHECK(relay.request.relayed);
  REQUIRE(relay.request.entries.size() == 1);
  CHECK(relay.request.entries[0].key == moved);
  CHECK(relay.request.entries[0].value == "again");
  for (size_t i = 0; i < batches; ++i) h.Answer(protocol::EncodeOk(after[i].id));
  CHECK(h.Stat("items") == mine + 1);  // kept until kA has the newer one
  h.Answer(protocol::EncodeOk(relay.id));
  CHECK(h.Stat("items") == mine);
}

TEST_CASE("an entry relayed here is kept and not relayed again", "[node][handoff]") {
  // Rings that stay apart (say a node built with other ring settings) would
  // otherwise bounce the entry between two nodes for ever.
  Harness h;
  h.Join({kA});
  Rounds(h);
  const std::string theirs =
      KeyWhere([&](const std::string& k) { return HoldersOf(h, k)[0] == kA; });
  h.Send(kA, {.op = Op::kHandoff, .from = kA, .entries = {{theirs, "v", 0, 5}}, .relayed = true});
  CHECK(h.Last(kA, Op::kHandoff).status == ReplyStatus::kOk);
  CHECK(h.HandoffsTo(kA).empty());
  CHECK(HeldAt(h, kA, theirs) == "v");
}
