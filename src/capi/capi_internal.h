// Shared by the C API's translation units: the handle structs and the
// conventions of c.h (errptr, malloc'd buffers).
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "meshcache/c.h"
#include "meshcache/client.hpp"
#include "meshcache/node.hpp"
#include "meshcache/status.hpp"

struct meshcache_client_options_t {
  meshcache::ClientOptions options;
};
struct meshcache_client_t {
  std::unique_ptr<meshcache::Client> client;
};
struct meshcache_node_options_t {
  meshcache::NodeOptions options;
};
struct meshcache_node_t {
  std::unique_ptr<meshcache::Node> node;
};

namespace meshcache::capi {

// Replaces *errptr with a malloc'd "<code>: <message>". REQUIRES: !s.ok().
void SaveError(char** errptr, const Status& s);
// A malloc'd copy of the bytes plus a NUL after them (never NULL).
char* CopyBytes(std::string_view bytes);

// new Handle{value of make()}, or nullptr with *errptr set from its error
// or from an exception (no exception crosses the C ABI).
template <typename Handle, typename Make>
Handle* NewHandle(Make make, char** errptr) {
  try {
    auto made = make();
    if (made.ok()) return new Handle{std::move(*made)};
    SaveError(errptr, made.status());
  } catch (const std::exception& e) {  // e.g. no file descriptors left for sockets
    SaveError(errptr, Status::Error(Code::kIoError, e.what()));
  }
  return nullptr;
}

}  // namespace meshcache::capi
