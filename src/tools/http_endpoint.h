// meshcached's HTTP side (--http-port): what operators and orchestrators
// read, served by cpp-httplib (Debian's libcpp-httplib-dev) on its own
// threads, each request asking the node through its public API (safe from
// any thread: node.hpp).
//
//   /metrics  the node's counters in the Prometheus text format, named as
//             memcached_exporter and redis_exporter name theirs where one
//             applies (meshcache_commands_total{command="get",status="hit"},
//             meshcache_items, meshcache_peers{state="alive"}, ...)
//   /healthz  200 while the node runs, else 503
//   /readyz   200 once the node is ready to serve: it runs, it is alive on its
//             own table (so on its ring) and, when it was told to join, it
//             has joined (another member is alive); else 503 with the reason
//   /         the status page for people (status_page.h), drawn from
//   /status.json
//
// The text of /metrics comes from PrometheusText, a pure function of the
// node's stats and members, so that tests can check it without a node.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "meshcache/node.hpp"
#include "meshcache/status.hpp"

namespace meshcache::tools {

using StatList = std::vector<std::pair<std::string, std::string>>;
using MemberList = std::vector<std::pair<std::string, std::string>>;  // (id, state)

// The Prometheus text (exposition format 0.0.4) of a node's stats (name,
// value as text) and members (id, state).
std::string PrometheusText(const StatList& stats, const MemberList& members);

// Why the node is not ready, or empty when it is. joining: it was given
// nodes to join through.
std::string NotReadyReason(bool running, const std::string& self, const MemberList& members,
                           bool joining);

class HttpEndpoint {
 public:
  // Binds host:port and serves on a thread of its own until destroyed.
  // joining: the node was given nodes to join through; vnodes: its ring's.
  // REQUIRES: node outlives the endpoint.
  static Result<std::unique_ptr<HttpEndpoint>> Start(Node& node, const std::string& host, int port,
                                                     bool joining, uint32_t vnodes);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

 private:
  struct Impl;
  explicit HttpEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshcache::tools
