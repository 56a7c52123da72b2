// An installed meshcache used from C++: an embedded node with a loader on the
// loopback ports given, and a client that sets, gets, loads and deletes
// through it. Prints one line per failed check; exits non-zero on any.
//
//   cpp_consumer PORT GOSSIP_PORT VERSION
#include <cstdio>
#include <cstdlib>
#include <meshcache/client.hpp>
#include <meshcache/curve.hpp>
#include <meshcache/node.hpp>
#include <optional>
#include <string>

namespace {

int failed = 0;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "cpp_consumer: failed: %s\n", what);
    ++failed;
  }
}

meshcache::Result<std::optional<meshcache::Loaded>> Load(std::string_view key) {
  if (key.rfind("origin:", 0) != 0) return std::optional<meshcache::Loaded>();
  return std::optional<meshcache::Loaded>(meshcache::Loaded{"loaded " + std::string(key)});
}

void UseClient(const std::string& seed, const std::string& version) {
  Check(!meshcache::Client::Connect({}).ok(), "Connect without seeds fails");
  meshcache::ClientOptions o;
  o.seeds = {seed};
  o.timeout_ms = 5000;
  auto client = meshcache::Client::Connect(o);
  if (!client.ok()) {
    std::fprintf(stderr, "cpp_consumer: Connect: %s\n", client.status().ToString().c_str());
    ++failed;
    return;
  }
  auto ping = (*client)->Ping();
  Check(ping.ok() && ping->version == version, "Ping names the installed version");
  Check((*client)->Set("user:1", "alice").ok(), "Set");
  auto v = (*client)->Get("user:1");
  Check(v.ok() && *v == std::optional<std::string>("alice"), "Get returns what was set");
  auto loaded = (*client)->Get("origin:7");
  Check(loaded.ok() && *loaded == std::optional<std::string>("loaded origin:7"),
        "a miss goes to the node's loader");
  auto missing = (*client)->Get("nothing");
  Check(missing.ok() && !missing->has_value(), "a miss is an ok nullopt");
  auto existed = (*client)->Del("user:1");
  Check(existed.ok() && *existed, "Del of an existing key");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: cpp_consumer PORT GOSSIP_PORT VERSION\n");
    return 2;
  }
  Check(meshcache::IsCurveKey(meshcache::NewCurveKeyPair().public_key), "a new CURVE key");
  meshcache::NodeOptions o;
  o.port = static_cast<uint16_t>(std::atoi(argv[1]));
  o.gossip_port = static_cast<uint16_t>(std::atoi(argv[2]));
  o.handoff_ms = 0;
  o.drain_ms = 100;
  auto node = meshcache::Node::Start(o, Load);
  if (!node.ok()) {
    std::fprintf(stderr, "cpp_consumer: Node::Start: %s\n", node.status().ToString().c_str());
    return 1;
  }
  UseClient((*node)->id(), argv[3]);
  auto direct = (*node)->Get("origin:8");
  Check(direct.ok() && *direct == std::optional<std::string>("loaded origin:8"),
        "Node::Get loads through the mesh");
  (*node)->Stop();
  Check(!(*node)->running(), "the node stops");
  if (failed == 0) std::printf("cpp_consumer: ok\n");
  return failed == 0 ? 0 : 1;
}
