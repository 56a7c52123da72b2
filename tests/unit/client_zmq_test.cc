// The client's ZeroMQ transport against a bare ROUTER socket, and a client
// with no node to reach.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "client/zmq_transport.h"
#include "meshcache/client.hpp"

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
  REQUIRE(transport.Send(nowhere, 7, "x"));
  client::TransportEvents events;
  const int64_t start = SystemClock::Get()->NowMs();
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
