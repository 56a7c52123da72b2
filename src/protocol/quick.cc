// The get's, the mget's and the writes' own decoders and their replies'
// encoders: the requests a node answers most, read and answered without msgpack's object
// tree, the zone it allocates or a result string per reply. They accept
// only what DecodeRequest reads as the same request
// (tests/unit/protocol_quick_test.cc and the fuzzer check that on every
// body); anything else is left to it.
#include <cstring>

#include "protocol/codec.h"
#include "protocol/wire.h"

namespace meshcache::protocol {
namespace {

// Reads a big-endian unsigned integer of n bytes at p.
uint64_t BigEndian(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

// Appends a type byte and n's low `bytes` bytes, big-endian.
void PutBigEndian(std::string* out, unsigned char type, uint64_t n, size_t bytes) {
  char buf[9];
  buf[0] = static_cast<char>(type);
  for (size_t i = 0; i < bytes; ++i) buf[bytes - i] = static_cast<char>(n >> (8 * i));
  out->append(buf, bytes + 1);
}

// A msgpack positive integer at p (fixint, uint 8/16/32/64): its value and
// encoded size; 0 when p holds something else or runs past end.
size_t ReadUint(const unsigned char* p, const unsigned char* end, uint64_t* out) {
  if (p >= end) return 0;
  if (*p <= 0x7f) {
    *out = *p;
    return 1;
  }
  size_t n = 0;
  switch (*p) {
    case 0xcc:
      n = 1;
      break;
    case 0xcd:
      n = 2;
      break;
    case 0xce:
      n = 4;
      break;
    case 0xcf:
      n = 8;
      break;
    default:
      return 0;
  }
  if (static_cast<size_t>(end - p) < 1 + n) return 0;
  *out = BigEndian(p + 1, n);
  return 1 + n;
}

// The length of a msgpack str or bin at p and the size of its header; 0
// when p holds something else or runs past end.
size_t ReadBytesHead(const unsigned char* p, const unsigned char* end, size_t* len) {
  if (p >= end) return 0;
  if ((*p & 0xe0) == 0xa0) {  // fixstr
    *len = *p & 0x1f;
    return 1;
  }
  size_t n = 0;
  switch (*p) {
    case 0xd9:
    case 0xc4:
      n = 1;
      break;  // str 8, bin 8
    case 0xda:
    case 0xc5:
      n = 2;
      break;  // str 16, bin 16
    case 0xdb:
    case 0xc6:
      n = 4;
      break;  // str 32, bin 32
    default:
      return 0;
  }
  if (static_cast<size_t>(end - p) < 1 + n) return 0;
  *len = BigEndian(p + 1, n);
  return 1 + n;
}

// A str or bin of at most max bytes at *p, read into *out; false when *p
// holds something else, a longer one or one that runs past end.
bool ReadBytes(const unsigned char** p, const unsigned char* end, size_t max,
               std::string_view* out) {
  size_t len = 0;
  const size_t head = ReadBytesHead(*p, end, &len);
  if (head == 0 || len > max || static_cast<size_t>(end - *p) - head < len) return false;
  *out = std::string_view(reinterpret_cast<const char*>(*p + head), len);
  *p += head + len;
  return true;
}

// Appends n as msgpack's shortest form of an unsigned integer, which is
// what msgpack-c's packer writes (so the replies equal EncodeValue's).
void PutUint(std::string* out, uint64_t n) {
  if (n < 0x80) {
    out->push_back(static_cast<char>(n));
  } else if (n <= UINT8_MAX) {
    PutBigEndian(out, 0xcc, n, 1);
  } else if (n <= UINT16_MAX) {
    PutBigEndian(out, 0xcd, n, 2);
  } else if (n <= UINT32_MAX) {
    PutBigEndian(out, 0xce, n, 4);
  } else {
    PutBigEndian(out, 0xcf, n, 8);
  }
}

// An array header of n elements: fixarray, array 16 or array 32.
void PutArrayHead(std::string* out, size_t n) {
  if (n <= 0x0f) {
    out->push_back(static_cast<char>(0x90 | n));
  } else if (n <= UINT16_MAX) {
    PutBigEndian(out, 0xdc, n, 2);
  } else {
    PutBigEndian(out, 0xdd, n, 4);
  }
}

void PutBin(std::string* out, std::string_view bytes) {
  if (bytes.size() <= UINT8_MAX) {
    PutBigEndian(out, 0xc4, bytes.size(), 1);
  } else if (bytes.size() <= UINT16_MAX) {
    PutBigEndian(out, 0xc5, bytes.size(), 2);
  } else {
    PutBigEndian(out, 0xc6, bytes.size(), 4);
  }
  out->append(bytes);
}

// Clears *out (keeping its capacity) and starts ["ok", id, ...] with
// `results` results to follow (at most 13: a fixarray).
void PutOkHead(std::string* out, uint64_t id, size_t results = 1) {
  out->clear();
  out->push_back(static_cast<char>(0x92 + results));
  out->append("\xa2ok", 3);
  PutUint(out, id);
}

}  // namespace

std::optional<QuickGet> DecodeQuickGet(std::string_view body, const Limits& limits) {
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  const unsigned char* end = p + body.size();
  // fixarray of 3, then the fixstr "get".
  if (body.size() < 6 || p[0] != 0x93 || std::memcmp(p + 1, "\xa3get", 4) != 0) return std::nullopt;
  p += 5;
  QuickGet get;
  const size_t id_size = ReadUint(p, end, &get.id);
  if (id_size == 0) return std::nullopt;
  p += id_size;
  // Exactly the key and nothing after it; a key over the limit is the full
  // decoder's to refuse, with its message.
  if (!ReadBytes(&p, end, limits.max_key_bytes, &get.key) || p != end) return std::nullopt;
  return get;
}

bool DecodeQuickMget(std::string_view body, const Limits& limits, QuickMget* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  const unsigned char* end = p + body.size();
  // fixarray of 3, then the fixstr "mget".
  if (body.size() < 8 || p[0] != 0x93 || std::memcmp(p + 1, "\xa4mget", 5) != 0) return false;
  p += 6;
  const size_t id_size = ReadUint(p, end, &out->id);
  if (id_size == 0) return false;
  p += id_size;
  size_t count = 0;
  if (p >= end) return false;
  if ((*p & 0xf0) == 0x90) {  // fixarray
    count = *p & 0x0f;
    ++p;
  } else if (*p == 0xdc && end - p >= 3) {  // array 16
    count = BigEndian(p + 1, 2);
    p += 3;
  } else {
    return false;  // array 32 (over any sane limit) or not an array: the full decoder's
  }
  if (count == 0 || count > limits.max_mget_keys) return false;
  out->keys.clear();
  for (size_t i = 0; i < count; ++i) {
    if (!ReadBytes(&p, end, limits.max_key_bytes, &out->keys.emplace_back())) return false;
  }
  return p == end;
}

std::optional<QuickWrite> DecodeQuickWrite(std::string_view body, const Limits& limits) {
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  const unsigned char* end = p + body.size();
  // A fixarray of 3 (del), 4 or 5 (set), then the op as a fixstr.
  if (body.size() < 6 || p[1] != 0xa3) return std::nullopt;
  QuickWrite w;
  if (p[0] == 0x93 && std::memcmp(p + 2, "del", 3) == 0) {
    w.op = Op::kDel;
  } else if ((p[0] == 0x94 || p[0] == 0x95) && std::memcmp(p + 2, "set", 3) == 0) {
    w.op = Op::kSet;
  } else {
    return std::nullopt;
  }
  const bool has_ttl = p[0] == 0x95;
  p += 5;
  const size_t id_size = ReadUint(p, end, &w.id);
  if (id_size == 0) return std::nullopt;
  p += id_size;
  // Too long a key or value is the full decoder's to refuse, with its message.
  if (!ReadBytes(&p, end, limits.max_key_bytes, &w.key)) return std::nullopt;
  if (w.op == Op::kSet && !ReadBytes(&p, end, limits.max_value_bytes, &w.value)) {
    return std::nullopt;
  }
  if (has_ttl) {
    uint64_t ttl = 0;
    if (p < end && *p == 0xc0) {  // nil: absent
      ++p;
    } else if (const size_t n = ReadUint(p, end, &ttl); n != 0) {
      w.ttl_ms = ttl;
      p += n;
    } else {
      return std::nullopt;
    }
  }
  if (p != end) return std::nullopt;
  return w;
}

void EncodeValueTo(std::string* out, uint64_t id, std::string_view value) {
  PutOkHead(out, id);
  PutBin(out, value);
}

void EncodeWrittenTo(std::string* out, uint64_t id, std::optional<bool> existed) {
  PutOkHead(out, id, existed ? 1 : 0);
  if (existed) out->push_back(*existed ? '\xc3' : '\xc2');  // true, false
}

void EncodeValuesTo(std::string* out, uint64_t id, std::span<const std::optional<Value>> values) {
  PutOkHead(out, id);
  PutArrayHead(out, values.size());
  for (const std::optional<Value>& v : values) {
    if (v) {
      PutBin(out, v->view());
    } else {
      out->push_back('\xc0');  // nil
    }
  }
}

}  // namespace meshcache::protocol
