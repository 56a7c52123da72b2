// Reply encoders of the memcached door: each appends one reply, "\r\n"
// included, to *out, so that the node gathers every reply to one read in
// one buffer and writes it at once. They take plain values (what the node
// found), never mesh types, and allocate only as *out grows.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "memcache/command.h"

namespace meshcache::memcache {

// --- the text protocol ------------------------------------------------------

// memcached's fixed reply lines.
enum class Reply : uint8_t {
  kEnd,        // END: closes a get, gets, gat or gats (and stats)
  kStored,     // STORED
  kNotStored,  // NOT_STORED
  kExists,     // EXISTS: a cas whose unique no longer matches
  kNotFound,   // NOT_FOUND
  kDeleted,    // DELETED
  kTouched,    // TOUCHED
  kOk,         // OK: verbosity, flush_all
  kError,      // ERROR: an unknown (or unsupported) command
  kMetaNoop,   // MN: mn
};
void AppendReply(std::string* out, Reply reply);

// One item of a get (gets and gats: with its cas):
// "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n". End the list with
// Reply::kEnd.
void AppendValue(std::string* out, std::string_view key, uint32_t client_flags,
                 std::string_view data, std::optional<uint64_t> cas = std::nullopt);
// incr and decr: the new value, "<number>\r\n".
void AppendNumber(std::string* out, uint64_t number);
// "VERSION <version>\r\n".
void AppendVersion(std::string* out, std::string_view version);
// "STAT <name> <value>\r\n"; end the list with Reply::kEnd.
void AppendStat(std::string* out, std::string_view name, std::string_view value);
void AppendStat(std::string* out, std::string_view name, uint64_t value);
// "CLIENT_ERROR <message>\r\n" and "SERVER_ERROR <message>\r\n".
// REQUIRES: message holds no "\r\n".
void AppendClientError(std::string* out, std::string_view message);
void AppendServerError(std::string* out, std::string_view message);

// --- the meta protocol ------------------------------------------------------

enum class MetaStatus : uint8_t {
  kValue,      // VA <size>: the value follows (mg with v, ma with v)
  kHeader,     // HD: success without a value
  kMiss,       // EN: mg found nothing
  kNotFound,   // NF: md, ma (and ms with a C) found nothing
  kNotStored,  // NS
  kExists,     // EX: a C (compare CAS) did not match
};

// What the node knows of the item, for the return flags. A flag asked for
// whose value is absent here is left out of the reply.
struct MetaItem {
  std::string_view key;  // k: the key the cache saw (Command::DecodedKey())
  std::optional<uint64_t> cas;
  std::optional<uint32_t> client_flags;
  std::optional<int64_t> ttl;  // seconds left; -1: never expires
  std::optional<uint64_t> size;
};

// The reply to a meta command op (mg, ms, md, ma) that asked for `asked`,
// as memcached 1.6.18 builds it:
//   "<code>[ <size>]<return flags>\r\n" then, for kValue, "<data>\r\n".
// The return flags follow the order of asked; each op returns those
// memcached returns for it, when the item has their value:
//   mg VA/HD: s<size> t<ttl> c<cas> f<flags> k<key> O<opaque>
//   ma VA/HD: c t k O
//   ms (all codes): c k O s (s as memcached master returns it)
//   other codes (mg EN, md, ma NF/NS/EX): k O
// k<key> is the key in base64 followed by " b" when the request had b.
// Flags memcached returns that the mesh does not track (h, l; W, X, Z) are
// never returned. Under q, memcached's quiet mode, nothing is appended for
// the nominal reply: mg EN, ms HD, md HD, and ma HD or VA.
void AppendMeta(std::string* out, Op op, MetaStatus status, const MetaFlags& asked,
                const MetaItem& item, std::string_view data = {});

}  // namespace meshcache::memcache
