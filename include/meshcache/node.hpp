// Node: one member of a meshcache mesh, embeddable in a C++ program (as
// groupcache is in Go programs) and the engine of the meshcached daemon.
//
//   meshcache::NodeOptions o;  o.port = 7400;  o.join = {"tcp://127.0.0.1:7500"};
//   auto node = meshcache::Node::Start(o, [](std::string_view key) { ... });
//   if (!node.ok()) { ... node.status().ToString() ... }
//   auto v = (*node)->Get("user:42");   // through the mesh: owner, loader, hot copy
//
// Start binds the sockets (errors come back as a Status) and runs the node on
// its own I/O thread, which owns every socket. The methods below reach that
// thread over inproc and are safe from any thread (calls are serialised).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "meshcache/loader.hpp"
#include "meshcache/options.hpp"
#include "meshcache/status.hpp"

namespace meshcache {

class Node {
 public:
  // Starts a node; `loader` may be empty (then options.loader_endpoint, if
  // set, names an origin service).
  static Result<std::unique_ptr<Node>> Start(const NodeOptions& options, Loader loader = {});
  // Stops the node as Stop() does.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Graceful stop: announces `left`, lets in-flight requests finish (up to
  // drain_ms), closes every socket. Idempotent. Returns when the thread is gone.
  void Stop();
  // True until Stop() has finished (or the I/O thread failed).
  bool running() const;
  // tcp://ADVERTISE:PORT
  const std::string& id() const;
  const std::string& gossip_endpoint() const;

  // The mesh as seen from this node, like a client's requests. A miss is an
  // ok Result holding nullopt.
  Result<std::optional<std::string>> Get(std::string_view key);
  Result<std::vector<std::optional<std::string>>> MGet(const std::vector<std::string>& keys);
  // ttl_ms: nullopt = the node's default, 0 = never expire.
  Status Set(std::string_view key, std::string_view value,
             std::optional<uint64_t> ttl_ms = std::nullopt);
  // True when the key existed.
  Result<bool> Del(std::string_view key);
  // This node's counters (the protocol's `stats`), name -> value as text.
  Result<std::vector<std::pair<std::string, std::string>>> Stats();
  // Members as this node sees them: (id, state).
  Result<std::vector<std::pair<std::string, std::string>>> Members();

 private:
  struct Impl;
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshcache
