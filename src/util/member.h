// What the mesh says about one member: the unit of gossip, of the join
// snapshot and of the ring listing.
#pragma once

#include <cstdint>
#include <string>

#include "util/node_state.h"

namespace meshcache {

struct MemberInfo {
  std::string id;       // the advertised service endpoint; unique in the mesh
  std::string service;  // service (ROUTER) endpoint, equal to id
  std::string gossip;   // gossip (PUB) endpoint
  NodeState state = NodeState::kAlive;
  uint64_t incarnation = 0;  // raised only by the member itself
  // Its CURVE public key (Z85, 40 characters), which its sockets serve
  // with and peers connect to it with; empty without CURVE.
  std::string curve_key;

  bool operator==(const MemberInfo&) const = default;
};

}  // namespace meshcache
