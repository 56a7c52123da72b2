// The client without a node: options, routing against a Ring, and the engine
// over a fake transport on a manual clock (client_zmq_test.cc has the ZeroMQ
// transport).
#include "meshcache/client.hpp"

#include <catch2/catch.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "client/engine.h"
#include "client/router.h"
#include "client/zmq_transport.h"
#include "protocol/codec.h"
#include "ring/ring.h"

using namespace meshcache;
using client::Done;
using client::Engine;
using client::Router;
using protocol::Op;
using protocol::Request;

namespace {

const std::vector<std::string> kNodes = {"tcp://10.0.0.1:7400", "tcp://10.0.0.2:7400",
                                         "tcp://10.0.0.3:7400"};

std::vector<MemberInfo> Members(const std::vector<std::string>& ids = kNodes) {
  std::vector<MemberInfo> out;
  for (const auto& id : ids) out.push_back({id, id, id + "1", NodeState::kAlive, 0});
  return out;
}

std::shared_ptr<const Ring> TestRing() { return Ring::Build(Members(), RingParams{}); }

// A key whose owner is the given node on TestRing().
std::string KeyOwnedBy(const std::string& node) {
  auto ring = TestRing();
  for (int i = 0;; ++i) {
    std::string key = "key" + std::to_string(i);
    if (*ring->Owner(key) == node) return key;
  }
}

// Records what the engine sends and answers like a mesh of kNodes would,
// unless told to stay silent or to be unreachable. Wait delivers the queued
// replies and stalls at once; with nothing to deliver it lets the manual
// clock run for the whole timeout.
class FakeTransport final : public client::Transport {
 public:
  struct Sent {
    std::string node;
    Request request;
  };
  explicit FakeTransport(ManualClock* clock) : clock_(clock) {}

  bool Send(const std::string& node, uint64_t wire_id, std::string body) override {
    if (malformed.count(node)) return false;
    if (unreachable.count(node)) {
      queued[node].push_back(wire_id);
      return true;
    }
    auto decoded = protocol::DecodeRequest(body, protocol::Limits{});
    REQUIRE(decoded.status.ok());
    REQUIRE(decoded.request.id == wire_id);
    sent.push_back({node, decoded.request});
    if (!silent.count(node) && !hold) inbox.emplace_back(node, Answer(decoded.request));
    return true;
  }
  void Cancel(const std::string& node, uint64_t wire_id) override {
    cancelled.push_back(wire_id);
    std::erase(queued[node], wire_id);
  }
  void Wait(int64_t timeout_ms, client::TransportEvents* events) override {
    bool any = !inbox.empty() || !breaks.empty();
    events->disconnected = std::move(breaks);
    breaks.clear();
    while (!inbox.empty()) {
      events->replies.push_back(std::move(inbox.front()));
      inbox.pop_front();
    }
    for (auto& [node, ids] : queued) {
      if (!ids.empty()) events->stalled.emplace_back(node, std::move(ids)), any = true;
      ids.clear();
    }
    if (!any) clock_->Advance(timeout_ms);
  }
  void Retain(const std::set<std::string>& keep) override { retained = keep; }

  // The reply a healthy mesh gives.
  std::string Answer(const Request& r) {
    switch (r.op) {
      case Op::kRing:
        return protocol::EncodeRing(r.id, protocol::RingInfo{7, "xxh32", 160, 1, Members()});
      case Op::kGet:
        return store.count(r.keys[0]) ? protocol::EncodeValue(r.id, store[r.keys[0]])
                                      : protocol::EncodeMiss(r.id);
      case Op::kSet:
        store[r.keys[0]] = r.value;
        return protocol::EncodeOk(r.id);
      case Op::kDel:
        return protocol::EncodeExisted(r.id, store.erase(r.keys[0]) > 0);
      case Op::kMget: {
        std::vector<const std::string*> values;
        for (const auto& k : r.keys) values.push_back(store.count(k) ? &store[k] : nullptr);
        return protocol::EncodeValues(r.id, values);
      }
      case Op::kPing:
        return protocol::EncodePing(r.id, protocol::PingInfo{"tcp://10.0.0.1:7400", "0.1.0", 1});
      default:
        return protocol::EncodeError(r.id, Code::kBadRequest, "unexpected op");
    }
  }
  const Sent& LastSent(Op op) const {
    return *std::find_if(sent.rbegin(), sent.rend(),
                         [op](const Sent& s) { return s.request.op == op; });
  }
  size_t CountSent(Op op) const {
    return std::count_if(sent.begin(), sent.end(),
                         [op](const Sent& s) { return s.request.op == op; });
  }

  std::vector<Sent> sent;
  std::deque<std::pair<std::string, std::string>> inbox;
  std::map<std::string, std::vector<uint64_t>> queued;
  std::vector<uint64_t> cancelled;
  std::set<std::string> retained;
  std::set<std::string> silent, unreachable, malformed;
  std::vector<std::string> breaks;  // connections to report broken at the next Wait
  bool hold = false;                // answer nothing until told
  std::map<std::string, std::string> store;

 private:
  ManualClock* clock_;
};

ClientOptions Options(bool smart = true) {
  ClientOptions o;
  o.seeds = {kNodes[0]};
  o.smart_routing = smart;
  return o;
}

struct Fixture {
  explicit Fixture(ClientOptions o = Options()) : options(std::move(o)) {
    engine = std::make_unique<Engine>(options, &net, &clock);
  }
  // Like Client::Connect: fetch the ring first.
  Fixture& Connected() {
    REQUIRE(engine->SyncRing().ok());
    return *this;
  }
  Done Call(Request r, const std::string& node = {}) {
    return engine->Wait(engine->Start(r, node));
  }

  ClientOptions options;
  ManualClock clock;
  FakeTransport net{&clock};
  std::unique_ptr<Engine> engine;
};

Request Get(const std::string& key) { return Request{.op = Op::kGet, .keys = {key}}; }
Request MGet(std::vector<std::string> keys) {
  return Request{.op = Op::kMget, .keys = std::move(keys)};
}

}  // namespace

// ---- options ----------------------------------------------------------------

TEST_CASE("client options need a seed endpoint", "[client]") {
  ClientOptions o;
  CHECK(ValidateClientOptions(o).code() == Code::kInvalidArgument);
  o.seeds = {"127.0.0.1:7400"};
  CHECK(ValidateClientOptions(o).code() == Code::kInvalidArgument);
  o.seeds = {"tcp://127.0.0.1:7400", "inproc://node"};  // another context's: unreachable
  CHECK(ValidateClientOptions(o).message().find("inproc://node") != std::string::npos);
  o.seeds = {"tcp://127.0.0.1:7400"};
  CHECK(ValidateClientOptions(o).ok());
}

TEST_CASE("client options refuse non-positive and inconsistent timeouts", "[client]") {
  ClientOptions o = Options();
  o.timeout_ms = 0;
  CHECK_FALSE(ValidateClientOptions(o).ok());
  o = Options();
  o.connect_timeout_ms = 0;
  CHECK(ValidateClientOptions(o).message().find("connect_timeout_ms") != std::string::npos);
  o.connect_timeout_ms = o.timeout_ms + 1;  // acts as timeout_ms
  CHECK(ValidateClientOptions(o).ok());
  o = Options();
  o.ring_refresh_ms = 0;
  CHECK_FALSE(ValidateClientOptions(o).ok());
  o = Options();
  o.max_reply_bytes = 10;
  CHECK_FALSE(ValidateClientOptions(o).ok());
}

TEST_CASE("client connect refuses bad options without touching the network", "[client]") {
  auto c = Client::Connect(ClientOptions{});
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == Code::kInvalidArgument);
}

// ---- router -----------------------------------------------------------------

TEST_CASE("router sends each key to its ring owner", "[client]") {
  Router router({kNodes[0]}, true, 1000);
  router.SetRing(TestRing());
  for (const char* key : {"", "xia", "user", "hello", "user:42"}) {
    CHECK(*router.ForKey(key, 0, {}) == *TestRing()->Owner(key));
  }
}

TEST_CASE("router skips a down owner for the key's next holder until the retry time", "[client]") {
  Router router({kNodes[0]}, true, 1000);
  router.SetRing(TestRing());
  const std::string key = KeyOwnedBy(kNodes[1]);
  router.MarkDown(kNodes[1], 5000);
  CHECK(*router.ForKey(key, 5000, {}) == *TestRing()->Holders(key, 2)[1]);
  CHECK(*router.ForKey(key, 5999, {}) != kNodes[1]);
  CHECK(*router.ForKey(key, 6000, {}) == kNodes[1]);
}

TEST_CASE("router without a ring, or without smart routing, uses the seeds in order", "[client]") {
  Router smart({kNodes[2], kNodes[1]}, true, 1000);
  CHECK(*smart.ForKey("user", 0, {}) == kNodes[2]);
  CHECK(*smart.ForKey("user", 0, {kNodes[2]}) == kNodes[1]);
  Router plain({kNodes[2]}, false, 1000);
  plain.SetRing(TestRing());
  CHECK(plain.ring() == nullptr);
  CHECK(*plain.ForKey(KeyOwnedBy(kNodes[0]), 0, {}) == kNodes[2]);
  CHECK_FALSE(plain.ForKey("user", 0, {kNodes[2]}).has_value());
}

TEST_CASE("router splits keys by owner, groups in order of first appearance", "[client]") {
  Router router({kNodes[0]}, true, 1000);
  router.SetRing(TestRing());
  std::vector<std::string> keys = {KeyOwnedBy(kNodes[2]), KeyOwnedBy(kNodes[0]),
                                   KeyOwnedBy(kNodes[2]) + "", KeyOwnedBy(kNodes[1])};
  auto groups = router.Split(keys, 0);
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].node == kNodes[2]);
  CHECK(groups[0].slots == std::vector<size_t>{0, 2});
  CHECK(groups[1].node == kNodes[0]);
  CHECK(groups[2].slots == std::vector<size_t>{3});
}

TEST_CASE("router leaves out keys no node can take", "[client]") {
  Router router({kNodes[0]}, false, 1000);
  router.MarkDown(kNodes[0], 0);
  std::vector<size_t> unrouted;
  CHECK(router.Split({"a", "b"}, 10, &unrouted).empty());
  CHECK(unrouted == std::vector<size_t>{0, 1});
}

// ---- engine -----------------------------------------------------------------

TEST_CASE("engine encodes a get as the protocol's request to the key's owner", "[client]") {
  Fixture f;
  f.Connected();
  const std::string key = KeyOwnedBy(kNodes[2]);
  f.net.store[key] = "v";
  Done d = f.Call(Get(key));
  REQUIRE(d.status.ok());
  CHECK(d.reply.value == "v");
  const auto& sent = f.net.LastSent(Op::kGet);
  CHECK(sent.node == kNodes[2]);
  CHECK(sent.request.op == Op::kGet);
  CHECK(sent.request.keys == std::vector<std::string>{key});
}

TEST_CASE("engine sends a set with its ttl, and without one for the node's default", "[client]") {
  Fixture f;
  f.Connected();
  Request set{.op = Op::kSet, .keys = {"k"}, .value = "v", .ttl_ms = 0};
  REQUIRE(f.Call(set).status.ok());
  CHECK(f.net.LastSent(Op::kSet).request.ttl_ms == std::optional<uint64_t>(0));
  set.ttl_ms.reset();
  REQUIRE(f.Call(set).status.ok());
  CHECK_FALSE(f.net.LastSent(Op::kSet).request.ttl_ms.has_value());
  CHECK(f.net.store["k"] == "v");
}

TEST_CASE("engine splits an mget by owner and merges the parts in request order", "[client]") {
  Fixture f;
  f.Connected();
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) keys.push_back("k" + std::to_string(i));
  for (int i = 0; i < 30; i += 2) f.net.store[keys[i]] = "v" + keys[i];
  Done d = f.Call(MGet(keys));
  REQUIRE(d.status.ok());
  CHECK(f.net.CountSent(Op::kMget) == 3);
  REQUIRE(d.reply.values.size() == 30);
  for (int i = 0; i < 30; ++i) {
    if (i % 2 == 0) {
      CHECK(d.reply.values[i] == std::optional<std::string>("v" + keys[i]));
    } else {
      CHECK_FALSE(d.reply.values[i].has_value());
    }
  }
  for (const auto& s : f.net.sent) {
    if (s.request.op != Op::kMget) continue;
    for (const auto& k : s.request.keys) CHECK(*TestRing()->Owner(k) == s.node);
  }
}

TEST_CASE("engine finishes an mget of no keys at once", "[client]") {
  Fixture f;
  Done d = f.Call(MGet({}));
  CHECK(d.status.ok());
  CHECK(d.reply.values.empty());
  CHECK(f.net.CountSent(Op::kMget) == 0);
}

TEST_CASE("engine fails a whole mget when one part fails", "[client]") {
  Fixture f;
  f.Connected();
  f.net.silent.insert(kNodes[1]);
  Done d = f.Call(MGet({KeyOwnedBy(kNodes[0]), KeyOwnedBy(kNodes[1])}));
  CHECK(d.status.code() == Code::kTimeout);
  CHECK(d.status.message().find(kNodes[1]) != std::string::npos);
}

TEST_CASE("engine matches pipelined replies by id whatever their order", "[client]") {
  Fixture f;
  f.Connected();
  f.net.store = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  f.net.hold = true;
  uint64_t ta = f.engine->Start(Get("a")), tb = f.engine->Start(Get("b")),
           tc = f.engine->Start(Get("c"));
  CHECK(f.engine->pending() == 3);
  for (auto it = f.net.sent.rbegin(); it != f.net.sent.rend(); ++it) {
    if (it->request.op == Op::kGet) f.net.inbox.emplace_back(it->node, f.net.Answer(it->request));
  }
  std::map<uint64_t, std::string> got;
  for (Done& d : f.engine->Poll(100)) got[d.ticket] = d.reply.value;
  CHECK(got == std::map<uint64_t, std::string>{{ta, "1"}, {tb, "2"}, {tc, "3"}});
  CHECK(f.engine->pending() == 0);
}

TEST_CASE("engine keeps other completions for poll while a call waits", "[client]") {
  Fixture f;
  f.Connected();
  uint64_t first = f.engine->Start(Get("a"));
  Done second = f.Call(Get("b"));
  CHECK(second.status.ok());
  auto rest = f.engine->Poll(0);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].ticket == first);
}

TEST_CASE("engine times a silent node out at the deadline and drops its late reply", "[client]") {
  Fixture f;
  f.Connected();
  const std::string key = KeyOwnedBy(kNodes[1]);
  f.net.silent.insert(kNodes[1]);
  const int64_t start = f.clock.NowMs();
  Done d = f.Call(Get(key));
  CHECK(d.status.code() == Code::kTimeout);
  CHECK(f.clock.NowMs() - start == f.options.timeout_ms);
  // The reply turns up after all: nothing matches it any more.
  f.net.inbox.emplace_back(kNodes[1],
                           protocol::EncodeValue(f.net.LastSent(Op::kGet).request.id, "late"));
  CHECK(f.engine->Poll(0).empty());
  CHECK(f.engine->pending() == 0);
}

TEST_CASE("engine avoids a node that timed out and fetches the ring again", "[client]") {
  Fixture f;
  f.Connected();
  const std::string key = KeyOwnedBy(kNodes[1]);
  f.net.silent.insert(kNodes[1]);
  const size_t rings = f.net.CountSent(Op::kRing);
  REQUIRE(f.Call(Get(key)).status.code() == Code::kTimeout);
  Done again = f.Call(Get(key));
  CHECK(again.status.ok());
  CHECK(f.net.LastSent(Op::kGet).node == *TestRing()->Holders(key, 2)[1]);
  CHECK(f.net.CountSent(Op::kRing) == rings + 1);
}

TEST_CASE("engine sends a request its owner cannot take to the next holder", "[client]") {
  Fixture f;
  f.Connected();
  const std::string key = KeyOwnedBy(kNodes[2]);
  f.net.store[key] = "v";
  f.net.unreachable.insert(kNodes[2]);
  Done d = f.Call(Get(key));
  REQUIRE(d.status.ok());
  CHECK(d.reply.value == "v");
  CHECK(f.net.LastSent(Op::kGet).node == *TestRing()->Holders(key, 2)[1]);
}

TEST_CASE("engine resends a read in flight to a node whose connection broke", "[client]") {
  Fixture f;
  f.Connected();
  const std::string key = KeyOwnedBy(kNodes[1]);
  f.net.store[key] = "v";
  f.net.silent.insert(kNodes[1]);
  uint64_t t = f.engine->Start(MGet({key}));
  f.net.breaks.push_back(kNodes[1]);
  const int64_t start = f.clock.NowMs();
  Done d = f.engine->Wait(t);
  REQUIRE(d.status.ok());
  CHECK(d.reply.values[0] == std::optional<std::string>("v"));
  CHECK(f.net.CountSent(Op::kMget) == 2);
  CHECK(f.net.LastSent(Op::kMget).node == *TestRing()->Holders(key, 2)[1]);
  CHECK(f.clock.NowMs() == start);  // at once, not at the deadline
}

TEST_CASE("engine fails a write in flight to a node whose connection broke", "[client]") {
  Fixture f;
  f.Connected();
  f.net.silent.insert(kNodes[1]);
  uint64_t t = f.engine->Start(Request{.op = Op::kDel, .keys = {KeyOwnedBy(kNodes[1])}});
  f.net.breaks.push_back(kNodes[1]);
  Done d = f.engine->Wait(t);
  CHECK(d.status.code() == Code::kUnavailable);
  CHECK(d.status.message().find("broke") != std::string::npos);
  CHECK(f.net.CountSent(Op::kDel) == 1);
}

TEST_CASE("engine reroutes at once when the transport refuses a node", "[client]") {
  Fixture f(Options(false));
  f.options.seeds = {"tcp://bad", kNodes[1]};
  f.engine = std::make_unique<Engine>(f.options, &f.net, &f.clock);
  f.net.malformed.insert("tcp://bad");
  Done d = f.Call(Get("k"));
  CHECK(d.status.ok());
  CHECK(f.net.LastSent(Op::kGet).node == kNodes[1]);
}

TEST_CASE("engine answers unavailable when no node can be reached", "[client]") {
  Fixture f;
  for (const auto& n : kNodes) f.net.unreachable.insert(n);
  CHECK_FALSE(f.engine->SyncRing().ok());
  Done d = f.Call(Get("k"));
  CHECK(d.status.code() == Code::kUnavailable);
  CHECK(f.net.sent.empty());
}

TEST_CASE("engine fails a request pinned to one node instead of falling back", "[client]") {
  Fixture f;
  f.Connected();
  f.net.unreachable.insert(kNodes[2]);
  Done d = f.Call(Request{.op = Op::kPing}, kNodes[2]);
  CHECK(d.status.code() == Code::kUnavailable);
  CHECK(d.status.message().find(kNodes[2]) != std::string::npos);
  CHECK(f.net.CountSent(Op::kPing) == 0);
}

TEST_CASE("engine passes a node's error code and message through", "[client]") {
  Fixture f;
  f.net.hold = true;
  uint64_t t = f.engine->Start(Request{.op = Op::kSet, .keys = {"k"}, .value = "big"});
  f.net.inbox.emplace_back(f.net.LastSent(Op::kSet).node,
                           protocol::EncodeError(f.net.LastSent(Op::kSet).request.id,
                                                 Code::kTooLarge, "value of 3 bytes"));
  Done d = f.engine->Wait(t);
  CHECK(d.status.code() == Code::kTooLarge);
  CHECK(d.status.message() == "value of 3 bytes");
}

TEST_CASE("engine reports a reply that does not fit its op as internal", "[client]") {
  Fixture f;
  f.net.hold = true;
  uint64_t t = f.engine->Start(Request{.op = Op::kDel, .keys = {"k"}});
  f.net.inbox.emplace_back(
      f.net.LastSent(Op::kDel).node,
      protocol::EncodeValue(f.net.LastSent(Op::kDel).request.id, "not a bool"));
  CHECK(f.engine->Wait(t).status.code() == Code::kInternal);
}

TEST_CASE("engine fetches the ring again once ring_refresh_ms has passed", "[client]") {
  Fixture f;
  f.Connected();
  REQUIRE(f.net.CountSent(Op::kRing) == 1);
  REQUIRE(f.Call(Get("a")).status.ok());
  CHECK(f.net.CountSent(Op::kRing) == 1);
  f.clock.Advance(f.options.ring_refresh_ms);
  REQUIRE(f.Call(Get("a")).status.ok());
  CHECK(f.net.CountSent(Op::kRing) == 2);
}

TEST_CASE("engine without smart routing never asks for the ring", "[client]") {
  Fixture f(Options(false));
  CHECK(f.engine->SyncRing().ok());
  REQUIRE(f.Call(Get(KeyOwnedBy(kNodes[2]))).status.ok());
  CHECK(f.net.CountSent(Op::kRing) == 0);
  CHECK(f.net.LastSent(Op::kGet).node == kNodes[0]);
}

TEST_CASE("engine poll with nothing in flight returns at once", "[client]") {
  Fixture f(Options(false));
  const int64_t start = f.clock.NowMs();
  CHECK(f.engine->Poll(500).empty());
  CHECK(f.clock.NowMs() == start);
}

// ---- coalesced gets ---------------------------------------------------------

namespace {

ClientOptions Coalescing(size_t n) {
  ClientOptions o = Options();
  o.coalesce_gets = n;
  return o;
}

// n distinct keys owned by the node on TestRing().
std::vector<std::string> KeysOwnedBy(const std::string& node, size_t n) {
  auto ring = TestRing();
  std::vector<std::string> out;
  for (int i = 0; out.size() < n; ++i) {
    std::string key = "c" + std::to_string(i);
    if (*ring->Owner(key) == node) out.push_back(key);
  }
  return out;
}

uint64_t SendGet(Fixture& f, const std::string& key) {
  return f.engine->Start(Get(key), {}, /*coalesce=*/true);
}

// Polls until every call is returned (a few rounds at most); by ticket.
std::map<uint64_t, Done> PollAll(Fixture& f) {
  std::map<uint64_t, Done> out;
  for (int round = 0; round < 20 && f.engine->pending() > 0; ++round) {
    for (Done& d : f.engine->Poll(10'000)) out[d.ticket] = std::move(d);
  }
  CHECK(f.engine->pending() == 0);
  return out;
}

}  // namespace

TEST_CASE("client options refuse coalesce_gets over the mget limit", "[client]") {
  ClientOptions o = Coalescing(4096);
  CHECK(ValidateClientOptions(o).ok());
  o.coalesce_gets = 4097;
  CHECK(ValidateClientOptions(o).message().find("coalesce_gets") != std::string::npos);
}

TEST_CASE("engine coalesces gets for one node into one mget, each on its own ticket", "[client]") {
  Fixture f(Coalescing(16));
  f.Connected();
  const auto keys = KeysOwnedBy(kNodes[1], 5);
  f.net.store[keys[0]] = "v0";
  f.net.store[keys[3]] = "v3";
  std::vector<uint64_t> tickets;
  for (const auto& k : keys) tickets.push_back(SendGet(f, k));
  CHECK(f.net.CountSent(Op::kMget) + f.net.CountSent(Op::kGet) == 0);  // held
  CHECK(f.engine->pending() == 5);
  auto done = PollAll(f);
  REQUIRE(f.net.CountSent(Op::kMget) == 1);
  CHECK(f.net.CountSent(Op::kGet) == 0);
  CHECK(f.net.LastSent(Op::kMget).node == kNodes[1]);
  CHECK(f.net.LastSent(Op::kMget).request.keys == keys);
  REQUIRE(done.size() == 5);
  for (size_t i = 0; i < keys.size(); ++i) {
    const Done& d = done.at(tickets[i]);
    REQUIRE(d.status.ok());
    CHECK(d.op == Op::kGet);
    if (i == 0 || i == 3) {
      CHECK(d.reply.status == protocol::ReplyStatus::kOk);
      CHECK(d.reply.value == "v" + std::to_string(i));
    } else {
      CHECK(d.reply.status == protocol::ReplyStatus::kMiss);
    }
  }
}

TEST_CASE("engine sends one coalesced mget per node, each with that node's keys", "[client]") {
  Fixture f(Coalescing(16));
  f.Connected();
  std::map<uint64_t, std::string> want;
  for (const auto& node : kNodes) {
    for (const auto& k : KeysOwnedBy(node, 3)) {
      f.net.store[k] = "v" + k;
      want[SendGet(f, k)] = "v" + k;
    }
  }
  auto done = PollAll(f);
  CHECK(f.net.CountSent(Op::kMget) == 3);
  for (const auto& s : f.net.sent) {
    if (s.request.op != Op::kMget) continue;
    CHECK(s.request.keys == KeysOwnedBy(s.node, 3));
  }
  for (const auto& [ticket, value] : want) CHECK(done.at(ticket).reply.value == value);
}

TEST_CASE("engine sends a batch as soon as it holds coalesce_gets keys", "[client]") {
  Fixture f(Coalescing(4));
  f.Connected();
  const auto keys = KeysOwnedBy(kNodes[0], 6);
  for (size_t i = 0; i < 3; ++i) SendGet(f, keys[i]);
  CHECK(f.net.CountSent(Op::kMget) == 0);
  SendGet(f, keys[3]);
  REQUIRE(f.net.CountSent(Op::kMget) == 1);  // before any Poll
  CHECK(f.net.LastSent(Op::kMget).request.keys.size() == 4);
  SendGet(f, keys[4]);
  SendGet(f, keys[5]);
  CHECK(f.net.CountSent(Op::kMget) == 1);  // the rest wait for the Poll
  CHECK(PollAll(f).size() == 6);
  REQUIRE(f.net.CountSent(Op::kMget) == 2);
  CHECK(f.net.LastSent(Op::kMget).request.keys == std::vector<std::string>{keys[4], keys[5]});
}

TEST_CASE("engine sends a held get of its own as a plain get", "[client]") {
  Fixture f(Coalescing(16));
  f.Connected();
  const std::string key = KeyOwnedBy(kNodes[2]);
  f.net.store[key] = "v";
  uint64_t t = SendGet(f, key);
  auto done = f.engine->Poll(100);
  REQUIRE(done.size() == 1);
  CHECK(done[0].ticket == t);
  CHECK(done[0].reply.value == "v");
  CHECK(f.net.CountSent(Op::kMget) == 0);
  CHECK(f.net.LastSent(Op::kGet).node == kNodes[2]);
}

TEST_CASE("engine sends every get at once when coalescing is off (the default)", "[client]") {
  Fixture f;
  f.Connected();
  CHECK(f.options.coalesce_gets == 0);
  for (const auto& k : KeysOwnedBy(kNodes[1], 3)) SendGet(f, k);
  CHECK(f.net.CountSent(Op::kGet) == 3);  // before any Poll
  CHECK(PollAll(f).size() == 3);
  CHECK(f.net.CountSent(Op::kMget) == 0);
}

TEST_CASE("engine never holds a get started without coalesce", "[client]") {
  Fixture f(Coalescing(16));
  f.Connected();
  f.engine->Start(Get(KeyOwnedBy(kNodes[1])));
  CHECK(f.net.CountSent(Op::kGet) == 1);
}

TEST_CASE("engine sends a node's held gets before another request to that node", "[client]") {
  Fixture f(Coalescing(16));
  f.Connected();
  const auto keys = KeysOwnedBy(kNodes[1], 3);
  SendGet(f, keys[0]);
  SendGet(f, keys[1]);
  SendGet(f, KeyOwnedBy(kNodes[2]));
  f.engine->Start(Request{.op = Op::kDel, .keys = {keys[2]}});
  REQUIRE(f.net.sent.size() >= 2);
  const auto& before = f.net.sent[f.net.sent.size() - 2];
  CHECK(before.request.op == Op::kMget);
  CHECK(before.node == kNodes[1]);
  CHECK(f.net.sent.back().request.op == Op::kDel);
  CHECK(f.net.CountSent(Op::kGet) == 0);  // kNodes[2]'s get is still held
  CHECK(PollAll(f).size() == 4);
  CHECK(f.net.LastSent(Op::kGet).node == kNodes[2]);
}

TEST_CASE("engine resends coalesced gets one by one to the next holder when a node breaks",
          "[client]") {
  ClientOptions o = Coalescing(16);
  o.node_retry_ms = 0;  // only the batch's record of where it went keeps them off the node
  Fixture f(o);
  f.Connected();
  const auto keys = KeysOwnedBy(kNodes[1], 3);
  for (const auto& k : keys) f.net.store[k] = "v" + k;
  f.net.silent.insert(kNodes[1]);
  std::vector<uint64_t> tickets;
  for (const auto& k : keys) tickets.push_back(SendGet(f, k));
  CHECK(f.engine->Poll(0).empty());  // the mget is out
  REQUIRE(f.net.CountSent(Op::kMget) == 1);
  f.net.breaks.push_back(kNodes[1]);
  const int64_t start = f.clock.NowMs();
  auto done = PollAll(f);
  CHECK(f.clock.NowMs() == start);  // at once, not at the deadline
  CHECK(f.net.CountSent(Op::kMget) == 1);
  CHECK(f.net.CountSent(Op::kGet) == 3);
  for (const auto& s : f.net.sent) {
    if (s.request.op == Op::kGet) CHECK(s.node == *TestRing()->Holders(s.request.keys[0], 2)[1]);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    REQUIRE(done.at(tickets[i]).status.ok());
    CHECK(done.at(tickets[i]).reply.value == "v" + keys[i]);
  }
}

TEST_CASE("engine resends coalesced gets to the next holder when their node stalls", "[client]") {
  Fixture f(Coalescing(16));
  f.Connected();
  const auto keys = KeysOwnedBy(kNodes[0], 2);
  f.net.store[keys[1]] = "v";
  f.net.unreachable.insert(kNodes[0]);
  uint64_t miss = SendGet(f, keys[0]), hit = SendGet(f, keys[1]);
  auto done = PollAll(f);
  CHECK(f.net.CountSent(Op::kMget) == 0);  // never reached the node
  CHECK(f.net.CountSent(Op::kGet) == 2);
  CHECK(f.net.LastSent(Op::kGet).node != kNodes[0]);
  CHECK(done.at(miss).status.ok());
  CHECK(done.at(miss).reply.status == protocol::ReplyStatus::kMiss);
  CHECK(done.at(hit).reply.value == "v");
}

TEST_CASE("engine answers each coalesced get alone after an error reply to the batch", "[client]") {
  Fixture f(Coalescing(16));
  f.Connected();
  const auto keys = KeysOwnedBy(kNodes[2], 3);
  f.net.store[keys[0]] = "v0";
  f.net.hold = true;
  std::vector<uint64_t> t;
  for (const auto& k : keys) t.push_back(SendGet(f, k));
  CHECK(f.engine->Poll(0).empty());
  const auto mget = f.net.LastSent(Op::kMget);
  f.net.inbox.emplace_back(
      mget.node, protocol::EncodeError(mget.request.id, Code::kLoadFailed, "origin said no"));
  CHECK(f.engine->Poll(0).empty());  // each get is sent again alone
  REQUIRE(f.net.CountSent(Op::kGet) == 3);
  for (const auto& s : f.net.sent) {
    if (s.request.op != Op::kGet) continue;
    CHECK(s.node == kNodes[2]);
    f.net.inbox.emplace_back(
        s.node, s.request.keys[0] == keys[2]
                    ? protocol::EncodeError(s.request.id, Code::kLoadFailed, "origin said no")
                    : f.net.Answer(s.request));
  }
  auto done = PollAll(f);
  CHECK(done.at(t[0]).reply.value == "v0");
  CHECK(done.at(t[1]).status.ok());
  CHECK(done.at(t[1]).reply.status == protocol::ReplyStatus::kMiss);
  CHECK(done.at(t[2]).status.code() == Code::kLoadFailed);
  CHECK(done.at(t[2]).status.message() == "origin said no");
}

TEST_CASE("engine fails each coalesced get when the mget reply is malformed", "[client]") {
  Fixture f(Coalescing(16));
  f.Connected();
  const auto keys = KeysOwnedBy(kNodes[1], 2);
  f.net.hold = true;
  uint64_t a = SendGet(f, keys[0]), b = SendGet(f, keys[1]);
  CHECK(f.engine->Poll(0).empty());
  const auto mget = f.net.LastSent(Op::kMget);
  const std::string v = "only one";
  f.net.inbox.emplace_back(mget.node, protocol::EncodeValues(mget.request.id, {&v}));
  auto done = PollAll(f);
  CHECK(done.at(a).status.code() == Code::kInternal);
  CHECK(done.at(b).status.message().find("1 values for 2 keys") != std::string::npos);
}

TEST_CASE("engine times each coalesced get out at its own deadline", "[client]") {
  Fixture f(Coalescing(16));
  f.Connected();
  const auto keys = KeysOwnedBy(kNodes[1], 2);
  f.net.store[keys[1]] = "late but in time";
  f.net.hold = true;
  const int64_t start = f.clock.NowMs();
  uint64_t early = SendGet(f, keys[0]);
  f.clock.Advance(400);  // the caller works before it sends the next
  uint64_t later = SendGet(f, keys[1]);
  auto first = f.engine->Poll(10'000);
  REQUIRE(first.size() == 1);
  CHECK(first[0].ticket == early);
  CHECK(first[0].status.code() == Code::kTimeout);
  CHECK(f.clock.NowMs() - start == f.options.timeout_ms);
  // The mget's reply arrives now: it still serves the get whose time is left.
  const auto mget = f.net.LastSent(Op::kMget);
  REQUIRE(mget.request.keys == keys);
  CHECK(f.net.cancelled.empty());
  f.net.inbox.emplace_back(mget.node, f.net.Answer(mget.request));
  auto second = f.engine->Poll(0);
  REQUIRE(second.size() == 1);
  CHECK(second[0].ticket == later);
  CHECK(second[0].reply.value == "late but in time");
}

TEST_CASE("engine fails a coalesced get at once when no node can take it", "[client]") {
  Fixture f(Coalescing(16));
  f.net.malformed.insert(kNodes[0]);
  f.clock.Advance(1);
  CHECK_FALSE(f.engine->SyncRing().ok());
  uint64_t t = SendGet(f, "k");
  auto done = f.engine->Poll(0);
  REQUIRE(done.size() == 1);
  CHECK(done[0].ticket == t);
  CHECK(done[0].status.code() == Code::kUnavailable);
  CHECK(f.net.sent.empty());
}
