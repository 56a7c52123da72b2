// The request and reply formats of the TCP targets: redis (RESP2: GET, MGET,
// SET), memcached's text protocol (get, multi-key get, set) and memcached's
// meta protocol (mg, quiet mg ... mn, ms). A parser reads one whole reply
// from the front of the bytes received so far, or says it needs more; it
// never reads past what it is given and keeps no state between calls, so a
// reply split across any number of reads parses the same.
#pragma once

#include <string>
#include <string_view>

#include "load.h"

namespace meshbench {

struct Parsed {
  size_t consumed = 0;  // the reply's bytes; 0: incomplete, read more
  bool broken = false;  // bytes that fit no reply: the stream cannot go on
  uint32_t misses = 0;  // keys the reply says are absent
  uint32_t errors = 0;  // error replies and wrong values in it
  std::string problem;  // the first error, or why the stream is broken
};

struct TextCodec {
  // Appends the request to *out.
  void (*encode)(const Request& r, size_t value_size, std::string* out);
  // Checks every value against bench_values.h for `value_size`.
  Parsed (*parse)(std::string_view in, const Request& r, size_t value_size);
};

// REQUIRES: target is kRedis, kMemcachedText or kMemcachedMeta.
const TextCodec& CodecFor(Target target);

}  // namespace meshbench
