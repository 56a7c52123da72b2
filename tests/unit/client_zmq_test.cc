// The client's ZeroMQ transport against a bare ROUTER socket, a client with
// no node to reach, and coalesced gets against in-process nodes on loopback.
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "client/engine.h"
#include "client/zmq_transport.h"
#include "meshcache/client.hpp"
#include "meshcache/node.hpp"
#include "protocol/codec.h"

using namespace meshcache;

TEST_CASE("zmq transport frames a request [empty][body] and returns the reply", "[client]") {
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  client::ZmqTransport transport(SystemClock::Get(), 5000, 1 << 20);
  REQUIRE(transport.Send(endpoint, 1, "hello"));
  client::TransportEvents events;
  while (true) {
    transport.Wait(0, &events);  // flushes the outbox once the link is up
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) > 0) break;
  }
  std::vector<zmq::message_t> frames;
  REQUIRE(zmq::recv_multipart(router, std::back_inserter(frames)));
  REQUIRE(frames.size() == 3);
  CHECK(frames[1].size() == 0);
  CHECK(frames[2].to_string() == "hello");
  frames[2] = zmq::message_t(std::string("world"));
  zmq::send_multipart(router, frames);
  while (events.replies.empty()) transport.Wait(5000, &events);
  CHECK(events.replies[0] == std::make_pair(endpoint, std::string("world")));
}

TEST_CASE("zmq transport reports a connection that breaks", "[client]") {
  zmq::context_t ctx;
  auto router = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::router);
  router->set(zmq::sockopt::linger, 0);
  router->bind("tcp://127.0.0.1:*");
  const std::string endpoint = router->get(zmq::sockopt::last_endpoint);
  client::ZmqTransport transport(SystemClock::Get(), 5000, 1 << 20);
  REQUIRE(transport.Send(endpoint, 1, "hello"));
  client::TransportEvents events;
  zmq::pollitem_t item{router->handle(), 0, ZMQ_POLLIN, 0};
  while (zmq::poll(&item, 1, std::chrono::milliseconds(0)) == 0) transport.Wait(10, &events);
  router.reset();  // the node goes away with the request unanswered
  while (events.disconnected.empty()) transport.Wait(1000, &events);
  CHECK(events.disconnected[0] == endpoint);
  CHECK(events.replies.empty());
}

TEST_CASE("zmq transport reports a node it cannot reach as stalled, request unsent", "[client]") {
  client::ZmqTransport transport(SystemClock::Get(), 100, 1 << 20);
  const std::string nowhere = "ipc:///nonexistent-dir/meshcache-client-test";
  // Before the send: the transport times its 100 ms from the send, so a
  // start taken after it may be a millisecond late (CI saw 99 >= 100 fail).
  const int64_t start = SystemClock::Get()->NowMs();
  REQUIRE(transport.Send(nowhere, 7, "x"));
  client::TransportEvents events;
  while (events.stalled.empty()) transport.Wait(1000, &events);
  CHECK(SystemClock::Get()->NowMs() - start >= 100);
  CHECK(events.stalled[0] == std::make_pair(nowhere, std::vector<uint64_t>{7}));
}

TEST_CASE("zmq transport refuses an endpoint zmq cannot parse", "[client]") {
  client::ZmqTransport transport(SystemClock::Get(), 100, 1 << 20);
  CHECK_FALSE(transport.Send("tcp://", 1, "x"));
}

TEST_CASE("client with no reachable node answers unavailable", "[client]") {
  ClientOptions o;
  o.seeds = {"ipc:///nonexistent-dir/meshcache-client-test"};
  o.connect_timeout_ms = 50;
  auto c = Client::Connect(o);
  REQUIRE(c.ok());
  auto r = (*c)->Get("k");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnavailable);
  uint64_t t = (*c)->SendSet("k", "v");
  std::vector<Completion> done;
  while (done.empty()) done = (*c)->Poll(1000);
  CHECK(done[0].ticket == t);
  CHECK(done[0].status.code() == Code::kUnavailable);
}

// ---- coalesced gets against nodes on loopback --------------------------------

namespace {

// A TCP port nothing listens on just now.
uint16_t FreePort() {
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::router);
  s.set(zmq::sockopt::linger, 0);
  s.bind("tcp://127.0.0.1:*");
  const std::string ep = s.get(zmq::sockopt::last_endpoint);
  return static_cast<uint16_t>(std::stoi(ep.substr(ep.rfind(':') + 1)));
}

// The origin behind every test node: "v:" + key, a miss for keys starting
// "none", a load error for keys starting "bad".
Result<std::optional<Loaded>> Origin(std::string_view key) {
  if (key.starts_with("bad"))
    return Status::Error(Code::kInternal, "origin refused " + std::string(key));
  if (key.starts_with("none")) return std::optional<Loaded>();
  return std::optional<Loaded>(Loaded{"v:" + std::string(key)});
}

std::unique_ptr<Node> StartNode(std::vector<std::string> join = {}) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    NodeOptions o;
    o.port = FreePort();
    o.gossip_port = FreePort();
    o.join = join;
    o.heartbeat_ms = 100;
    o.handoff_ms = 0;
    o.drain_ms = 100;
    auto node = Node::Start(o, Origin);
    if (node.ok()) return std::move(*node);
  }
  FAIL("no node started");
  return nullptr;
}

// The real transport, with every request it sends decoded and kept.
class RecordingTransport final : public client::Transport {
 public:
  bool Send(const std::string& node, uint64_t id, std::string body) override {
    auto r = protocol::DecodeRequest(body, protocol::Limits{});
    if (r.request.op != protocol::Op::kRing) sent.emplace_back(node, r.request);
    return real.Send(node, id, std::move(body));
  }
  void Cancel(const std::string& node, uint64_t id) override { real.Cancel(node, id); }
  void Wait(int64_t timeout_ms, client::TransportEvents* events) override {
    real.Wait(timeout_ms, events);
  }
  void Retain(const std::set<std::string>& keep) override { real.Retain(keep); }

  client::ZmqTransport real{SystemClock::Get(), 1000, 1 << 20};
  std::vector<std::pair<std::string, protocol::Request>> sent;
};

std::map<uint64_t, Completion> PollAll(Client& c) {
  std::map<uint64_t, Completion> out;
  const int64_t end = SystemClock::Get()->NowMs() + 10'000;
  while (c.pending() > 0 && SystemClock::Get()->NowMs() < end) {
    for (Completion& d : c.Poll(1000)) out[d.ticket] = std::move(d);
  }
  CHECK(c.pending() == 0);
  return out;
}

}  // namespace

TEST_CASE("coalesced gets reach a node on loopback as one mget, each answered on its ticket",
          "[client]") {
  auto node = StartNode();
  ClientOptions o;
  o.seeds = {node->id()};
  o.coalesce_gets = 8;
  RecordingTransport net;
  client::Engine engine(o, &net, SystemClock::Get());
  REQUIRE(engine.SyncRing().ok());
  std::vector<std::string> keys;
  for (int i = 0; i < 11; ++i) keys.push_back((i % 3 == 1 ? "none" : "k") + std::to_string(i));
  std::map<uint64_t, std::string> key_of;
  for (const auto& k : keys) {
    key_of[engine.Start(protocol::Request{.op = protocol::Op::kGet, .keys = {k}}, {}, true)] = k;
  }
  REQUIRE(net.sent.size() == 1);  // the first 8, at the 8th
  CHECK(net.sent[0].second.op == protocol::Op::kMget);
  CHECK(net.sent[0].second.keys == std::vector<std::string>(keys.begin(), keys.begin() + 8));
  std::map<uint64_t, client::Done> done;
  const int64_t end = SystemClock::Get()->NowMs() + 10'000;
  while (done.size() < keys.size() && SystemClock::Get()->NowMs() < end) {
    for (client::Done& d : engine.Poll(1000)) done[d.ticket] = std::move(d);
  }
  REQUIRE(net.sent.size() == 2);  // the other 3, at the Poll
  CHECK(net.sent[1].second.keys == std::vector<std::string>(keys.begin() + 8, keys.end()));
  REQUIRE(done.size() == keys.size());
  for (const auto& [ticket, key] : key_of) {
    const client::Done& d = done.at(ticket);
    REQUIRE(d.status.ok());
    if (key.starts_with("none")) {
      CHECK(d.reply.status == protocol::ReplyStatus::kMiss);
    } else {
      CHECK(d.reply.value == "v:" + key);
    }
  }
}

TEST_CASE("a load that fails for one coalesced get fails that get alone", "[client]") {
  auto node = StartNode();
  ClientOptions o;
  o.seeds = {node->id()};
  o.coalesce_gets = 16;
  auto c = Client::Connect(o);
  REQUIRE(c.ok());
  REQUIRE((*c)->Set("set:1", "stored").ok());
  const uint64_t good = (*c)->SendGet("good:1"), bad = (*c)->SendGet("bad:1"),
                 stored = (*c)->SendGet("set:1"), none = (*c)->SendGet("none:1");
  auto done = PollAll(**c);
  REQUIRE(done.size() == 4);
  CHECK(done.at(good).value == std::optional<std::string>("v:good:1"));
  CHECK(done.at(bad).status.code() == Code::kLoadFailed);
  CHECK(done.at(bad).status.message().find("origin refused bad:1") != std::string::npos);
  CHECK(done.at(stored).value == std::optional<std::string>("stored"));
  CHECK(done.at(none).status.ok());
  CHECK_FALSE(done.at(none).value.has_value());
  // A synchronous get is never held: it is answered without a Poll.
  CHECK((*c)->Get("k").value() == std::optional<std::string>("v:k"));
}

TEST_CASE("coalesced gets for a node that went away are read from another", "[client]") {
  auto first = StartNode();
  auto second = StartNode({first->id()});
  ClientOptions o;
  o.seeds = {first->id()};
  o.coalesce_gets = 16;
  o.connect_timeout_ms = 200;
  auto c = Client::Connect(o);
  REQUIRE(c.ok());
  for (int i = 0; i < 100; ++i) {  // until the client's ring has both
    auto ring = (*c)->RingInfo();
    REQUIRE(ring.ok());
    if (ring->members.size() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE((*c)->RingInfo()->members.size() == 2);
  std::map<uint64_t, std::string> key_of;
  for (int i = 0; i < 40; ++i) {
    const std::string key = "k" + std::to_string(i);
    key_of[(*c)->SendGet(key)] = key;
  }
  second->Stop();  // with gets for it held
  auto done = PollAll(**c);
  REQUIRE(done.size() == key_of.size());
  for (const auto& [ticket, key] : key_of) {
    INFO(key << ": " << done.at(ticket).status.ToString());
    CHECK(done.at(ticket).value == std::optional<std::string>("v:" + key));
  }
}

TEST_CASE("Node::Start refuses timers and ports that cannot work, and binds a host name",
          "[node]") {
  NodeOptions o;
  o.port = FreePort();
  o.gossip_port = FreePort();
  o.suspect_ms = 3000;
  o.dead_ms = 3000;
  auto refused = Node::Start(o, Origin);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kInvalidArgument);
  CHECK(refused.status().message() == "suspect-ms (3000) must be below dead-ms (3000)");

  NodeOptions top;
  top.port = 65535;  // the gossip port would be 65536
  auto no_gossip = Node::Start(top, Origin);
  REQUIRE_FALSE(no_gossip.ok());
  CHECK(no_gossip.status().code() == Code::kInvalidArgument);

  NodeOptions named;
  named.bind = "nosuchhost.invalid";
  CHECK(Node::Start(named, Origin).status().code() == Code::kInvalidArgument);
  named.bind = "localhost";
  named.port = FreePort();
  named.gossip_port = FreePort();
  auto node = Node::Start(named, Origin);
  REQUIRE(node.ok());
  CHECK((*node)->id() == "tcp://127.0.0.1:" + std::to_string(named.port));
  (*node)->Stop();
}

TEST_CASE("Node::Stop returns while an embedded loader never does", "[node]") {
  // The loader blocks until the test lets it go, after Stop has returned.
  auto gate = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = gate->get_future().share();
  auto entered = std::make_shared<std::promise<void>>();
  NodeOptions o;
  o.port = FreePort();
  o.gossip_port = FreePort();
  o.drain_ms = 100;
  o.handoff_ms = 0;
  auto node =
      Node::Start(o, [released, entered](std::string_view) -> Result<std::optional<Loaded>> {
        entered->set_value();
        released.wait();
        return std::optional<Loaded>();
      });
  REQUIRE(node.ok());
  std::thread getter([&] { (void)(*node)->Get("hangs"); });  // answered `unavailable` at the stop
  REQUIRE(entered->get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  auto stopped = std::async(std::launch::async, [&] { (*node)->Stop(); });
  CHECK(stopped.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  gate->set_value();  // the abandoned worker may finish now
  stopped.wait();
  getter.join();
}
