// Every name the protocol puts on the wire for an op, a reply status or a
// gossip kind lives here, so the codec and docs/protocol.md have one source.
#include "protocol/messages.h"

#include <array>

namespace meshcache::protocol {
namespace {

constexpr std::array<const char*, 17> kOpNames = {
    "ping", "get",     "mget", "set",   "del",  "ring", "stats", "fwd",   "join",
    "load", "handoff", "peek", "probe", "gets", "setx", "incr",  "touch",
};
constexpr std::array<const char*, 6> kWriteModeNames = {"set",    "add",     "replace",
                                                        "append", "prepend", "delete"};
constexpr std::array<const char*, 5> kOutcomeNames = {"stored", "not_stored", "exists", "not_found",
                                                      "non_numeric"};
constexpr std::array<const char*, 3> kStatusNames = {"ok", "miss", "err"};
constexpr std::array<const char*, 2> kGossipNames = {"hb", "inv"};

template <typename Enum, size_t N>
std::optional<Enum> FromName(const std::array<const char*, N>& names, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

}  // namespace

const char* OpName(Op op) { return kOpNames[static_cast<size_t>(op)]; }
std::optional<Op> OpFromName(std::string_view name) { return FromName<Op>(kOpNames, name); }
const char* WriteOutcomeName(WriteOutcome outcome) {
  return kOutcomeNames[static_cast<size_t>(outcome)];
}
std::optional<WriteOutcome> WriteOutcomeFromName(std::string_view name) {
  return FromName<WriteOutcome>(kOutcomeNames, name);
}
const char* WriteModeName(WriteMode mode) { return kWriteModeNames[static_cast<size_t>(mode)]; }
std::optional<WriteMode> WriteModeFromName(std::string_view name) {
  return FromName<WriteMode>(kWriteModeNames, name);
}

bool PeerOnly(Op op) {
  switch (op) {
    case Op::kPing:
    case Op::kGet:
    case Op::kMget:
    case Op::kSet:
    case Op::kDel:
    case Op::kRing:
    case Op::kStats:
    case Op::kGets:
    case Op::kSetx:
    case Op::kIncr:
    case Op::kTouch:
      return false;
    case Op::kFwd:
    case Op::kJoin:
    case Op::kLoad:
    case Op::kHandoff:
    case Op::kPeek:
    case Op::kProbe:
      return true;
  }
  return true;
}

const char* ReplyStatusName(ReplyStatus status) {
  return kStatusNames[static_cast<size_t>(status)];
}
std::optional<ReplyStatus> ReplyStatusFromName(std::string_view name) {
  return FromName<ReplyStatus>(kStatusNames, name);
}

const char* GossipKindName(Gossip::Kind kind) { return kGossipNames[static_cast<size_t>(kind)]; }
std::optional<Gossip::Kind> GossipKindFromName(std::string_view name) {
  return FromName<Gossip::Kind>(kGossipNames, name);
}

std::vector<std::pair<std::string, std::string>> StatsAsText(const StatList& stats) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(stats.size());
  for (const auto& [name, v] : stats) {
    out.emplace_back(name, std::holds_alternative<int64_t>(v) ? std::to_string(std::get<int64_t>(v))
                                                              : std::get<std::string>(v));
  }
  return out;
}

}  // namespace meshcache::protocol
