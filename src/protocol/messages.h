// The wire protocol as plain structs: client requests and replies, peer
// requests (fwd, join), origin loads, and gossip. docs/protocol.md is the
// prose form of this file; both follow ../shared/PROTOCOL.md, version 1.
//
// Every body is one msgpack array. Requests: [op, id, args...]. Replies:
// [status, id, results...]. Gossip (PUB, one frame): [kind, from, seq, ...].
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "meshcache/status.hpp"
#include "util/member.h"

namespace meshcache::protocol {

inline constexpr int kProtocolVersion = 1;
inline constexpr const char* kHashName = "xxh32";

enum class Op {
  kPing,
  kGet,
  kMget,
  kSet,
  kDel,
  kRing,
  kStats,
  kFwd,
  kJoin,
  kLoad,
  kHandoff,
  kPeek,
  kProbe,
  // memcached's semantics, for the memcached door (docs/protocol.md
  // "Extensions"): gets with flags, cas and ttl; conditional writes; counters.
  kGets,
  kSetx,
  kIncr,
  kTouch
};

// The last op, for loops over every op.
inline constexpr Op kLastOp = Op::kTouch;

// setx: how a write meets what the owner holds (memcached's set, add,
// replace, append, prepend; a cas is any mode with a non-zero cas), or a
// delete that a cas may condition (meta md's C).
enum class WriteMode { kSet, kAdd, kReplace, kAppend, kPrepend, kDelete };
// "set", "add", ... and the inverse.
const char* WriteModeName(WriteMode mode);
std::optional<WriteMode> WriteModeFromName(std::string_view name);
// "ping", "get", ...
const char* OpName(Op op);
// Inverse of OpName; nullopt for a name that is not an op.
std::optional<Op> OpFromName(std::string_view name);
// Ops only nodes send one another (fwd, join, handoff, peek, probe; load
// goes to an origin): a connection in the client role may not.
bool PeerOnly(Op op);

enum class ReplyStatus { kOk, kMiss, kErr };
// "ok", "miss", "err", and the inverse.
const char* ReplyStatusName(ReplyStatus status);
std::optional<ReplyStatus> ReplyStatusFromName(std::string_view name);

// The keys of the maps in ping and ring replies (docs/protocol.md).
namespace field {
inline constexpr std::string_view kNode = "node";
inline constexpr std::string_view kVersion = "version";
inline constexpr std::string_view kProto = "proto";
inline constexpr std::string_view kEpoch = "epoch";
inline constexpr std::string_view kHash = "hash";
inline constexpr std::string_view kVnodes = "vnodes";
inline constexpr std::string_view kReplicas = "replicas";
inline constexpr std::string_view kNodes = "nodes";
inline constexpr std::string_view kId = "id";
inline constexpr std::string_view kService = "service";
inline constexpr std::string_view kGossip = "gossip";
inline constexpr std::string_view kState = "state";
inline constexpr std::string_view kKey = "key";  // a ring node's CURVE public key
}  // namespace field

// Bounds the decoder enforces; the node derives them from its settings.
struct Limits {
  size_t max_key_bytes = 1024;        // inclusive; larger keys: too_large
  size_t max_value_bytes = 1u << 20;  // inclusive; larger values: too_large
  size_t max_mget_keys = 4096;        // more keys in one mget: too_large
  size_t max_members = 4096;          // entries in a gossip digest or snapshot
  size_t max_depth = 8;               // nesting of msgpack containers
  // A ring reply: vnodes per node (a node takes 1-10000), and nodes x
  // vnodes, the points a client would build.
  uint32_t max_vnodes = 10000;
  size_t max_ring_points = size_t{1} << 22;
  // The whole body; anything longer is rejected before parsing.
  size_t max_body_bytes() const {
    return max_value_bytes + max_key_bytes * (max_mget_keys + 1) + 64 * 1024 + max_members * 256;
  }
};

// A request. Which fields matter depends on op:
//   ping, ring, stats: none
//   get, del, load:    keys[0]
//   mget:              keys
//   set:               keys[0], value, ttl_ms (nullopt: the node's default; 0: no
//                      expiry), flags (wire: a 6th element when not 0)
//   gets:              keys; ttl_ms: when set, each hit's new ttl (gat, touch)
//   setx:              keys[0], value, ttl_ms, flags, mode, cas (0: none)
//   incr:              keys[0], delta, decr, initial (create the key with it
//                      when absent; nullopt: a miss), ttl_ms (of a created key)
//   touch:             keys[0], ttl_ms
//   fwd:               from, inner (never itself a fwd)
//   join:              member (the joiner); members: the sender's table when
//                      the join is a sync between members (push-pull), else empty
//   probe:             member (the sender); target: a member to probe on the
//                      sender's behalf (ping-req), empty for the receiver itself
// One entry a node hands to the key's next holder (handoff): the value, its
// remaining life there (0 = none) and the version of the write that made it.
// deleted: the key was deleted at that version (wire: a nil value); the
// receiver drops an older value and remembers the delete.
struct HandoffEntry {
  std::string key;
  std::string value;
  uint64_t ttl_left_ms = 0;
  uint64_t version = 0;
  bool deleted = false;
  uint32_t flags = 0;  // the client's flags (wire: a 5th element when not 0)

  bool operator==(const HandoffEntry&) const = default;
};

struct Request {
  Op op = Op::kPing;
  uint64_t id = 0;
  std::vector<std::string> keys;
  std::string value;
  std::optional<uint64_t> ttl_ms;
  std::string from;
  std::shared_ptr<const Request> inner;
  // fwd: a write the owner copies to a replica (wire: a 5th element, true).
  // The replica stores it and neither forwards nor replicates it again.
  bool replica = false;
  // fwd: the version the owner stamped on the write it copies to a replica
  // (wire: a 6th element); 0 = none.
  uint64_t version = 0;
  MemberInfo member;
  std::vector<MemberInfo> members;    // join: a sync's pushed table (wire: a 4th element)
  std::string target;                 // probe: the member to probe (wire: a 4th element)
  std::vector<HandoffEntry> entries;  // handoff
  uint32_t flags = 0;                 // set, setx: the client's flags
  WriteMode mode = WriteMode::kSet;   // setx
  uint64_t cas = 0;                   // setx: the version the held value must have
  uint64_t delta = 0;                 // incr
  bool decr = false;                  // incr: subtract (at least 0) instead of add (wraps)
  std::optional<uint64_t> initial;    // incr
  // handoff: the sender passes on entries handed or forwarded to it for keys
  // its ring places elsewhere (wire: a 5th element, true); the receiver
  // keeps them and does not pass them on again, so rings that disagree
  // cannot bounce an entry between two nodes.
  bool relayed = false;
};

// The result of decoding a request. When status is not ok, request.id holds
// the id if it could be read (else 0) so an error reply can echo it.
struct DecodedRequest {
  Status status;
  Request request;
};

using StatValue = std::variant<int64_t, std::string>;
using StatList = std::vector<std::pair<std::string, StatValue>>;
// Every stat as text (integers in decimal), in the same order.
std::vector<std::pair<std::string, std::string>> StatsAsText(const StatList& stats);

struct PingInfo {
  std::string node;
  std::string version;
  int64_t proto = kProtocolVersion;
};

struct RingInfo {
  uint64_t epoch = 0;
  std::string hash = kHashName;
  uint32_t vnodes = 160;
  uint32_t replicas = 1;
  std::vector<MemberInfo> nodes;  // incarnation is not on the wire here
};

// A value with what memcached keeps beside it: a gets reply's entry.
struct ValueMeta {
  std::string value;
  uint32_t flags = 0;
  uint64_t cas = 0;          // the version of the write that made it
  uint64_t ttl_left_ms = 0;  // 0: never expires

  bool operator==(const ValueMeta&) const = default;
};

// setx and incr: what the write did (wire names "stored", "not_stored",
// "exists" (a cas that did not match), "not_found", "non_numeric").
enum class WriteOutcome { kStored, kNotStored, kExists, kNotFound, kNonNumeric };
const char* WriteOutcomeName(WriteOutcome outcome);
std::optional<WriteOutcome> WriteOutcomeFromName(std::string_view name);

// A decoded reply. Which fields are set depends on the op it answers:
//   status kErr: error_code (wire name) and error_message
//   status kMiss: nothing
//   ping: ping; get: value; mget: values; set: nothing; del: existed;
//   ring: ring; stats: stats; join: members; load: value and ttl_ms
//   gets: entries; setx: outcome and cas; incr: outcome, number and cas;
//   touch: existed
struct Reply {
  ReplyStatus status = ReplyStatus::kOk;
  uint64_t id = 0;
  std::string error_code;
  std::string error_message;
  std::string value;
  std::vector<std::optional<std::string>> values;
  bool existed = false;
  std::optional<uint64_t> ttl_ms;
  uint64_t version = 0;  // peek: the entry's version
  uint32_t flags = 0;    // peek: the entry's client flags
  PingInfo ping;
  RingInfo ring;
  StatList stats;
  std::vector<MemberInfo> members;
  std::vector<std::optional<ValueMeta>> entries;
  WriteOutcome outcome = WriteOutcome::kStored;
  uint64_t cas = 0;
  uint64_t number = 0;
};

// Gossip on the PUB socket.
//   kHeartbeat: members is the sender's whole table; invals lists the keys the
//     sender invalidated (set or del as owner) since its previous heartbeat.
//   kInvalidate: sent at once after writes; invals only.
// invals holds at most Limits::max_mget_keys keys (a receiver rejects more).
// invals_overflow: more keys were invalidated than fit; drop every hot copy
// taken from this sender (invals is then empty, nil on the wire).
// seq rises by one per message from a sender, so a receiver that sees a gap
// knows it missed one.
struct Gossip {
  enum class Kind { kHeartbeat, kInvalidate };
  Kind kind = Kind::kHeartbeat;
  std::string from;
  uint64_t seq = 0;
  // hb: the sender's own entry first, then the members whose entries
  // changed lately at the sender (piggy-backed); inv: empty.
  std::vector<MemberInfo> members;
  std::vector<std::string> invals;
  bool invals_overflow = false;
  // hb: a hash of the sender's whole table (Membership::Digest); a receiver
  // whose table hashes otherwise syncs with the sender. Wire: a 6th element.
  std::optional<uint32_t> digest;
};

// "hb", "inv", and the inverse.
const char* GossipKindName(Gossip::Kind kind);
std::optional<Gossip::Kind> GossipKindFromName(std::string_view name);

}  // namespace meshcache::protocol
