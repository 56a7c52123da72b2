// Internal to the codec (not part of the module's interface): msgpack
// packing and checked reading shared by the request, reply and gossip codecs.
//
// Readers take a possibly-null object: null means the element is missing, so
// "missing key" and "key is not a string" come from the same call. They write
// their output only on success and name the offending field in the Status.
#pragma once

#include <cstdint>
#include <msgpack.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "meshcache/status.hpp"
#include "protocol/messages.h"
#include "util/member.h"

#define MESHCACHE_RETURN_IF_ERROR(expr)   \
  do {                                    \
    ::meshcache::Status status_ = (expr); \
    if (!status_.ok()) return status_;    \
  } while (0)

namespace meshcache::protocol::wire {

// --- writing ---------------------------------------------------------------
// A msgpack output stream appending to a string.
struct StringSink {
  std::string data;
  void write(const char* bytes, size_t size) { data.append(bytes, size); }
};
using Packer = msgpack::packer<StringSink>;

// Runs pack(Packer&) and returns the bytes it wrote.
template <typename F>
std::string Build(F&& pack) {
  StringSink sink;
  Packer packer(sink);
  pack(packer);
  return std::move(sink.data);
}

void PackStr(Packer& p, std::string_view s);
void PackBin(Packer& p, std::string_view bytes);
void PackKeys(Packer& p, const std::vector<std::string>& keys);  // array of bin
// [id, service, gossip, state, incarnation], and curve_key as a 6th
// element when it has one.
void PackMember(Packer& p, const MemberInfo& m);
// A CURVE public key's length in Z85 (32 bytes), the member array's 6th
// element; the node checks the characters before it uses one.
inline constexpr size_t kCurveKeyChars = 40;
void PackMembers(Packer& p, const std::vector<MemberInfo>& members);
// [status, id] followed by `results` elements the caller packs next.
void PackReplyHead(Packer& p, ReplyStatus status, uint64_t id, size_t results);

// --- parsing ---------------------------------------------------------------
Status BadRequest(std::string message);
Status TooLarge(std::string message);
// Up to 64 bytes of untrusted text, non-printable bytes as '?', fit to quote
// in an error message (which a client decodes as UTF-8).
std::string Printable(std::string_view text);

// The largest array the decoder accepts (mget keys, members, invals, and the
// outer array with its trailing elements).
size_t MaxArray(const Limits& limits);

// The parsed body. Strings and bins point into the body's bytes, so a
// Parsed must not outlive the body it came from.
using Parsed = msgpack::object_handle;
// One msgpack object filling the whole body, parsed within the limits.
// Never throws. too_large: the body, or a str, bin, array or map in it, is
// over its limit; bad_request: anything else.
Result<Parsed> Unpack(std::string_view body, const Limits& limits);

// The elements of an array; at(i) is null past the end.
struct Items {
  const msgpack::object* items = nullptr;
  size_t size = 0;
  const msgpack::object* at(size_t i) const { return i < size ? items + i : nullptr; }
  Items From(size_t i) const { return i < size ? Items{items + i, size - i} : Items{}; }
};

// A map whose keys are looked up as str.
struct Map {
  const msgpack::object_kv* entries = nullptr;
  size_t size = 0;
  const msgpack::object* Find(std::string_view key) const;  // null when absent
};

Status ReadArray(const msgpack::object* o, std::string_view what, Items* out);
Status ReadMap(const msgpack::object* o, std::string_view what, Map* out);
Status ReadUint(const msgpack::object* o, std::string_view what, uint64_t* out);
Status ReadUint32(const msgpack::object* o, std::string_view what, uint32_t* out);
Status ReadInt(const msgpack::object* o, std::string_view what, int64_t* out);
Status ReadBool(const msgpack::object* o, std::string_view what, bool* out);
// A str (not bin): names, endpoints, codes, messages.
Status ReadStr(const msgpack::object* o, std::string_view what, std::string* out);
// A str or bin of at most `limit` bytes (inclusive); longer: too_large.
Status ReadBytes(const msgpack::object* o, std::string_view what, size_t limit, std::string* out);
Status ReadKey(const msgpack::object* o, const Limits& limits, std::string* out);
// An array of at most max_count keys (more: too_large).
Status ReadKeys(const msgpack::object* o, std::string_view what, size_t max_count,
                const Limits& limits, std::vector<std::string>* out);
Status ReadMember(const msgpack::object* o, MemberInfo* out);
// An array of at most limits.max_members member arrays.
Status ReadMembers(const msgpack::object* o, const Limits& limits, std::vector<MemberInfo>* out);
Status ReadState(const msgpack::object* o, NodeState* out);

// --- byte-level prefix -----------------------------------------------------
// Where the id of [str, id, ...] sits, read from the raw bytes without
// parsing the rest: lets an error echo the id of a body that does not parse,
// and lets a reply's id be rewritten in place.
struct Prefix {
  uint64_t id = 0;
  size_t id_begin = 0;
  size_t id_end = 0;
};
std::optional<Prefix> ReadPrefix(std::string_view body);
// The prefix's id, or 0 when it cannot be read.
uint64_t RecoverId(std::string_view body);

}  // namespace meshcache::protocol::wire
