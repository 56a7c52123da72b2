// memcached's exptime: what the number in set/add/.../touch/gat and in the
// meta flags T, N and R means, as a TTL from the current Unix time, which
// the caller passes in (this module reads no clock).
//
// memcached's rules (memcached.c realtime(), EXPTIME_TO_POSITIVE_TIME):
//   0                     never expires
//   1 .. 2592000 (30 d)   that many seconds from now
//   > 2592000             an absolute Unix time; at or before now: expired
//   < 0                   expired at once
// The same rules hold for the meta tokens T, N and R.
#pragma once

#include <cstdint>

namespace meshcache::memcache {

// The largest relative exptime (memcached's REALTIME_MAXDELTA): 30 days.
inline constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;

struct Ttl {
  enum Kind : uint8_t {
    kNever,    // keep until evicted
    kExpired,  // already expired: a store of it removes the key
    kSeconds,  // expires after `seconds` (> 0)
  };
  Kind kind = kNever;
  int64_t seconds = 0;

  friend bool operator==(const Ttl&, const Ttl&) = default;
};

// The TTL that exptime means at Unix time now_s. Total for every input:
// no overflow for any exptime or now_s.
Ttl TtlFromExptime(int64_t exptime, int64_t now_s);

}  // namespace meshcache::memcache
