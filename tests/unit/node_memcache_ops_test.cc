// node::Service's memcached-semantics ops (gets, setx, incr, touch): what the
// owner answers and stores, what non-owners forward, what replicas keep (the
// harness: node_harness.h).
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "node_harness.h"

using namespace meshcache;
using namespace meshcache::testing;
using protocol::ReplyStatus;
using protocol::ValueMeta;
using protocol::WriteMode;
using protocol::WriteOutcome;

namespace {

using Entries = std::vector<std::optional<ValueMeta>>;

protocol::Request Setx(const std::string& key, const std::string& value, WriteMode mode,
                       uint64_t cas = 0, uint32_t flags = 0,
                       std::optional<uint64_t> ttl_ms = std::nullopt) {
  return {.op = Op::kSetx,
          .keys = {key},
          .value = value,
          .ttl_ms = ttl_ms,
          .flags = flags,
          .mode = mode,
          .cas = cas};
}

protocol::Request Incr(const std::string& key, uint64_t delta, bool decr = false,
                       std::optional<uint64_t> initial = std::nullopt) {
  return {.op = Op::kIncr, .keys = {key}, .delta = delta, .decr = decr, .initial = initial};
}

// Sends req from client and returns the reply it got at once.
protocol::Reply Ask(Harness& h, const std::string& client, protocol::Request req) {
  const size_t before = h.RepliesTo(client);
  const Op op = req.op;
  h.Send(client, std::move(req));
  REQUIRE(h.RepliesTo(client) == before + 1);
  protocol::Reply r = h.Last(client, op);
  REQUIRE(r.status == ReplyStatus::kOk);
  return r;
}

Entries Gets(Harness& h, const std::vector<std::string>& keys,
             std::optional<uint64_t> ttl_ms = std::nullopt) {
  return Ask(h, "g", {.op = Op::kGets, .keys = keys, .ttl_ms = ttl_ms}).entries;
}

// The one entry a gets of key returns (nullopt: nil).
std::optional<ValueMeta> GetsOne(Harness& h, const std::string& key) {
  Entries e = Gets(h, {key});
  REQUIRE(e.size() == 1);
  return e[0];
}

// setx's outcome (and cas) at this node.
protocol::Reply Write(Harness& h, protocol::Request req) { return Ask(h, "w", std::move(req)); }

// The replica fwds h sent to peer, oldest first.
std::vector<Sent> ReplicaWritesTo(const Harness& h, const std::string& peer) {
  std::vector<Sent> out;
  for (const Sent& s : h.peers.SentTo(peer)) {
    if (s.request.op == Op::kFwd && s.request.replica) out.push_back(s);
  }
  return out;
}

}  // namespace

// ---- gets ---------------------------------------------------------------------

TEST_CASE("gets answers an owned key with its flags, its version as cas and its ttl left",
          "[node][memcache]") {
  Harness h;  // alone: it owns every key
  protocol::Reply w = Write(h, Setx("k", "v", WriteMode::kSet, 0, 42, 5000));
  REQUIRE(w.outcome == WriteOutcome::kStored);
  CHECK(w.cas != 0);
  (void)Write(h, Setx("forever", "f", WriteMode::kSet, 0, 0, 0));
  h.clock.Advance(1000);
  Entries e = Gets(h, {"k", "none", "forever"});
  REQUIRE(e.size() == 3);
  REQUIRE(e[0]);
  CHECK(*e[0] == ValueMeta{"v", 42, w.cas, 4000});
  CHECK_FALSE(e[1]);
  REQUIRE(e[2]);
  CHECK(e[2]->ttl_left_ms == 0);  // never expires
  CHECK(h.peers.sent.empty());
}

TEST_CASE("a set's flags are kept and returned by gets", "[node][memcache]") {
  Harness h;
  h.Send("w", {.op = Op::kSet, .keys = {"k"}, .value = "v", .flags = 7});
  std::optional<ValueMeta> e = GetsOne(h, "k");
  REQUIRE(e);
  CHECK(e->flags == 7);
}

TEST_CASE("gets sends one forward per owner and keeps request order", "[node][memcache]") {
  Harness h;
  h.Join({kA, kB});
  const std::string s = h.KeyOwnedBy(kSelf), a1 = h.KeyOwnedBy(kA), a2 = h.KeyOwnedBy(kA, 1);
  const std::string b1 = h.KeyOwnedBy(kB);
  const uint64_t cas_s = Write(h, Setx(s, "vs", WriteMode::kSet, 0, 3)).cas;
  h.Send("c", {.op = Op::kGets, .keys = {a1, s, b1, a2}});
  REQUIRE(h.peers.sent.size() == 2);
  Sent to_a = h.LastSent(kA), to_b = h.LastSent(kB);
  REQUIRE(to_a.request.inner);
  CHECK(to_a.request.op == Op::kFwd);
  CHECK(to_a.request.inner->op == Op::kGets);
  CHECK(to_a.request.inner->keys == std::vector<std::string>{a1, a2});
  CHECK(to_b.request.inner->keys == std::vector<std::string>{b1});
  h.Answer(protocol::EncodeEntries(to_b.id, {ValueMeta{"vb1", 2, 20, 0}}));
  CHECK(h.RepliesTo("c") == 0);
  h.Answer(protocol::EncodeEntries(to_a.id, {ValueMeta{"va1", 1, 10, 500}, std::nullopt}));
  REQUIRE(h.RepliesTo("c") == 1);
  const Entries want = {ValueMeta{"va1", 1, 10, 500}, ValueMeta{"vs", 3, cas_s, 0},
                        ValueMeta{"vb1", 2, 20, 0}, std::nullopt};
  CHECK(h.Last("c", Op::kGets).entries == want);
  // No hot copy was kept: the next gets asks the owner again.
  h.Send("c", {.op = Op::kGets, .keys = {b1}});
  CHECK(h.peers.SentTo(kB).size() == 2);
  CHECK(h.Stat("hot_hits") == 0);
}

TEST_CASE("a gets forwarded by a peer is answered here whatever this ring says",
          "[node][memcache]") {
  Harness h;
  h.Join({kA, kB});
  const std::string b = h.KeyOwnedBy(kB);
  h.Forwarded(kA, {.op = Op::kGets, .keys = {b}}, /*replica=*/false);
  REQUIRE(h.RepliesTo(kA) == 1);
  CHECK(h.Last(kA, Op::kGets).entries == Entries{std::nullopt});
  CHECK(h.peers.sent.empty());  // one hop at most
}

TEST_CASE("gets of a missing key calls the loader once for concurrent misses", "[node][memcache]") {
  Harness h(Options(), /*with_loader=*/true);
  h.Send("c1", {.op = Op::kGets, .keys = {"k"}});
  h.Send("c2", {.op = Op::kGets, .keys = {"x", "k"}});
  REQUIRE(h.loader.submitted.size() == 2);  // k once, x once
  h.loader.Finish("k", std::optional<Loaded>(Loaded{"loaded", 0}));
  h.loader.Finish("x", std::optional<Loaded>(std::nullopt));
  h.service.OnLoadsDone();
  const Entries one = h.Last("c1", Op::kGets).entries, two = h.Last("c2", Op::kGets).entries;
  REQUIRE(one.size() == 1);
  REQUIRE(one[0]);
  CHECK(one[0]->value == "loaded");
  CHECK(one[0]->flags == 0);
  CHECK(one[0]->cas != 0);
  CHECK(two == Entries{std::nullopt, one[0]});
  // Stored with that version: the cas names it.
  CHECK(GetsOne(h, "k") == one[0]);
  CHECK(Write(h, Setx("k", "new", WriteMode::kSet, one[0]->cas)).outcome == WriteOutcome::kStored);
  CHECK(h.loader.submitted.empty());
  CHECK(h.Stat("loads") == 2);
}

TEST_CASE("gets with a ttl touches each hit at the owner", "[node][memcache]") {
  Harness h;
  const uint64_t cas = Write(h, Setx("k", "v", WriteMode::kSet, 0, 0, 1000)).cas;
  Entries e = Gets(h, {"k", "none"}, 60'000);
  REQUIRE(e[0]);
  CHECK(e[0]->ttl_left_ms == 60'000);
  CHECK(e[0]->cas == cas);  // a touch is no write
  CHECK_FALSE(e[1]);
  h.clock.Advance(2000);
  std::optional<ValueMeta> later = GetsOne(h, "k");
  REQUIRE(later);
  CHECK(later->ttl_left_ms == 58'000);
}

// ---- ReadOwnedNow (the memcached door's reads) -------------------------------

namespace {

// ReadOwnedNow's answer for keys; nullopt when it leaves them to the usual path.
std::optional<std::vector<std::optional<node::HeldEntry>>> ReadNow(
    Harness& h, const std::vector<std::string_view>& keys) {
  std::vector<std::optional<node::HeldEntry>> out;
  if (!h.service.ReadOwnedNow(keys, &out)) return std::nullopt;
  REQUIRE(out.size() == keys.size());
  return out;
}

}  // namespace

TEST_CASE("a read the owner answers now has each entry's flags, cas and ttl left, counted as gets",
          "[node][memcache]") {
  Harness h;  // alone: it owns every key
  const uint64_t cas = Write(h, Setx("k", "v", WriteMode::kSet, 0, 42, 5000)).cas;
  h.clock.Advance(1000);
  const size_t replies = h.replies.size();
  auto read = ReadNow(h, {"k", "none"});
  CHECK(h.replies.size() == replies);  // nothing goes through the reply function
  REQUIRE(read);
  REQUIRE((*read)[0]);
  CHECK((*read)[0]->value.view() == "v");
  CHECK((*read)[0]->flags == 42);
  CHECK((*read)[0]->version == cas);
  CHECK((*read)[0]->ttl_left_ms == 4000);
  CHECK_FALSE((*read)[1]);
  CHECK(h.Stat("gets") == 2);
  CHECK(h.Stat("hits") == 1);
  CHECK(h.Stat("misses") == 1);
  CHECK(h.Stat("get_us_count") == 1);
  CHECK(h.peers.sent.empty());
}

TEST_CASE("a read is left to the usual path when a key is another node's or a miss would wait",
          "[node][memcache]") {
  SECTION("a key owned elsewhere") {
    Harness h;
    h.Join({kA});
    const std::string mine = h.KeyOwnedBy(kSelf), theirs = h.KeyOwnedBy(kA);
    CHECK(ReadNow(h, {mine}));
    CHECK_FALSE(ReadNow(h, {mine, theirs}));
  }
  SECTION("a miss that loads; a hit does not") {
    Harness h(Options(), /*with_loader=*/true);
    (void)Write(h, Setx("k", "v", WriteMode::kSet));
    CHECK(ReadNow(h, {"k"}));
    CHECK_FALSE(ReadNow(h, {"k", "none"}));
    CHECK(h.loader.submitted.empty());  // left to the usual path, which loads
  }
  SECTION("a miss that peeks at a previous owner in the hand-off window; a hit does not") {
    Harness h;
    h.Join({kA}, /*warm=*/true);
    const std::string key = h.KeyOwnedBy(kSelf), held = h.KeyOwnedBy(kSelf, 1);
    (void)Write(h, Setx(held, "v", WriteMode::kSet));
    CHECK(ReadNow(h, {held}));
    CHECK_FALSE(ReadNow(h, {key}));
    h.PastWarmUp({kA});
    CHECK(ReadNow(h, {key}));
  }
}

// ---- setx ---------------------------------------------------------------------

TEST_CASE("setx stores by its mode: add, replace, append, prepend, set", "[node][memcache]") {
  Harness h;
  CHECK(Write(h, Setx("k", "b", WriteMode::kReplace)).outcome == WriteOutcome::kNotStored);
  CHECK(Write(h, Setx("k", "b", WriteMode::kAppend)).outcome == WriteOutcome::kNotStored);
  CHECK(Write(h, Setx("k", "b", WriteMode::kPrepend)).outcome == WriteOutcome::kNotStored);
  CHECK_FALSE(GetsOne(h, "k"));
  CHECK(Write(h, Setx("k", "b", WriteMode::kAdd, 0, 5, 10'000)).outcome == WriteOutcome::kStored);
  protocol::Reply again = Write(h, Setx("k", "x", WriteMode::kAdd));
  CHECK(again.outcome == WriteOutcome::kNotStored);
  CHECK(again.cas == 0);
  CHECK(Write(h, Setx("k", "c", WriteMode::kAppend, 0, 9, 1)).outcome == WriteOutcome::kStored);
  CHECK(Write(h, Setx("k", "a", WriteMode::kPrepend)).outcome == WriteOutcome::kStored);
  std::optional<ValueMeta> e = GetsOne(h, "k");
  REQUIRE(e);
  CHECK(e->value == "abc");
  CHECK(e->flags == 5);             // append and prepend keep the flags
  CHECK(e->ttl_left_ms == 10'000);  // and the life
  CHECK(Write(h, Setx("k", "r", WriteMode::kReplace, 0, 6)).outcome == WriteOutcome::kStored);
  CHECK(GetsOne(h, "k")->value == "r");
  CHECK(Write(h, Setx("k", "s", WriteMode::kSet, 0, 8)).outcome == WriteOutcome::kStored);
  e = GetsOne(h, "k");
  CHECK(e->value == "s");
  CHECK(e->flags == 8);
  CHECK(e->ttl_left_ms == 0);  // the default ttl: none
}

TEST_CASE("setx with a cas stores only over the entry that cas names", "[node][memcache]") {
  Harness h;
  CHECK(Write(h, Setx("k", "v", WriteMode::kSet, 12345)).outcome == WriteOutcome::kNotFound);
  CHECK_FALSE(GetsOne(h, "k"));
  const uint64_t first = Write(h, Setx("k", "v1", WriteMode::kSet)).cas;
  CHECK(GetsOne(h, "k")->cas == first);
  protocol::Reply w = Write(h, Setx("k", "v2", WriteMode::kSet, first));
  CHECK(w.outcome == WriteOutcome::kStored);
  CHECK(w.cas > first);
  protocol::Reply stale = Write(h, Setx("k", "v3", WriteMode::kSet, first));
  CHECK(stale.outcome == WriteOutcome::kExists);
  CHECK(stale.cas == 0);
  std::optional<ValueMeta> e = GetsOne(h, "k");
  CHECK(e->value == "v2");
  CHECK(e->cas == w.cas);
}

TEST_CASE("a forwarded setx is stored with its sender's newer stamp", "[node][memcache]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kSelf);
  const uint64_t stamp = static_cast<uint64_t>(h.clock.WallMs() + 5) << HybridClock::kCounterBits;
  h.Send(kA, {.op = Op::kFwd,
              .from = kA,
              .inner = std::make_shared<const protocol::Request>(Setx(key, "v", WriteMode::kAdd)),
              .version = stamp});
  protocol::Reply r = h.Last(kA, Op::kSetx);
  CHECK(r.outcome == WriteOutcome::kStored);
  CHECK(r.cas == stamp);
  CHECK(GetsOne(h, key)->cas == stamp);
}

TEST_CASE("an append past the value limit is too_large and keeps the value", "[node][memcache]") {
  NodeOptions o = Options();
  o.max_value_bytes = 16;
  Harness h(o);
  (void)Write(h, Setx("k", "0123456789", WriteMode::kSet));
  h.Send("w", Setx("k", "0123456789", WriteMode::kAppend));
  protocol::Reply r = h.Last("w", Op::kSetx);
  CHECK(r.status == ReplyStatus::kErr);
  CHECK(r.error_code == "too_large");
  CHECK(GetsOne(h, "k")->value == "0123456789");
}

// ---- incr -----------------------------------------------------------------------

TEST_CASE("incr and decr count in decimal, wrap and stop at zero", "[node][memcache]") {
  Harness h;
  CHECK(Write(h, Incr("n", 1)).outcome == WriteOutcome::kNotFound);
  CHECK_FALSE(GetsOne(h, "n"));
  protocol::Reply made = Write(h, Incr("n", 1, false, 10));
  CHECK(made.outcome == WriteOutcome::kStored);
  CHECK(made.number == 10);
  CHECK(GetsOne(h, "n")->value == "10");
  (void)Write(h, Setx("n", "10", WriteMode::kSet, 0, 4, 9000));
  protocol::Reply up = Write(h, Incr("n", 5));
  CHECK(up.outcome == WriteOutcome::kStored);
  CHECK(up.number == 15);
  std::optional<ValueMeta> e = GetsOne(h, "n");
  CHECK(e->value == "15");
  CHECK(e->cas == up.cas);
  CHECK(e->flags == 4);           // kept
  CHECK(e->ttl_left_ms == 9000);  // kept
  CHECK(Write(h, Incr("n", 20, /*decr=*/true)).number == 0);
  CHECK(GetsOne(h, "n")->value == "0");
  (void)Write(h, Setx("n", "18446744073709551615", WriteMode::kSet));
  CHECK(Write(h, Incr("n", 2)).number == 1);
  CHECK(GetsOne(h, "n")->value == "1");
}

TEST_CASE("incr of a value that is no unsigned decimal of at most 20 digits is non_numeric",
          "[node][memcache]") {
  Harness h;
  for (const std::string v :
       {"abc", "-1", "", "1 ", "+1", "18446744073709551616", "000000000000000000001"}) {
    (void)Write(h, Setx("n", v, WriteMode::kSet));
    protocol::Reply r = Write(h, Incr("n", 1));
    CHECK(r.outcome == WriteOutcome::kNonNumeric);
    CHECK(GetsOne(h, "n")->value == v);
  }
  (void)Write(h, Setx("n", "00000000000000000001", WriteMode::kSet));  // 20 digits
  CHECK(Write(h, Incr("n", 1)).number == 2);
}

// ---- touch ----------------------------------------------------------------------

TEST_CASE("touch gives a held entry a new life and keeps its cas", "[node][memcache]") {
  Harness h;
  CHECK_FALSE(Write(h, {.op = Op::kTouch, .keys = {"k"}, .ttl_ms = 1000}).existed);
  const uint64_t cas = Write(h, Setx("k", "v", WriteMode::kSet, 0, 0, 1000)).cas;
  CHECK(Write(h, {.op = Op::kTouch, .keys = {"k"}, .ttl_ms = 10'000}).existed);
  h.clock.Advance(5000);
  std::optional<ValueMeta> e = GetsOne(h, "k");
  REQUIRE(e);
  CHECK(e->ttl_left_ms == 5000);
  CHECK(e->cas == cas);
  CHECK(Write(h, {.op = Op::kTouch, .keys = {"k"}, .ttl_ms = 0}).existed);
  h.clock.Advance(365LL * 24 * 3600 * 1000);
  CHECK(GetsOne(h, "k"));
}

// ---- non-owners ------------------------------------------------------------------

TEST_CASE("setx, incr and touch through a non-owner go to the owner and relay its answer",
          "[node][memcache]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kA);
  h.Send("c", Setx(key, "v", WriteMode::kAdd, 9, 3));
  Sent s = h.LastSent(kA);
  CHECK(s.request.op == Op::kFwd);
  CHECK_FALSE(s.request.replica);
  CHECK(s.request.version != 0);  // stamped here, as a set is
  REQUIRE(s.request.inner);
  CHECK(s.request.inner->op == Op::kSetx);
  CHECK(s.request.inner->mode == WriteMode::kAdd);
  CHECK(s.request.inner->cas == 9);
  CHECK(s.request.inner->flags == 3);
  CHECK(h.RepliesTo("c") == 0);
  h.Answer(protocol::EncodeWritten(s.id, WriteOutcome::kExists, 0));
  CHECK(h.Last("c", Op::kSetx).outcome == WriteOutcome::kExists);

  h.Send("c", Incr(key, 2));
  s = h.LastSent(kA);
  CHECK(s.request.inner->op == Op::kIncr);
  h.Answer(protocol::EncodeWritten(s.id, WriteOutcome::kStored, 77, 42));
  protocol::Reply r = h.Last("c", Op::kIncr);
  CHECK(r.outcome == WriteOutcome::kStored);
  CHECK(r.cas == 77);
  CHECK(r.number == 42);

  h.Send("c", {.op = Op::kTouch, .keys = {key}, .ttl_ms = 5});
  s = h.LastSent(kA);
  CHECK(s.request.inner->op == Op::kTouch);
  h.Answer(protocol::EncodeExisted(s.id, true));
  CHECK(h.Last("c", Op::kTouch).existed);
  CHECK(h.peers.sent.size() == 3);
}

TEST_CASE("setx to an owner that cannot be reached is unavailable", "[node][memcache]") {
  Harness h;
  h.Join({kA});
  const std::string key = h.KeyOwnedBy(kA);
  h.peers.unreachable.insert(kA);
  h.Send("c", Setx(key, "v", WriteMode::kSet));
  CHECK(h.Last("c", Op::kSetx).error_code == "unavailable");
  h.peers.unreachable.clear();
  h.Send("c", Incr(key, 1));
  h.PastForwardTimeout();
  CHECK(h.Last("c", Op::kIncr).error_code == "unavailable");
}

// ---- replicas ---------------------------------------------------------------------

TEST_CASE("a replica keeps setx's flags and version, so a failover gets returns them",
          "[node][memcache]") {
  // Two nodes of one mesh: the owner (kSelf) and the key's other holder.
  Harness owner(Options(2));
  owner.Join({kA, kB});
  const std::string key = owner.KeyWith([](const auto& hs) { return hs[0] == kSelf; });
  const std::string other = *owner.service.gossiper().ring()->Holders(key)[1];
  const std::string third = other == kA ? kB : kA;
  Harness replica(Options(2), /*with_loader=*/false, other);
  replica.Join({kSelf, third});

  protocol::Reply w = Write(owner, Setx(key, "v", WriteMode::kSet, 0, 77, 60'000));
  REQUIRE(w.outcome == WriteOutcome::kStored);
  protocol::Reply t = Write(owner, {.op = Op::kTouch, .keys = {key}, .ttl_ms = 120'000});
  REQUIRE(t.existed);
  std::vector<Sent> sent = ReplicaWritesTo(owner, other);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].request.version == w.cas);
  REQUIRE(sent[0].request.inner);
  CHECK(sent[0].request.inner->op == Op::kSet);
  CHECK(sent[0].request.inner->flags == 77);
  CHECK(sent[1].request.inner->op == Op::kTouch);
  CHECK(sent[1].request.version == w.cas);
  for (const Sent& s : sent) replica.Send(kSelf, s.request);  // as the owner's DEALER would
  CHECK(replica.Stat("replica_writes") == 2);

  replica.peers.unreachable.insert(kSelf);  // the owner is gone
  std::optional<ValueMeta> e = GetsOne(replica, key);
  REQUIRE(e);
  CHECK(*e == ValueMeta{"v", 77, w.cas, 120'000});
}

TEST_CASE("setx delete removes only the entry its cas names, and replicates as a del",
          "[node][memcache]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  const std::string key = h.KeyWith([](const auto& hs) { return hs[0] == kSelf; });
  const std::string other = *h.service.gossiper().ring()->Holders(key)[1];
  const uint64_t cas = Write(h, Setx(key, "v", WriteMode::kSet)).cas;
  CHECK(Write(h, Setx(key, "", WriteMode::kDelete, cas + 1)).outcome == WriteOutcome::kExists);
  REQUIRE(GetsOne(h, key));  // still there
  protocol::Reply d = Write(h, Setx(key, "", WriteMode::kDelete, cas));
  CHECK(d.outcome == WriteOutcome::kStored);
  CHECK(d.cas > cas);
  CHECK_FALSE(GetsOne(h, key));
  std::vector<Sent> sent = ReplicaWritesTo(h, other);
  REQUIRE(sent.size() == 2);  // the set, then the delete
  CHECK(sent[1].request.inner->op == Op::kDel);
  CHECK(sent[1].request.version == d.cas);
  // Nothing held: not_found, with a cas or without.
  CHECK(Write(h, Setx(key, "", WriteMode::kDelete, cas)).outcome == WriteOutcome::kNotFound);
  CHECK(Write(h, Setx(key, "", WriteMode::kDelete)).outcome == WriteOutcome::kNotFound);
  // A write stamped before the delete (a late replica write) stays buried.
  h.Replica(kA, {.op = Op::kSet, .keys = {key}, .value = "old"}, cas + 1);
  CHECK_FALSE(GetsOne(h, key));
}

TEST_CASE("an incr at the owner is replicated as the set of its entry", "[node][memcache]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  const std::string key = h.KeyWith([](const auto& hs) { return hs[0] == kSelf; });
  const std::string other = *h.service.gossiper().ring()->Holders(key)[1];
  (void)Write(h, Setx(key, "41", WriteMode::kSet, 0, 5));
  protocol::Reply r = Write(h, Incr(key, 1));
  std::vector<Sent> sent = ReplicaWritesTo(h, other);
  REQUIRE(sent.size() == 2);
  CHECK(sent[1].request.version == r.cas);
  CHECK(sent[1].request.inner->op == Op::kSet);
  CHECK(sent[1].request.inner->value == "42");
  CHECK(sent[1].request.inner->flags == 5);
}

TEST_CASE("a replica's touch of another version changes nothing", "[node][memcache]") {
  Harness h(Options(2));
  h.Join({kA, kB});
  const std::string key =
      h.KeyWith([](const auto& hs) { return hs[0] != kSelf && hs[1] == kSelf; });
  const std::string owner = *h.service.gossiper().ring()->Owner(key);
  const uint64_t v = static_cast<uint64_t>(h.clock.WallMs()) << HybridClock::kCounterBits;
  h.Replica(owner, {.op = Op::kSet, .keys = {key}, .value = "v", .ttl_ms = 1000}, v);
  h.Replica(owner, {.op = Op::kTouch, .keys = {key}, .ttl_ms = 60'000}, v + 1);
  CHECK_FALSE(h.Last(owner, Op::kTouch).existed);
  h.Replica(owner, {.op = Op::kTouch, .keys = {key}, .ttl_ms = 60'000}, v);
  CHECK(h.Last(owner, Op::kTouch).existed);
  h.clock.Advance(2000);
  CHECK(HeldAt(h, owner, key) == "v");
}
