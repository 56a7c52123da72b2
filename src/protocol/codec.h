// Codec: msgpack <-> the structs of messages.h.
//
// Decoding never throws, never crashes and never allocates beyond what the
// Limits allow, for any input bytes: msgpack's unpack limits are set from
// Limits, its exceptions are caught here, and a failure is a Status
// (bad_request, or too_large for a key, value or list over its limit).
// Encoders produce exactly the layouts in docs/protocol.md.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "meshcache/status.hpp"
#include "protocol/messages.h"
#include "util/bytes.h"

namespace meshcache::protocol {

// --- requests --------------------------------------------------------------
std::string EncodeRequest(const Request& request);
// Unknown trailing elements are ignored; missing required ones, wrong types,
// an unknown op, a fwd inside a fwd: bad_request.
DecodedRequest DecodeRequest(std::string_view body, const Limits& limits);

// The node's fast path for the request it answers most: ["get", id, key]
// with the op a fixstr, the id a positive integer and the key a str or bin
// of at most max_key_bytes, nothing after it. Returns nullopt for every
// other body, which DecodeRequest then reads (and refuses, if it must);
// where it returns a value, DecodeRequest reads the same get. key views
// body.
struct QuickGet {
  uint64_t id = 0;
  std::string_view key;
};
std::optional<QuickGet> DecodeQuickGet(std::string_view body, const Limits& limits);
// The same for ["mget", id, [key, ...]] with 1 to max_mget_keys keys (a
// fixarray or array 16): true with *out filled (keys view body; out's
// vector keeps its capacity from call to call), false for every other body.
struct QuickMget {
  uint64_t id = 0;
  std::vector<std::string_view> keys;
};
bool DecodeQuickMget(std::string_view body, const Limits& limits, QuickMget* out);
// The same for ["set", id, key, value], ["set", id, key, value, ttl_ms] (ttl_ms
// a positive integer or nil, nil read as absent) and ["del", id, key]: key
// and value a str or bin within the limits, nothing after them. key and
// value view body. The node also describes its own writes with it.
struct QuickWrite {
  Op op = Op::kSet;  // kSet or kDel
  uint64_t id = 0;
  std::string_view key;
  std::string_view value;          // set only
  std::optional<uint64_t> ttl_ms;  // set only; absent: the node's default
};
std::optional<QuickWrite> DecodeQuickWrite(std::string_view body, const Limits& limits);

// --- replies (encoders used by the node and by origin services) -------------
std::string EncodeOk(uint64_t id);    // set
std::string EncodeMiss(uint64_t id);  // get, load
std::string EncodeError(uint64_t id, Code code, std::string_view message);
// get. ttl_left_ms: the value's remaining life at the owner, sent only in
// replies to a peer's fwd (["ok", id, value, ttl_left_ms], 0 = no expiry) so
// that a hot copy never outlives the value; DecodeReply puts it in ttl_ms.
// version: the entry's version, sent only in replies to a peer's peek
// (["ok", id, value, ttl_left_ms, version]); DecodeReply puts it in version.
// flags: the entry's client flags, after the version when not 0 (a peek's
// reply, so that the new owner keeps them); DecodeReply puts them in flags.
std::string EncodeValue(uint64_t id, std::string_view value,
                        std::optional<uint64_t> ttl_left_ms = std::nullopt,
                        std::optional<uint64_t> version = std::nullopt, uint32_t flags = 0);
// EncodeValue(id, value) into *out (its capacity reused: no allocation once
// it has grown to a reply's size).
void EncodeValueTo(std::string* out, uint64_t id, std::string_view value);
// EncodeOk(id) (existed absent) or EncodeExisted(id, *existed) into *out,
// likewise: a set's or a del's reply.
void EncodeWrittenTo(std::string* out, uint64_t id, std::optional<bool> existed);
// EncodeValues(id, values) into *out, likewise: an mget's reply, a missing
// value as nil.
void EncodeValuesTo(std::string* out, uint64_t id, std::span<const std::optional<Value>> values);
// mget, one entry per key: nullptr / nullopt = nil.
std::string EncodeValues(uint64_t id, const std::vector<const std::string*>& values);
std::string EncodeValues(uint64_t id, const std::vector<std::optional<std::string_view>>& values);
std::string EncodeExisted(uint64_t id, bool existed);  // del
std::string EncodePing(uint64_t id, const PingInfo& info);
std::string EncodeRing(uint64_t id, const RingInfo& ring);
std::string EncodeStats(uint64_t id, const StatList& stats);
std::string EncodeMembers(uint64_t id, const std::vector<MemberInfo>& members);  // join, probe
std::string EncodeLoaded(uint64_t id, std::string_view value, uint64_t ttl_ms);  // load
// gets: ["ok", id, [[value, flags, cas, ttl_left_ms] or nil, ...]] in request order.
std::string EncodeEntries(uint64_t id, const std::vector<std::optional<ValueMeta>>& entries);
// setx: ["ok", id, outcome, cas]; incr: ["ok", id, outcome, cas, number].
std::string EncodeWritten(uint64_t id, WriteOutcome outcome, uint64_t cas,
                          std::optional<uint64_t> number = std::nullopt);

// Decodes a reply to a request of the given op. A reply whose shape does not
// fit the op is bad_request.
Result<Reply> DecodeReply(std::string_view body, Op op, const Limits& limits);
// Reads just [status, id, ...] without interpreting the results: enough to
// match a reply to its pending request and relay it.
Result<std::pair<ReplyStatus, uint64_t>> PeekReply(std::string_view body, const Limits& limits);

// --- gossip ----------------------------------------------------------------
std::string EncodeGossip(const Gossip& gossip);
// The bytes every heartbeat from `from` that carries a digest starts with,
// and those every invalidation starts with: SUB subscriptions, so a node
// hears the heartbeats of the members it watches and every invalidation.
std::string HeartbeatTopic(std::string_view from);
std::string InvalidationTopic();
Result<Gossip> DecodeGossip(std::string_view body, const Limits& limits);

}  // namespace meshcache::protocol
