#include "memcache/expiry.h"

namespace meshcache::memcache {

Ttl TtlFromExptime(int64_t exptime, int64_t now_s) {
  if (exptime == 0) return {Ttl::kNever, 0};
  if (exptime < 0) return {Ttl::kExpired, 0};
  if (exptime <= kMaxRelativeExptime) return {Ttl::kSeconds, exptime};
  // An absolute time. exptime > 0, so exptime - now_s overflows only for a
  // now_s far below zero: such a deadline is as far away as int64 allows.
  int64_t left = 0;
  if (__builtin_sub_overflow(exptime, now_s, &left)) return {Ttl::kSeconds, INT64_MAX};
  if (left <= 0) return {Ttl::kExpired, 0};
  return {Ttl::kSeconds, left};
}

}  // namespace meshcache::memcache
