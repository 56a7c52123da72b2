// Reply decoding: the head [status, id], then the results as the op that was
// asked expects them, through a table indexed by Op.
#include <array>

#include "protocol/codec.h"
#include "protocol/wire.h"

namespace meshcache::protocol {
namespace {

using wire::Items;

struct ReplyCodec {
  bool may_miss;
  Status (*decode_ok)(const Items& results, const Limits& limits, Reply* r);
};

Status DecodeNothing(const Items&, const Limits&, Reply*) { return Status::Ok(); }

Status DecodePing(const Items& results, const Limits&, Reply* r) {
  wire::Map map;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadMap(results.at(0), "ping info", &map));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(map.Find(field::kNode), "node", &r->ping.node));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(map.Find(field::kVersion), "version", &r->ping.version));
  return wire::ReadInt(map.Find(field::kProto), "proto", &r->ping.proto);
}

Status DecodeValue(const Items& results, const Limits& limits, Reply* r) {
  return wire::ReadBytes(results.at(0), "value", limits.max_value_bytes, &r->value);
}

// A bounded array of items or nils (mget's values, gets' entries), in
// request order; read_one reads an item.
template <typename T, typename ReadOne>
Status DecodeSparse(const msgpack::object* o, const std::string& what, const Limits& limits,
                    std::vector<std::optional<T>>* out, const ReadOne& read_one) {
  Items items;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadArray(o, what, &items));
  if (items.size > limits.max_mget_keys) {
    return wire::TooLarge(std::to_string(items.size) + " " + what + ", over the limit of " +
                          std::to_string(limits.max_mget_keys));
  }
  out->assign(items.size, std::nullopt);
  for (size_t i = 0; i < items.size; ++i) {
    if (items.at(i)->type == msgpack::type::NIL) continue;
    T item;
    MESHCACHE_RETURN_IF_ERROR(read_one(items.at(i), &item));
    (*out)[i] = std::move(item);
  }
  return Status::Ok();
}

Status DecodeValues(const Items& results, const Limits& limits, Reply* r) {
  return DecodeSparse(results.at(0), "values", limits, &r->values,
                      [&limits](const msgpack::object* o, std::string* value) {
                        return wire::ReadBytes(o, "value", limits.max_value_bytes, value);
                      });
}

Status DecodeExisted(const Items& results, const Limits&, Reply* r) {
  return wire::ReadBool(results.at(0), "existed", &r->existed);
}

Status DecodeRingNode(const msgpack::object* o, MemberInfo* out) {
  wire::Map map;
  MemberInfo m;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadMap(o, "ring node", &map));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(map.Find(field::kId), "node id", &m.id));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(map.Find(field::kService), "node service", &m.service));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(map.Find(field::kGossip), "node gossip", &m.gossip));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadState(map.Find(field::kState), &m.state));
  if (const msgpack::object* key = map.Find(field::kKey)) {
    MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(key, "node key", &m.curve_key));
  }
  *out = std::move(m);
  return Status::Ok();
}

Status DecodeRingNodes(const msgpack::object* o, const Limits& limits, RingInfo* ring) {
  Items items;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadArray(o, "nodes", &items));
  if (items.size > limits.max_members) {
    return wire::TooLarge(std::to_string(items.size) + " ring nodes, over the limit of " +
                          std::to_string(limits.max_members));
  }
  ring->nodes.resize(items.size);
  for (size_t i = 0; i < items.size; ++i) {
    MESHCACHE_RETURN_IF_ERROR(DecodeRingNode(items.at(i), &ring->nodes[i]));
  }
  return Status::Ok();
}

Status DecodeRing(const Items& results, const Limits& limits, Reply* r) {
  wire::Map map;
  RingInfo& ring = r->ring;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadMap(results.at(0), "ring", &map));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(map.Find(field::kEpoch), "epoch", &ring.epoch));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(map.Find(field::kHash), "hash", &ring.hash));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint32(map.Find(field::kVnodes), "vnodes", &ring.vnodes));
  if (ring.vnodes == 0 || ring.vnodes > limits.max_vnodes) {
    return wire::BadRequest("vnodes " + std::to_string(ring.vnodes) + " is not 1-" +
                            std::to_string(limits.max_vnodes));
  }
  MESHCACHE_RETURN_IF_ERROR(
      wire::ReadUint32(map.Find(field::kReplicas), "replicas", &ring.replicas));
  MESHCACHE_RETURN_IF_ERROR(DecodeRingNodes(map.Find(field::kNodes), limits, &ring));
  if (ring.nodes.size() * ring.vnodes > limits.max_ring_points) {
    return wire::TooLarge(std::to_string(ring.nodes.size()) + " nodes x " +
                          std::to_string(ring.vnodes) + " vnodes is over the limit of " +
                          std::to_string(limits.max_ring_points) + " ring points");
  }
  return Status::Ok();
}

Status DecodeStat(const msgpack::object_kv& kv, std::pair<std::string, StatValue>* out) {
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(&kv.key, "stat name", &out->first));
  if (kv.val.type == msgpack::type::STR) {
    std::string text;
    MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(&kv.val, "stat", &text));
    out->second = std::move(text);
    return Status::Ok();
  }
  int64_t n = 0;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadInt(&kv.val, "stat " + wire::Printable(out->first), &n));
  out->second = n;
  return Status::Ok();
}

Status DecodeStats(const Items& results, const Limits&, Reply* r) {
  wire::Map map;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadMap(results.at(0), "stats", &map));
  r->stats.resize(map.size);
  for (size_t i = 0; i < map.size; ++i) {
    MESHCACHE_RETURN_IF_ERROR(DecodeStat(map.entries[i], &r->stats[i]));
  }
  return Status::Ok();
}

Status DecodeSnapshot(const Items& results, const Limits& limits, Reply* r) {
  return wire::ReadMembers(results.at(0), limits, &r->members);
}

Status DecodeLoaded(const Items& results, const Limits& limits, Reply* r) {
  MESHCACHE_RETURN_IF_ERROR(DecodeValue(results, limits, r));
  const msgpack::object* ttl = results.at(1);
  if (!ttl || ttl->type == msgpack::type::NIL) return Status::Ok();  // the node's default
  uint64_t ttl_ms = 0;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(ttl, "ttl_ms", &ttl_ms));
  r->ttl_ms = ttl_ms;
  const msgpack::object* version = results.at(2);
  if (version) MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(version, "version", &r->version));
  // A peek's flags; anything else there (an origin's trailing element) is
  // ignored, as the contract says of trailing elements.
  const msgpack::object* flags = results.at(3);
  if (flags == nullptr || !wire::ReadUint32(flags, "flags", &r->flags).ok()) r->flags = 0;
  return Status::Ok();
}

// Indexed by Op: ping get mget set del ring stats fwd join load handoff
// peek probe. A fwd is answered with its inner op's reply; the forwarder relays it
// uninterpreted.
Status DecodeEntry(const msgpack::object* o, const Limits& limits, ValueMeta* e) {
  Items fields;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadArray(o, "entry", &fields));
  if (fields.size < 4) return wire::BadRequest("an entry is [value, flags, cas, ttl_left_ms]");
  MESHCACHE_RETURN_IF_ERROR(
      wire::ReadBytes(fields.at(0), "value", limits.max_value_bytes, &e->value));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint32(fields.at(1), "flags", &e->flags));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(fields.at(2), "cas", &e->cas));
  return wire::ReadUint(fields.at(3), "ttl_left_ms", &e->ttl_left_ms);
}

Status DecodeEntries(const Items& results, const Limits& limits, Reply* r) {
  return DecodeSparse(
      results.at(0), "entries", limits, &r->entries,
      [&limits](const msgpack::object* o, ValueMeta* e) { return DecodeEntry(o, limits, e); });
}

Status DecodeWritten(const Items& results, const Limits&, Reply* r) {
  std::string outcome;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(results.at(0), "outcome", &outcome));
  std::optional<WriteOutcome> o = WriteOutcomeFromName(outcome);
  if (!o) return wire::BadRequest("unknown outcome \"" + wire::Printable(outcome) + "\"");
  r->outcome = *o;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(results.at(1), "cas", &r->cas));
  return results.at(2) ? wire::ReadUint(results.at(2), "number", &r->number) : Status::Ok();
}

constexpr std::array<ReplyCodec, 17> kCodecs = {{
    {false, DecodePing},
    {true, DecodeLoaded},  // a get reply may carry the value's remaining life
    {false, DecodeValues},
    {false, DecodeNothing},
    {false, DecodeExisted},
    {false, DecodeRing},
    {false, DecodeStats},
    {true, DecodeNothing},
    {false, DecodeSnapshot},
    {true, DecodeLoaded},
    {false, DecodeNothing},
    {true, DecodeLoaded},
    {false, DecodeSnapshot},  // probe: the probed member's own entry
    {false, DecodeEntries},   // gets
    {false, DecodeWritten},   // setx
    {false, DecodeWritten},   // incr
    {false, DecodeExisted},   // touch
}};

// Reads [status, id] into r; *results is what follows.
Status DecodeHead(const msgpack::object& o, Reply* r, Items* results) {
  Items items;
  std::string status;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadArray(&o, "reply", &items));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(items.at(0), "reply status", &status));
  std::optional<ReplyStatus> parsed = ReplyStatusFromName(status);
  if (!parsed) return wire::BadRequest("unknown reply status \"" + wire::Printable(status) + "\"");
  r->status = *parsed;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(items.at(1), "reply id", &r->id));
  *results = items.From(2);
  return Status::Ok();
}

Status DecodeResults(const Items& results, Op op, const Limits& limits, Reply* r) {
  const ReplyCodec& codec = kCodecs[static_cast<size_t>(op)];
  switch (r->status) {
    case ReplyStatus::kErr:
      MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(results.at(0), "error code", &r->error_code));
      return wire::ReadStr(results.at(1), "error message", &r->error_message);
    case ReplyStatus::kMiss:
      if (codec.may_miss) return Status::Ok();
      return wire::BadRequest(std::string("a miss does not answer ") + OpName(op));
    case ReplyStatus::kOk:
      return codec.decode_ok(results, limits, r);
  }
  return wire::BadRequest("unknown reply status");
}

}  // namespace

Result<Reply> DecodeReply(std::string_view body, Op op, const Limits& limits) {
  Result<wire::Parsed> parsed = wire::Unpack(body, limits);
  if (!parsed.ok()) return parsed.status();
  Reply reply;
  Items results;
  MESHCACHE_RETURN_IF_ERROR(DecodeHead(parsed->get(), &reply, &results));
  MESHCACHE_RETURN_IF_ERROR(DecodeResults(results, op, limits, &reply));
  return reply;
}

Result<std::pair<ReplyStatus, uint64_t>> PeekReply(std::string_view body, const Limits& limits) {
  Result<wire::Parsed> parsed = wire::Unpack(body, limits);
  if (!parsed.ok()) return parsed.status();
  Reply reply;
  Items results;
  MESHCACHE_RETURN_IF_ERROR(DecodeHead(parsed->get(), &reply, &results));
  return std::make_pair(reply.status, reply.id);
}

}  // namespace meshcache::protocol
