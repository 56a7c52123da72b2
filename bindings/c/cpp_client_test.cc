// The C++ client against a real mesh: three embedded nodes on free loopback
// ports in this process, over TCP like any client. Smart routing, pipelining,
// mget merging, error codes, deadlines and a node that stops.
#define CATCH_CONFIG_MAIN
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "meshcache/client.hpp"
#include "meshcache/curve.hpp"
#include "meshcache/node.hpp"

using namespace meshcache;

namespace {

// A loopback TCP port free right now (the kernel's choice).
uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Holds loads of keys starting with "slow:" until Release().
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
  Loader AsLoader() {
    return [this](std::string_view key) -> Result<std::optional<Loaded>> {
      if (key.substr(0, 5) != "slow:") return std::optional<Loaded>();
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::seconds(5), [this] { return open; });
      return std::optional<Loaded>(Loaded{"loaded", 0});
    };
  }
};

// CURVE with a key pair per node: keys[i] is node i's, every node lists
// them all as peers and `client`'s public key as a client.
struct OwnKeys {
  std::vector<CurveKeyPair> nodes;
  CurveKeyPair client = NewCurveKeyPair();
};

struct Mesh {
  explicit Mesh(size_t n, const OwnKeys* curve = nullptr) : curve(curve) {
    for (size_t i = 0; i < n; ++i) Add();
    for (const auto& node : nodes) WaitMembers(*node, n);
  }
  ~Mesh() { gate.Release(); }

  void Add() {
    for (int attempt = 0;; ++attempt) {
      NodeOptions o;
      o.port = FreePort();
      o.gossip_port = FreePort();
      o.heartbeat_ms = 50;
      o.dead_ms = 1000;
      o.max_value_bytes = 4096;
      if (!ids.empty()) o.join = {ids[0]};
      if (curve) {
        o.curve_secret_key = curve->nodes[nodes.size()].secret_key;
        for (const CurveKeyPair& k : curve->nodes) o.curve_peers.push_back(k.public_key);
        o.curve_clients = {curve->client.public_key};
      }
      auto node = Node::Start(o, gate.AsLoader());
      if (!node.ok() && attempt < 5) continue;  // a port was taken meanwhile
      REQUIRE(node.ok());
      ids.push_back((*node)->id());
      nodes.push_back(std::move(*node));
      return;
    }
  }

  static void WaitMembers(Node& node, size_t alive) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      auto members = node.Members();
      size_t n = 0;
      if (members.ok()) {
        for (const auto& [id, state] : *members) n += state == "alive";
      }
      if (n == alive) return;
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
    }
  }

  int64_t Forwards() {
    int64_t total = 0;
    for (auto& node : nodes) {
      if (!node->running()) continue;
      auto stats = node->Stats();
      REQUIRE(stats.ok());
      for (const auto& [name, value] : stats.value()) {
        if (name == "forwards") total += std::stoll(value);
      }
    }
    return total;
  }

  std::unique_ptr<Client> Connect(bool smart = true, int64_t timeout_ms = 2000) {
    ClientOptions o;
    o.seeds = {ids[0]};
    o.smart_routing = smart;
    o.timeout_ms = timeout_ms;
    auto c = Client::Connect(o);
    REQUIRE(c.ok());
    return std::move(*c);
  }

  const OwnKeys* curve;
  Gate gate;  // outlives the nodes, whose loaders wait on it
  std::vector<std::unique_ptr<Node>> nodes;
  std::vector<std::string> ids;
};

std::vector<std::string> Keys(const std::string& prefix, int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(prefix + std::to_string(i));
  return keys;
}

}  // namespace

TEST_CASE("smart client sends every key straight to its owner") {
  Mesh mesh(3);
  auto c = mesh.Connect();
  const int64_t before = mesh.Forwards();
  auto keys = Keys("own:", 60);
  for (const auto& k : keys) REQUIRE(c->Set(k, "v-" + k).ok());
  for (const auto& k : keys) CHECK(*c->Get(k) == std::optional<std::string>("v-" + k));
  auto all = c->MGet(keys);
  REQUIRE(all.ok());
  for (size_t i = 0; i < keys.size(); ++i) CHECK((*all)[i] == "v-" + keys[i]);
  CHECK(mesh.Forwards() == before);
  auto ring = c->RingInfo();
  REQUIRE(ring.ok());
  CHECK(ring->members.size() == 3);
}

TEST_CASE("with a key pair per node, a smart client reaches each owner with the ring's key") {
  OwnKeys keys;
  for (int i = 0; i < 3; ++i) keys.nodes.push_back(NewCurveKeyPair());
  Mesh mesh(3, &keys);
  ClientOptions o;
  o.seeds = {mesh.ids[0]};
  o.timeout_ms = 2000;
  o.curve_server_key = keys.nodes[0].public_key;  // the seed's; the ring names the others'
  o.curve_public_key = keys.client.public_key;
  o.curve_secret_key = keys.client.secret_key;
  auto c = Client::Connect(o);
  REQUIRE(c.ok());
  const int64_t before = mesh.Forwards();
  auto all = Keys("own-keys:", 60);
  for (const auto& k : all) REQUIRE((*c)->Set(k, "v-" + k).ok());
  for (const auto& k : all) CHECK(*(*c)->Get(k) == std::optional<std::string>("v-" + k));
  CHECK(mesh.Forwards() == before);  // straight to every owner: no node forwarded
}

TEST_CASE("client without smart routing goes through its seed, which forwards") {
  Mesh mesh(3);
  auto c = mesh.Connect(/*smart=*/false);
  const int64_t before = mesh.Forwards();
  for (const auto& k : Keys("seed:", 30)) REQUIRE(c->Set(k, "v").ok());
  CHECK(mesh.Forwards() > before);
}

TEST_CASE("pipelined requests complete, each under its own ticket") {
  Mesh mesh(3);
  auto c = mesh.Connect();
  auto keys = Keys("pipe:", 300);
  std::map<uint64_t, std::string> sets, gets;
  for (const auto& k : keys) sets[c->SendSet(k, "v-" + k)] = k;
  CHECK(c->pending() == keys.size());
  while (!sets.empty()) {  // every call finishes by its deadline
    for (Completion& done : c->Poll(1000)) {
      REQUIRE(done.status.ok());
      CHECK(sets.erase(done.ticket) == 1);
    }
  }
  for (const auto& k : keys) gets[c->SendGet(k)] = k;
  while (!gets.empty()) {
    for (Completion& done : c->Poll(1000)) {
      REQUIRE(done.status.ok());
      REQUIRE(gets.count(done.ticket) == 1);
      CHECK(done.value == "v-" + gets[done.ticket]);
      gets.erase(done.ticket);
    }
  }
  CHECK(c->pending() == 0);
  uint64_t mget = c->SendMGet({keys[5], "pipe:none", keys[7]});
  uint64_t del = c->SendDel(keys[5]);
  std::map<uint64_t, Completion> done;
  while (done.size() < 2) {
    for (Completion& d : c->Poll(1000)) done[d.ticket] = std::move(d);
  }
  CHECK(done[mget].values ==
        std::vector<std::optional<std::string>>{"v-" + keys[5], std::nullopt, "v-" + keys[7]});
  CHECK(done[del].existed);
}

TEST_CASE("node errors reach the caller with their wire codes") {
  Mesh mesh(2);
  auto c = mesh.Connect();
  CHECK(c->Set("big", std::string(5000, 'x')).code() == Code::kTooLarge);
  CHECK(c->Get(std::string(2000, 'k')).status().code() == Code::kTooLarge);
  CHECK(c->Set("fits", std::string(4096, 'x')).ok());
}

TEST_CASE("a call past its deadline times out and its late reply is dropped") {
  Mesh mesh(2);
  auto c = mesh.Connect(true, /*timeout_ms=*/300);
  auto slow = c->Get("slow:1");
  REQUIRE_FALSE(slow.ok());
  CHECK(slow.status().code() == Code::kTimeout);
  mesh.gate.Release();
  // The load finishes and its reply arrives late; later calls are not confused.
  REQUIRE(c->Set("after", "fresh").ok());
  for (int i = 0; i < 5; ++i) CHECK(*c->Get("after") == std::optional<std::string>("fresh"));
  CHECK(*c->Get("slow:1") == std::optional<std::string>("loaded"));
}

TEST_CASE("a stopped node's keys are served by the others without a restart") {
  Mesh mesh(3);
  auto c = mesh.Connect();
  auto keys = Keys("stop:", 40);
  for (const auto& k : keys) REQUIRE(c->Set(k, "v").ok());
  mesh.nodes[2]->Stop();
  Mesh::WaitMembers(*mesh.nodes[0], 2);
  for (const auto& k : keys) CHECK(c->Set(k, "again").ok());
  auto all = c->MGet(keys);
  REQUIRE(all.ok());
  for (const auto& v : *all) CHECK(v == std::optional<std::string>("again"));
  auto ring = c->RingInfo();
  REQUIRE(ring.ok());
  size_t alive = 0;
  for (const auto& m : ring->members) alive += m.state == "alive";
  CHECK(alive == 2);
}
