#include "protocol/wire.h"

#include <algorithm>
#include <limits>
#include <new>

namespace meshcache::protocol::wire {
namespace {

// The outer array of any message has a handful of elements plus whatever
// trailing ones a newer peer adds; maps are small except stats.
constexpr size_t kMinArray = 16;
constexpr size_t kMinMap = 64;

uint32_t Size32(size_t n) { return static_cast<uint32_t>(n); }

size_t Clamp32(size_t n) { return std::min<size_t>(n, std::numeric_limits<uint32_t>::max()); }

msgpack::unpack_limit UnpackLimit(const Limits& limits) {
  const size_t bytes = Clamp32(std::max(limits.max_key_bytes, limits.max_value_bytes));
  return msgpack::unpack_limit(Clamp32(MaxArray(limits)),
                               Clamp32(std::max(limits.max_members, kMinMap)), bytes, bytes,
                               /*ext=*/0, Clamp32(limits.max_depth));
}

// Strings and bins are referenced in place rather than copied into the zone,
// so parsing costs memory for the object tree only, not for the payload.
bool ReferenceInPlace(msgpack::type::object_type, size_t, void*) { return true; }

// Walks msgpack without building anything, to tell whether every element and
// byte a body declares is there. Nesting past max_depth stops the walk.
class WalkCheck : public msgpack::null_visitor {
 public:
  explicit WalkCheck(size_t max_depth) : max_depth_(max_depth) {}
  bool start_array(uint32_t) { return ++depth_ <= max_depth_; }
  bool end_array() { return --depth_, true; }
  bool start_map(uint32_t) { return ++depth_ <= max_depth_; }
  bool end_map() { return --depth_, true; }

 private:
  size_t max_depth_;
  size_t depth_ = 0;
};

// Over a limit, but is the body whole? A few bytes that declare a billion
// elements or a 4 GB str are not msgpack: bad_request, not too_large.
Status OverLimit(std::string_view body, const Limits& limits, Status too_large) {
  WalkCheck check(limits.max_depth);
  size_t offset = 0;
  bool whole = false;
  try {
    whole = msgpack::parse(body.data(), body.size(), offset, check) && offset == body.size();
  } catch (...) {
  }
  if (whole) return too_large;
  return BadRequest("body is not whole msgpack: it declares more than its " +
                    std::to_string(body.size()) + " bytes hold");
}

Status Missing(std::string_view what) { return BadRequest("missing " + std::string(what)); }

// "<what> is <kind>", e.g. "key is neither str nor bin".
Status Wrong(std::string_view what, const char* kind) {
  return BadRequest(std::string(what) + " is " + kind);
}

}  // namespace

void PackStr(Packer& p, std::string_view s) {
  p.pack_str(Size32(s.size()));
  p.pack_str_body(s.data(), Size32(s.size()));
}

void PackBin(Packer& p, std::string_view bytes) {
  p.pack_bin(Size32(bytes.size()));
  p.pack_bin_body(bytes.data(), Size32(bytes.size()));
}

void PackKeys(Packer& p, const std::vector<std::string>& keys) {
  p.pack_array(Size32(keys.size()));
  for (const std::string& key : keys) PackBin(p, key);
}

void PackMember(Packer& p, const MemberInfo& m) {
  p.pack_array(m.curve_key.empty() ? 5 : 6);
  PackStr(p, m.id);
  PackStr(p, m.service);
  PackStr(p, m.gossip);
  PackStr(p, NodeStateName(m.state));
  p.pack(m.incarnation);
  if (!m.curve_key.empty()) PackStr(p, m.curve_key);
}

void PackMembers(Packer& p, const std::vector<MemberInfo>& members) {
  p.pack_array(Size32(members.size()));
  for (const MemberInfo& m : members) PackMember(p, m);
}

void PackReplyHead(Packer& p, ReplyStatus status, uint64_t id, size_t results) {
  p.pack_array(Size32(2 + results));
  PackStr(p, ReplyStatusName(status));
  p.pack(id);
}

Status BadRequest(std::string message) {
  return Status::Error(Code::kBadRequest, std::move(message));
}

Status TooLarge(std::string message) { return Status::Error(Code::kTooLarge, std::move(message)); }

std::string Printable(std::string_view text) {
  constexpr size_t kMax = 64;
  std::string out(text.substr(0, kMax));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  if (text.size() > kMax) out += "...";
  return out;
}

size_t MaxArray(const Limits& limits) {
  return std::max({limits.max_mget_keys, limits.max_members, kMinArray});
}

Result<Parsed> Unpack(std::string_view body, const Limits& limits) {
  if (body.size() > limits.max_body_bytes()) {
    return TooLarge("body of " + std::to_string(body.size()) + " bytes is over the limit of " +
                    std::to_string(limits.max_body_bytes()));
  }
  const msgpack::unpack_limit limit = UnpackLimit(limits);
  try {
    size_t offset = 0;
    Parsed parsed =
        msgpack::unpack(body.data(), body.size(), offset, &ReferenceInPlace, nullptr, limit);
    if (offset != body.size()) return BadRequest("trailing bytes after the msgpack body");
    return parsed;
  } catch (const msgpack::depth_size_overflow&) {
    return BadRequest("body nests deeper than " + std::to_string(limits.max_depth) + " levels");
  } catch (const msgpack::ext_size_overflow&) {
    return BadRequest("body holds a msgpack ext, which the protocol does not use");
  } catch (const msgpack::str_size_overflow&) {
    return OverLimit(
        body, limits,
        TooLarge("a str is over the limit of " + std::to_string(limit.str()) + " bytes"));
  } catch (const msgpack::bin_size_overflow&) {
    return OverLimit(
        body, limits,
        TooLarge("a bin is over the limit of " + std::to_string(limit.bin()) + " bytes"));
  } catch (const msgpack::array_size_overflow&) {
    return OverLimit(
        body, limits,
        TooLarge("an array is over the limit of " + std::to_string(limit.array()) + " elements"));
  } catch (const msgpack::map_size_overflow&) {
    return OverLimit(
        body, limits,
        TooLarge("a map is over the limit of " + std::to_string(limit.map()) + " entries"));
  } catch (const msgpack::insufficient_bytes&) {
    return BadRequest("body is truncated msgpack");
  } catch (const msgpack::unpack_error&) {
    return BadRequest("body is not valid msgpack");
  } catch (const std::bad_alloc&) {
    return BadRequest("body needs more memory than is available");
  } catch (...) {
    return BadRequest("body could not be parsed");
  }
}

const msgpack::object* Map::Find(std::string_view key) const {
  for (size_t i = 0; i < size; ++i) {
    const msgpack::object& k = entries[i].key;
    if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == key) {
      return &entries[i].val;
    }
  }
  return nullptr;
}

Status ReadArray(const msgpack::object* o, std::string_view what, Items* out) {
  if (!o) return Missing(what);
  if (o->type != msgpack::type::ARRAY) return Wrong(what, "not an array");
  *out = Items{o->via.array.ptr, o->via.array.size};
  return Status::Ok();
}

Status ReadMap(const msgpack::object* o, std::string_view what, Map* out) {
  if (!o) return Missing(what);
  if (o->type != msgpack::type::MAP) return Wrong(what, "not a map");
  *out = Map{o->via.map.ptr, o->via.map.size};
  return Status::Ok();
}

Status ReadUint(const msgpack::object* o, std::string_view what, uint64_t* out) {
  if (!o) return Missing(what);
  if (o->type != msgpack::type::POSITIVE_INTEGER) {
    return Wrong(what, "not an unsigned integer");
  }
  *out = o->via.u64;
  return Status::Ok();
}

Status ReadUint32(const msgpack::object* o, std::string_view what, uint32_t* out) {
  uint64_t v = 0;
  MESHCACHE_RETURN_IF_ERROR(ReadUint(o, what, &v));
  if (v > std::numeric_limits<uint32_t>::max()) return Wrong(what, "over 2^32-1");
  *out = static_cast<uint32_t>(v);
  return Status::Ok();
}

Status ReadInt(const msgpack::object* o, std::string_view what, int64_t* out) {
  if (!o) return Missing(what);
  if (o->type == msgpack::type::NEGATIVE_INTEGER) {
    *out = o->via.i64;
    return Status::Ok();
  }
  if (o->type != msgpack::type::POSITIVE_INTEGER) return Wrong(what, "not an int");
  if (o->via.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Wrong(what, "over 2^63-1");
  }
  *out = static_cast<int64_t>(o->via.u64);
  return Status::Ok();
}

Status ReadBool(const msgpack::object* o, std::string_view what, bool* out) {
  if (!o) return Missing(what);
  if (o->type != msgpack::type::BOOLEAN) return Wrong(what, "not a bool");
  *out = o->via.boolean;
  return Status::Ok();
}

Status ReadStr(const msgpack::object* o, std::string_view what, std::string* out) {
  if (!o) return Missing(what);
  if (o->type != msgpack::type::STR) return Wrong(what, "not a str");
  out->assign(o->via.str.ptr, o->via.str.size);
  return Status::Ok();
}

Status ReadBytes(const msgpack::object* o, std::string_view what, size_t limit, std::string* out) {
  if (!o) return Missing(what);
  std::string_view bytes;
  if (o->type == msgpack::type::STR) {
    bytes = std::string_view(o->via.str.ptr, o->via.str.size);
  } else if (o->type == msgpack::type::BIN) {
    bytes = std::string_view(o->via.bin.ptr, o->via.bin.size);
  } else {
    return Wrong(what, "neither str nor bin");
  }
  if (bytes.size() > limit) {
    return TooLarge(std::string(what) + " of " + std::to_string(bytes.size()) +
                    " bytes is over the limit of " + std::to_string(limit));
  }
  out->assign(bytes);
  return Status::Ok();
}

Status ReadKey(const msgpack::object* o, const Limits& limits, std::string* out) {
  return ReadBytes(o, "key", limits.max_key_bytes, out);
}

Status ReadKeys(const msgpack::object* o, std::string_view what, size_t max_count,
                const Limits& limits, std::vector<std::string>* out) {
  Items items;
  MESHCACHE_RETURN_IF_ERROR(ReadArray(o, what, &items));
  if (items.size > max_count) {
    return TooLarge(std::string(what) + " holds " + std::to_string(items.size) +
                    " keys, over the limit of " + std::to_string(max_count));
  }
  std::vector<std::string> keys(items.size);
  for (size_t i = 0; i < items.size; ++i) {
    MESHCACHE_RETURN_IF_ERROR(ReadKey(items.at(i), limits, &keys[i]));
  }
  *out = std::move(keys);
  return Status::Ok();
}

Status ReadState(const msgpack::object* o, NodeState* out) {
  std::string name;
  MESHCACHE_RETURN_IF_ERROR(ReadStr(o, "member state", &name));
  std::optional<NodeState> state = ParseNodeState(name);
  if (!state) return BadRequest("member state \"" + Printable(name) + "\" is unknown");
  *out = *state;
  return Status::Ok();
}

Status ReadMember(const msgpack::object* o, MemberInfo* out) {
  Items items;
  MemberInfo m;
  MESHCACHE_RETURN_IF_ERROR(ReadArray(o, "member", &items));
  MESHCACHE_RETURN_IF_ERROR(ReadStr(items.at(0), "member id", &m.id));
  MESHCACHE_RETURN_IF_ERROR(ReadStr(items.at(1), "member service", &m.service));
  MESHCACHE_RETURN_IF_ERROR(ReadStr(items.at(2), "member gossip", &m.gossip));
  MESHCACHE_RETURN_IF_ERROR(ReadState(items.at(3), &m.state));
  MESHCACHE_RETURN_IF_ERROR(ReadUint(items.at(4), "member incarnation", &m.incarnation));
  if (items.size > 5) {
    MESHCACHE_RETURN_IF_ERROR(ReadStr(items.at(5), "member curve key", &m.curve_key));
    if (m.curve_key.size() != kCurveKeyChars) {
      return BadRequest("member curve key is not " + std::to_string(kCurveKeyChars) +
                        " characters of Z85");
    }
  }
  if (m.id.empty()) return BadRequest("member id is empty");
  *out = std::move(m);
  return Status::Ok();
}

Status ReadMembers(const msgpack::object* o, const Limits& limits, std::vector<MemberInfo>* out) {
  Items items;
  MESHCACHE_RETURN_IF_ERROR(ReadArray(o, "members", &items));
  if (items.size > limits.max_members) {
    return TooLarge(std::to_string(items.size) + " members, over the limit of " +
                    std::to_string(limits.max_members));
  }
  std::vector<MemberInfo> members(items.size);
  for (size_t i = 0; i < items.size; ++i) {
    MESHCACHE_RETURN_IF_ERROR(ReadMember(items.at(i), &members[i]));
  }
  *out = std::move(members);
  return Status::Ok();
}

}  // namespace meshcache::protocol::wire
