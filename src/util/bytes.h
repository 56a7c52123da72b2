// Values are shared, immutable byte strings: a store hit hands out a
// reference instead of copying under the shard lock, and a value fetched once
// can be sent to many waiters.
#pragma once

#include <memory>
#include <string>

namespace meshcache {

using Value = std::shared_ptr<const std::string>;

inline Value MakeValue(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

}  // namespace meshcache
