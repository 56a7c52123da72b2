#include "util/node_state.h"

namespace meshcache {

const char* NodeStateName(NodeState s) {
  switch (s) {
    case NodeState::kAlive:
      return "alive";
    case NodeState::kSuspect:
      return "suspect";
    case NodeState::kDead:
      return "dead";
    case NodeState::kLeft:
      return "left";
  }
  return "dead";
}

std::optional<NodeState> ParseNodeState(std::string_view name) {
  for (auto s : {NodeState::kAlive, NodeState::kSuspect, NodeState::kDead, NodeState::kLeft}) {
    if (name == NodeStateName(s)) return s;
  }
  return std::nullopt;
}

}  // namespace meshcache
