// Requests: [op, id, args...]. One encoder and one decoder per op, in a
// table indexed by Op.
#include <array>

#include "protocol/codec.h"
#include "protocol/wire.h"

namespace meshcache::protocol {
namespace {

using wire::Items;
using wire::Packer;

struct OpCodec {
  void (*encode)(Packer& p, const Request& r);
  Status (*decode)(const Items& args, const Limits& limits, Request* r);
};

void PackHead(Packer& p, const Request& r, size_t args) {
  p.pack_array(static_cast<uint32_t>(2 + args));
  wire::PackStr(p, OpName(r.op));
  p.pack(r.id);
}

std::string_view FirstKey(const Request& r) {
  return r.keys.empty() ? std::string_view() : r.keys[0];
}

void EncodeBare(Packer& p, const Request& r) { PackHead(p, r, 0); }

void EncodeKey(Packer& p, const Request& r) {
  PackHead(p, r, 1);
  wire::PackBin(p, FirstKey(r));
}

void EncodeMget(Packer& p, const Request& r) {
  PackHead(p, r, 1);
  wire::PackKeys(p, r.keys);
}

void PackOptional(Packer& p, const std::optional<uint64_t>& n) {
  if (n) {
    p.pack(*n);
  } else {
    p.pack_nil();
  }
}

void EncodeSet(Packer& p, const Request& r) {
  PackHead(p, r, r.flags != 0 ? 4 : r.ttl_ms ? 3 : 2);
  wire::PackBin(p, FirstKey(r));
  wire::PackBin(p, r.value);
  if (r.flags != 0) {
    PackOptional(p, r.ttl_ms);  // nil: the node's default
    p.pack(r.flags);
  } else if (r.ttl_ms) {
    p.pack(*r.ttl_ms);
  }
}

void EncodeGets(Packer& p, const Request& r) {
  PackHead(p, r, r.ttl_ms ? 2 : 1);
  wire::PackKeys(p, r.keys);
  if (r.ttl_ms) p.pack(*r.ttl_ms);
}

void EncodeSetx(Packer& p, const Request& r) {
  PackHead(p, r, 6);
  wire::PackBin(p, FirstKey(r));
  wire::PackBin(p, r.value);
  PackOptional(p, r.ttl_ms);
  p.pack(r.flags);
  wire::PackStr(p, WriteModeName(r.mode));
  p.pack(r.cas);
}

void EncodeIncr(Packer& p, const Request& r) {
  PackHead(p, r, 5);
  wire::PackBin(p, FirstKey(r));
  p.pack(r.delta);
  p.pack(r.decr);
  PackOptional(p, r.initial);
  PackOptional(p, r.ttl_ms);
}

void EncodeTouch(Packer& p, const Request& r) {
  PackHead(p, r, 2);
  wire::PackBin(p, FirstKey(r));
  p.pack(r.ttl_ms.value_or(0));
}

void EncodeFwd(Packer& p, const Request& r);

void EncodeHandoff(Packer& p, const Request& r) {
  PackHead(p, r, r.relayed ? 3 : 2);
  wire::PackStr(p, r.from);
  p.pack_array(static_cast<uint32_t>(r.entries.size()));
  for (const HandoffEntry& e : r.entries) {
    p.pack_array(e.flags != 0 ? 5 : 4);
    wire::PackBin(p, e.key);
    if (e.deleted) {
      p.pack_nil();
    } else {
      wire::PackBin(p, e.value);
    }
    p.pack(e.ttl_left_ms);
    p.pack(e.version);
    if (e.flags != 0) p.pack(e.flags);
  }
  if (r.relayed) p.pack(true);
}

void EncodeJoin(Packer& p, const Request& r) {
  const bool sync = !r.members.empty();
  PackHead(p, r, sync ? 2 : 1);
  wire::PackMember(p, r.member);
  if (sync) wire::PackMembers(p, r.members);
}

void EncodeProbe(Packer& p, const Request& r) {
  const bool indirect = !r.target.empty();
  PackHead(p, r, indirect ? 2 : 1);
  wire::PackMember(p, r.member);
  if (indirect) wire::PackStr(p, r.target);
}

Status DecodeBare(const Items&, const Limits&, Request*) { return Status::Ok(); }

Status DecodeKey(const Items& args, const Limits& limits, Request* r) {
  r->keys.resize(1);
  return wire::ReadKey(args.at(0), limits, r->keys.data());
}

Status DecodeMget(const Items& args, const Limits& limits, Request* r) {
  return wire::ReadKeys(args.at(0), "keys", limits.max_mget_keys, limits, &r->keys);
}

// An optional unsigned number: absent or nil leaves *out empty.
Status ReadOptional(const msgpack::object* o, std::string_view what, std::optional<uint64_t>* out) {
  if (!o || o->type == msgpack::type::NIL) return Status::Ok();
  uint64_t n = 0;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(o, what, &n));
  *out = n;
  return Status::Ok();
}

Status DecodeSet(const Items& args, const Limits& limits, Request* r) {
  MESHCACHE_RETURN_IF_ERROR(DecodeKey(args, limits, r));
  MESHCACHE_RETURN_IF_ERROR(
      wire::ReadBytes(args.at(1), "value", limits.max_value_bytes, &r->value));
  // nil is read as absent: it is what a client with an optional ttl sends.
  MESHCACHE_RETURN_IF_ERROR(ReadOptional(args.at(2), "ttl_ms", &r->ttl_ms));
  // The flags are an extension in a place where the contract lets clients
  // send what a node does not know (trailing elements are ignored): what
  // is not a 32-bit unsigned integer there is ignored, not refused.
  if (args.at(3) == nullptr || !wire::ReadUint32(args.at(3), "flags", &r->flags).ok()) {
    r->flags = 0;
  }
  return Status::Ok();
}

Status DecodeGets(const Items& args, const Limits& limits, Request* r) {
  MESHCACHE_RETURN_IF_ERROR(DecodeMget(args, limits, r));
  return ReadOptional(args.at(1), "ttl_ms", &r->ttl_ms);
}

Status DecodeSetx(const Items& args, const Limits& limits, Request* r) {
  MESHCACHE_RETURN_IF_ERROR(DecodeKey(args, limits, r));
  MESHCACHE_RETURN_IF_ERROR(
      wire::ReadBytes(args.at(1), "value", limits.max_value_bytes, &r->value));
  MESHCACHE_RETURN_IF_ERROR(ReadOptional(args.at(2), "ttl_ms", &r->ttl_ms));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint32(args.at(3), "flags", &r->flags));
  std::string mode;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(args.at(4), "mode", &mode));
  std::optional<WriteMode> m = WriteModeFromName(mode);
  if (!m) return wire::BadRequest("unknown write mode \"" + wire::Printable(mode) + "\"");
  r->mode = *m;
  return wire::ReadUint(args.at(5), "cas", &r->cas);
}

Status DecodeIncr(const Items& args, const Limits& limits, Request* r) {
  MESHCACHE_RETURN_IF_ERROR(DecodeKey(args, limits, r));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(args.at(1), "delta", &r->delta));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadBool(args.at(2), "decr", &r->decr));
  MESHCACHE_RETURN_IF_ERROR(ReadOptional(args.at(3), "initial", &r->initial));
  return ReadOptional(args.at(4), "ttl_ms", &r->ttl_ms);
}

Status DecodeTouch(const Items& args, const Limits& limits, Request* r) {
  MESHCACHE_RETURN_IF_ERROR(DecodeKey(args, limits, r));
  uint64_t ttl_ms = 0;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(args.at(1), "ttl_ms", &ttl_ms));
  r->ttl_ms = ttl_ms;
  return Status::Ok();
}

Status DecodeFwd(const Items& args, const Limits& limits, Request* r);

Status DecodeHandoffEntry(const msgpack::object* o, const Limits& limits, HandoffEntry* e) {
  Items fields;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadArray(o, "handoff entry", &fields));
  if (fields.size < 4) return wire::BadRequest("a handoff entry is [key, value, ttl, version]");
  MESHCACHE_RETURN_IF_ERROR(wire::ReadKey(fields.at(0), limits, &e->key));
  e->deleted = fields.at(1)->type == msgpack::type::NIL;
  if (!e->deleted) {
    MESHCACHE_RETURN_IF_ERROR(
        wire::ReadBytes(fields.at(1), "value", limits.max_value_bytes, &e->value));
  }
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(fields.at(2), "ttl_left_ms", &e->ttl_left_ms));
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(fields.at(3), "version", &e->version));
  return fields.size > 4 ? wire::ReadUint32(fields.at(4), "flags", &e->flags) : Status::Ok();
}

Status DecodeHandoff(const Items& args, const Limits& limits, Request* r) {
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(args.at(0), "from", &r->from));
  Items entries;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadArray(args.at(1), "entries", &entries));
  if (entries.size > limits.max_mget_keys) {
    return wire::TooLarge("handoff holds " + std::to_string(entries.size) +
                          " entries, over the limit of " + std::to_string(limits.max_mget_keys));
  }
  r->entries.resize(entries.size);
  for (size_t i = 0; i < entries.size; ++i) {
    MESHCACHE_RETURN_IF_ERROR(DecodeHandoffEntry(entries.at(i), limits, &r->entries[i]));
  }
  if (args.at(2)) return wire::ReadBool(args.at(2), "relayed", &r->relayed);
  return Status::Ok();
}

Status DecodeJoin(const Items& args, const Limits& limits, Request* r) {
  MESHCACHE_RETURN_IF_ERROR(wire::ReadMember(args.at(0), &r->member));
  return args.at(1) ? wire::ReadMembers(args.at(1), limits, &r->members) : Status::Ok();
}

Status DecodeProbe(const Items& args, const Limits&, Request* r) {
  MESHCACHE_RETURN_IF_ERROR(wire::ReadMember(args.at(0), &r->member));
  return args.at(1) ? wire::ReadStr(args.at(1), "target", &r->target) : Status::Ok();
}

// Indexed by Op: ping get mget set del ring stats fwd join load handoff peek
// probe gets setx incr touch.
constexpr std::array<OpCodec, 17> kCodecs = {{
    {EncodeBare, DecodeBare},
    {EncodeKey, DecodeKey},
    {EncodeMget, DecodeMget},
    {EncodeSet, DecodeSet},
    {EncodeKey, DecodeKey},
    {EncodeBare, DecodeBare},
    {EncodeBare, DecodeBare},
    {EncodeFwd, DecodeFwd},
    {EncodeJoin, DecodeJoin},
    {EncodeKey, DecodeKey},
    {EncodeHandoff, DecodeHandoff},
    {EncodeKey, DecodeKey},
    {EncodeProbe, DecodeProbe},
    {EncodeGets, DecodeGets},
    {EncodeSetx, DecodeSetx},
    {EncodeIncr, DecodeIncr},
    {EncodeTouch, DecodeTouch},
}};

const OpCodec& CodecOf(Op op) { return kCodecs[static_cast<size_t>(op)]; }

Status ReadOp(const msgpack::object* o, Op* out) {
  std::string name;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(o, "op", &name));
  std::optional<Op> op = OpFromName(name);
  if (!op) return wire::BadRequest("unknown op \"" + wire::Printable(name) + "\"");
  *out = *op;
  return Status::Ok();
}

// A fwd's inner request is decoded with `inner` set: it may only be a client
// request (at most one hop; peer messages go to the node itself).
Status DecodeArray(const msgpack::object& o, const Limits& limits, bool inner, Request* r) {
  Items items;
  MESHCACHE_RETURN_IF_ERROR(wire::ReadArray(&o, "request", &items));
  if (items.size == 0) return wire::BadRequest("request is an empty array");
  if (items.size == 1) return wire::BadRequest("missing id");
  MESHCACHE_RETURN_IF_ERROR(wire::ReadUint(items.at(1), "id", &r->id));
  MESHCACHE_RETURN_IF_ERROR(ReadOp(items.at(0), &r->op));
  if (inner && (r->op == Op::kFwd || r->op == Op::kJoin || r->op == Op::kHandoff ||
                r->op == Op::kPeek || r->op == Op::kProbe)) {
    return wire::BadRequest(std::string("a fwd cannot carry a ") + OpName(r->op));
  }
  return CodecOf(r->op).decode(items.From(2), limits, r);
}

void EncodeFwd(Packer& p, const Request& r) {
  PackHead(p, r, r.version ? 4 : r.replica ? 3 : 2);
  wire::PackStr(p, r.from);
  if (r.inner) {
    CodecOf(r.inner->op).encode(p, *r.inner);
  } else {
    p.pack_nil();  // a broken request; the decoder rejects it
  }
  if (r.replica || r.version) p.pack(r.replica);
  if (r.version) p.pack(r.version);
}

Status DecodeFwd(const Items& args, const Limits& limits, Request* r) {
  MESHCACHE_RETURN_IF_ERROR(wire::ReadStr(args.at(0), "from", &r->from));
  if (!args.at(1)) return wire::BadRequest("missing inner request");
  auto inner = std::make_shared<Request>();
  Status s = DecodeArray(*args.at(1), limits, /*inner=*/true, inner.get());
  if (!s.ok()) return Status::Error(s.code(), "inner request: " + s.message());
  r->inner = std::move(inner);
  if (args.at(2)) MESHCACHE_RETURN_IF_ERROR(wire::ReadBool(args.at(2), "replica", &r->replica));
  return args.at(3) ? wire::ReadUint(args.at(3), "version", &r->version) : Status::Ok();
}

}  // namespace

std::string EncodeRequest(const Request& request) {
  return wire::Build([&](Packer& p) { CodecOf(request.op).encode(p, request); });
}

DecodedRequest DecodeRequest(std::string_view body, const Limits& limits) {
  DecodedRequest out;
  Result<wire::Parsed> parsed = wire::Unpack(body, limits);
  if (!parsed.ok()) {
    out.status = parsed.status();
    out.request.id = wire::RecoverId(body);
    return out;
  }
  out.status = DecodeArray(parsed->get(), limits, /*inner=*/false, &out.request);
  // On failure only the id is meaningful; drop what was half-read.
  if (!out.status.ok()) out.request = Request{.id = out.request.id};
  return out;
}

}  // namespace meshcache::protocol
