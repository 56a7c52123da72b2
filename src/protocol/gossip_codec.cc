// Gossip: ["hb", from, seq, [member...], invals, digest] and ["inv", from,
// seq, invals], where invals is an array of keys or nil for an overflow and
// the digest (a uint32) may be left out.
#include "protocol/codec.h"
#include "protocol/wire.h"

namespace meshcache::protocol {
namespace {

using wire::Items;
using wire::Packer;

void PackInvals(Packer& p, const Gossip& g) {
  if (g.invals_overflow) {
    p.pack_nil();
  } else {
    wire::PackKeys(p, g.invals);
  }
}

Status ReadInvals(const msgpack::object* o, const Limits& limits, Gossip* g) {
  if (o && o->type == msgpack::type::NIL) {
    g->invals_overflow = true;
    return Status::Ok();
  }
  return wire::ReadKeys(o, "invals", limits.max_mget_keys, limits, &g->invals);
}

Status ReadKind(const msgpack::object* o, Gossip::Kind* out) {
  std::string name;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(o, "gossip kind", &name));
  std::optional<Gossip::Kind> kind = GossipKindFromName(name);
  if (!kind) return wire::BadRequest("unknown gossip kind \"" + wire::Printable(name) + "\"");
  *out = *kind;
  return Status::Ok();
}

Status DecodeArray(const msgpack::object& o, const Limits& limits, Gossip* g) {
  Items items;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadArray(&o, "gossip", &items));
  MESHCACHE_RETURN_IF_ERROR(ReadKind(items.at(0), &g->kind));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(items.at(1), "from", &g->from));
  if (g->from.empty()) return wire::BadRequest("from is empty");
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(items.at(2), "seq", &g->seq));
  if (g->kind == Gossip::Kind::kInvalidate) return ReadInvals(items.at(3), limits, g);
  MESHCACHE_RETURN_IF_ERROR(wire::ReadMembers(items.at(3), limits, &g->members));
  MESHCACHE_RETURN_IF_ERROR(ReadInvals(items.at(4), limits, g));
  if (!items.at(5)) return Status::Ok();
  uint32_t digest = 0;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint32(items.at(5), "digest", &digest));
  g->digest = digest;
  return Status::Ok();
}

}  // namespace

std::string EncodeGossip(const Gossip& gossip) {
  const bool heartbeat = gossip.kind == Gossip::Kind::kHeartbeat;
  return wire::Build([&](Packer& p) {
    const bool digest = heartbeat && gossip.digest.has_value();
    p.pack_array(heartbeat ? (digest ? 6 : 5) : 4);
    wire::PackStr(p, GossipKindName(gossip.kind));
    wire::PackStr(p, gossip.from);
    p.pack(gossip.seq);
    if (heartbeat) wire::PackMembers(p, gossip.members);
    PackInvals(p, gossip);
    if (digest) p.pack(*gossip.digest);
  });
}

std::string HeartbeatTopic(std::string_view from) {
  return wire::Build([&](Packer& p) {
    p.pack_array(6);
    wire::PackStr(p, GossipKindName(Gossip::Kind::kHeartbeat));
    wire::PackStr(p, from);
  });
}

std::string InvalidationTopic() {
  return wire::Build([&](Packer& p) {
    p.pack_array(4);
    wire::PackStr(p, GossipKindName(Gossip::Kind::kInvalidate));
  });
}

Result<Gossip> DecodeGossip(std::string_view body, const Limits& limits) {
  Result<wire::Parsed> parsed = wire::Unpack(body, limits);
  if (!parsed.ok()) return parsed.status();
  Gossip gossip;
  MESHCACHE_RETURN_IF_ERROR(DecodeArray(parsed->get(), limits, &gossip));
  return gossip;
}

}  // namespace meshcache::protocol
