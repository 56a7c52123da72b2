// What make_corpus's generators share: names, members and gossip bodies.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/codec.h"

namespace meshcache::fuzz::corpus {

using namespace meshcache::protocol;
using Seeds = std::vector<std::pair<std::string, std::string>>;  // (file name, contents)

inline const std::string kSelf = "tcp://self:7400";  // the node under test in every target
inline const std::string kSeed = "tcp://seed:7400";
inline const std::string kA = "tcp://a:7400";
inline const std::string kB = "tcp://b:7400";
inline const std::string kC = "tcp://c:7400";

inline MemberInfo Member(const std::string& id, NodeState state = NodeState::kAlive,
                         uint64_t incarnation = 3) {
  return MemberInfo{id, id, id + "1", state, incarnation};
}

inline std::string Heartbeat(const std::string& from, uint64_t seq, std::vector<MemberInfo> members,
                             std::optional<uint32_t> digest = 7) {
  return EncodeGossip(
      Gossip{.from = from, .seq = seq, .members = std::move(members), .digest = digest});
}

inline std::string Invalidation(const std::string& from, uint64_t seq,
                                std::vector<std::string> keys) {
  return EncodeGossip(Gossip{
      .kind = Gossip::Kind::kInvalidate, .from = from, .seq = seq, .invals = std::move(keys)});
}

inline std::shared_ptr<const Request> Inner(Request r) {
  return std::make_shared<const Request>(std::move(r));
}

// handler_fuzz's seeds (corpus_handler.cc).
Seeds HandlerSeeds();

}  // namespace meshcache::fuzz::corpus
