// Peers: how a node reaches the other nodes, as groupcache's peer picker and
// memberlist's transport do. ZmqPeers is the real one (DEALERs, PUB, SUB);
// tests/unit drives the node's parts through a fake that records what was
// sent and published.
//
// Requests go to a peer's service endpoint as whole protocol bodies; replies
// and gossip come back through whoever polls the real sockets (the engine).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/member.h"

namespace meshcache::node {

class Peers {
 public:
  virtual ~Peers() = default;
  // Sends the request body (its wire id is `id`) to the node at `endpoint`,
  // or holds it until the connection to that node is up. Never blocks. False
  // only when the endpoint can never be reached (malformed); nothing is held
  // then.
  virtual bool Send(const std::string& endpoint, uint64_t id, std::string body) = 0;
  // Takes back a held request that has not left yet (its deadline passed).
  virtual void Cancel(const std::string& endpoint, uint64_t id) = 0;
  // Publishes one gossip message to every subscriber. Lossy by design.
  virtual void Publish(std::string_view body) = 0;
  // The members to stay in touch with (this node excluded): subscribes to
  // each one's gossip (a link to its service opens with the first Send);
  // lets go of members followed before and absent now.
  virtual void Follow(const std::vector<MemberInfo>& members) = 0;
  // The members (by id) whose heartbeats this node hears, out of those it
  // follows; invalidations are heard from every member followed. The
  // default hears every heartbeat (a transport that cannot filter).
  virtual void Listen(const std::vector<std::string>& ids) { (void)ids; }
  // A member whose heartbeats this node listens to has been silent: its
  // gossip link is connected afresh (a link that a cut left half-open
  // would otherwise wait out TCP's retransmission backoff).
  virtual void Refresh(const std::string& id) { (void)id; }
};

}  // namespace meshcache::node
