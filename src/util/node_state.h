// The state of a mesh member, shared by membership, ring and protocol.
#pragma once

#include <optional>
#include <string_view>

namespace meshcache {

// Order matters: at equal incarnation a higher value wins a gossip merge,
// except that kDead and kLeft rank equal (both final for that incarnation).
enum class NodeState { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };

// "alive", "suspect", "dead", "left".
const char* NodeStateName(NodeState s);
std::optional<NodeState> ParseNodeState(std::string_view name);
// Alive and suspect nodes hold ring positions; dead and left do not.
inline bool OnRing(NodeState s) { return s == NodeState::kAlive || s == NodeState::kSuspect; }

}  // namespace meshcache
