// extern "C" over meshcache::Node, with a C loader function as its Loader.
#include <cstdlib>
#include <string>

#include "capi/capi_internal.h"

using meshcache::Code;
using meshcache::Loaded;
using meshcache::Loader;
using meshcache::Result;
using meshcache::Status;
using meshcache::capi::CopyBytes;

namespace {

// Takes over the buffers the C loader returns (c.h: malloc'd, freed here).
Loader WrapLoader(meshcache_loader_fn fn, void* state) {
  if (fn == nullptr) return {};
  return [fn, state](std::string_view key) -> Result<std::optional<Loaded>> {
    size_t vallen = 0;
    uint64_t ttl_ms = 0;
    char* err = nullptr;
    char* value = fn(state, key.data(), key.size(), &vallen, &ttl_ms, &err);
    if (err != nullptr) {
      std::string message(err);
      std::free(err);
      std::free(value);
      return Status::Error(Code::kLoadFailed, message);
    }
    if (value == nullptr) return std::optional<Loaded>();
    Loaded loaded{std::string(value, vallen), ttl_ms};
    std::free(value);
    return std::optional<Loaded>(std::move(loaded));
  };
}

}  // namespace

extern "C" {

meshcache_node_options_t* meshcache_node_options_create(void) {
  return new meshcache_node_options_t;
}
void meshcache_node_options_destroy(meshcache_node_options_t* o) { delete o; }
void meshcache_node_options_set_bind(meshcache_node_options_t* o, const char* address) {
  o->options.bind = address;
}
void meshcache_node_options_set_port(meshcache_node_options_t* o, uint16_t port) {
  o->options.port = port;
}
void meshcache_node_options_set_gossip_port(meshcache_node_options_t* o, uint16_t port) {
  o->options.gossip_port = port;
}
void meshcache_node_options_set_advertise(meshcache_node_options_t* o, const char* host) {
  o->options.advertise = host;
}
void meshcache_node_options_add_join(meshcache_node_options_t* o, const char* endpoint) {
  o->options.join.emplace_back(endpoint);
}
void meshcache_node_options_set_memory_bytes(meshcache_node_options_t* o, size_t bytes) {
  o->options.memory_bytes = bytes;
}
void meshcache_node_options_set_hot_bytes(meshcache_node_options_t* o, size_t bytes) {
  o->options.hot_bytes = bytes;
}
void meshcache_node_options_set_vnodes(meshcache_node_options_t* o, uint32_t vnodes) {
  o->options.vnodes = vnodes;
}
void meshcache_node_options_set_replicas(meshcache_node_options_t* o, uint32_t replicas) {
  o->options.replicas = replicas;
}
void meshcache_node_options_set_default_ttl_ms(meshcache_node_options_t* o, uint64_t ms) {
  o->options.default_ttl_ms = ms;
}
void meshcache_node_options_set_heartbeat_ms(meshcache_node_options_t* o, int64_t ms) {
  o->options.heartbeat_ms = ms;
}
void meshcache_node_options_set_dead_ms(meshcache_node_options_t* o, int64_t ms) {
  o->options.dead_ms = ms;
}
void meshcache_node_options_set_forward_timeout_ms(meshcache_node_options_t* o, int64_t ms) {
  o->options.forward_timeout_ms = ms;
}
void meshcache_node_options_set_load_timeout_ms(meshcache_node_options_t* o, int64_t ms) {
  o->options.load_timeout_ms = ms;
}
void meshcache_node_options_set_load_workers(meshcache_node_options_t* o, size_t workers) {
  o->options.load_workers = workers;
}
void meshcache_node_options_set_loader_endpoint(meshcache_node_options_t* o, const char* endpoint) {
  o->options.loader_endpoint = endpoint;
}
// Keys are checked by meshcache_node_start (Node::Start), so a bad one is
// reported through its errptr like every other bad option. NULL is kept as
// an empty string: no secret key, or a client/peer key that start refuses.
void meshcache_node_options_set_curve_secret_key(meshcache_node_options_t* o,
                                                 const char* secret_key) {
  o->options.curve_secret_key = secret_key ? secret_key : "";
}
void meshcache_node_options_add_curve_client(meshcache_node_options_t* o, const char* public_key) {
  o->options.curve_clients.emplace_back(public_key ? public_key : "");
}
void meshcache_node_options_add_curve_peer(meshcache_node_options_t* o, const char* public_key) {
  o->options.curve_peers.emplace_back(public_key ? public_key : "");
}
void meshcache_node_options_set_allow_plaintext(meshcache_node_options_t* o, unsigned char on) {
  o->options.allow_plaintext = on != 0;
}

meshcache_node_t* meshcache_node_start(const meshcache_node_options_t* o,
                                       meshcache_loader_fn loader, void* state, char** errptr) {
  return meshcache::capi::NewHandle<meshcache_node_t>(
      [&] { return meshcache::Node::Start(o->options, WrapLoader(loader, state)); }, errptr);
}

void meshcache_node_stop(meshcache_node_t* n) { n->node->Stop(); }

void meshcache_node_destroy(meshcache_node_t* n) { delete n; }

char* meshcache_node_id(const meshcache_node_t* n) { return CopyBytes(n->node->id()); }

int meshcache_node_running(const meshcache_node_t* n) { return n->node->running() ? 1 : 0; }

}  // extern "C"
