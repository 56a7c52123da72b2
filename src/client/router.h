// Router: where the client sends each request. Pure: it knows the seeds, the
// latest ring and which nodes failed recently, and is told the time.
//
// Candidates for a key, best first: with smart routing and a ring, the key's
// holders in ring order (the owner first), then every other node on the
// ring, then the seeds; without, the seeds only. Nodes that failed within
// node_retry_ms and nodes the caller already tried are skipped.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ring/ring.h"

namespace meshcache::client {

// A subset of an mget's keys that go to one node: their positions in the
// request, ascending.
struct KeyGroup {
  std::string node;
  std::vector<size_t> slots;
};

class Router {
 public:
  Router(std::vector<std::string> seeds, bool smart, int64_t node_retry_ms);

  // Replaces the routing ring (smart routing only; ignored otherwise).
  void SetRing(std::shared_ptr<const Ring> ring);
  const std::shared_ptr<const Ring>& ring() const { return ring_; }
  bool smart() const { return smart_; }

  // The node failed at now_ms: skip it until now_ms + node_retry_ms.
  void MarkDown(const std::string& node, int64_t now_ms);
  bool IsDown(const std::string& node, int64_t now_ms) const;

  // The first candidate for the key not in `tried`, or nullopt.
  std::optional<std::string> ForKey(std::string_view key, int64_t now_ms,
                                    const std::vector<std::string>& tried) const;
  // The first usable node for a request about no key: seeds first.
  std::optional<std::string> AnyNode(int64_t now_ms, const std::vector<std::string>& tried) const;
  // Splits keys by ForKey(key, now_ms, {}), groups in order of first
  // appearance. Keys with no candidate are left out; *unrouted (if given)
  // receives their slots.
  std::vector<KeyGroup> Split(const std::vector<std::string>& keys, int64_t now_ms,
                              std::vector<size_t>* unrouted = nullptr) const;
  // Every node the router may pick (seeds and the ring's live members).
  std::set<std::string> Known() const;

 private:
  bool Usable(const std::string& node, int64_t now_ms, const std::vector<std::string>& tried) const;
  // The service endpoint of a ring member id.
  const std::string& ServiceOf(const std::string& id) const;

  std::vector<std::string> seeds_;
  bool smart_;
  int64_t node_retry_ms_;
  std::shared_ptr<const Ring> ring_;
  std::map<std::string, int64_t, std::less<>> down_until_;
};

}  // namespace meshcache::client
