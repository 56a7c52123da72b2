// extern "C" over meshcache::Client.
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "capi/capi_internal.h"

using meshcache::Client;
using meshcache::Status;
using meshcache::capi::CopyBytes;
using meshcache::capi::SaveError;
using json = nlohmann::json;

namespace {

std::string_view Bytes(const char* data, size_t size) {
  return size == 0 ? std::string_view() : std::string_view(data, size);
}

// JSON text of a Result through `to_json`, or NULL with *errptr set. Values
// that are not UTF-8 are replaced rather than failing the call.
template <typename T, typename F>
char* JsonOrError(const meshcache::Result<T>& r, F to_json, char** errptr) {
  if (!r.ok()) {
    SaveError(errptr, r.status());
    return nullptr;
  }
  return CopyBytes(to_json(*r).dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string_view Node(const char* node) {
  return node ? std::string_view(node) : std::string_view();
}

}  // namespace

extern "C" {

meshcache_client_options_t* meshcache_client_options_create(void) {
  return new meshcache_client_options_t;
}
void meshcache_client_options_destroy(meshcache_client_options_t* o) { delete o; }
void meshcache_client_options_add_seed(meshcache_client_options_t* o, const char* endpoint) {
  o->options.seeds.emplace_back(endpoint);
}
void meshcache_client_options_set_timeout_ms(meshcache_client_options_t* o, int64_t ms) {
  o->options.timeout_ms = ms;
}
void meshcache_client_options_set_connect_timeout_ms(meshcache_client_options_t* o, int64_t ms) {
  o->options.connect_timeout_ms = ms;
}
void meshcache_client_options_set_smart_routing(meshcache_client_options_t* o, unsigned char on) {
  o->options.smart_routing = on != 0;
}
void meshcache_client_options_set_ring_refresh_ms(meshcache_client_options_t* o, int64_t ms) {
  o->options.ring_refresh_ms = ms;
}

void meshcache_client_options_set_curve(meshcache_client_options_t* o, const char* server_public,
                                        const char* client_public, const char* client_secret) {
  o->options.curve_server_key = server_public ? server_public : "";
  o->options.curve_public_key = client_public ? client_public : "";
  o->options.curve_secret_key = client_secret ? client_secret : "";
}

meshcache_client_t* meshcache_client_open(const meshcache_client_options_t* o, char** errptr) {
  return meshcache::capi::NewHandle<meshcache_client_t>([o] { return Client::Connect(o->options); },
                                                        errptr);
}

void meshcache_client_close(meshcache_client_t* c) { delete c; }

char* meshcache_client_get(meshcache_client_t* c, const char* key, size_t keylen, size_t* vallen,
                           char** errptr) {
  *vallen = 0;
  auto r = c->client->Get(Bytes(key, keylen));
  if (!r.ok()) {
    SaveError(errptr, r.status());
    return nullptr;
  }
  if (!r->has_value()) return nullptr;
  *vallen = (*r)->size();
  return CopyBytes(**r);
}

void meshcache_client_set(meshcache_client_t* c, const char* key, size_t keylen, const char* val,
                          size_t vallen, int64_t ttl_ms, char** errptr) {
  std::optional<uint64_t> ttl;
  if (ttl_ms >= 0) ttl = static_cast<uint64_t>(ttl_ms);
  Status s = c->client->Set(Bytes(key, keylen), Bytes(val, vallen), ttl);
  if (!s.ok()) SaveError(errptr, s);
}

int meshcache_client_del(meshcache_client_t* c, const char* key, size_t keylen, char** errptr) {
  auto r = c->client->Del(Bytes(key, keylen));
  if (!r.ok()) {
    SaveError(errptr, r.status());
    return -1;
  }
  return *r ? 1 : 0;
}

void meshcache_client_mget(meshcache_client_t* c, size_t n, const char* const* keys,
                           const size_t* keylens, char** values, size_t* vallens, char** errptr) {
  std::vector<std::string> wanted;
  for (size_t i = 0; i < n; ++i) {
    wanted.emplace_back(Bytes(keys[i], keylens[i]));
    values[i] = nullptr;
    vallens[i] = 0;
  }
  auto r = c->client->MGet(wanted);
  if (!r.ok()) {
    SaveError(errptr, r.status());
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!(*r)[i]) continue;
    values[i] = CopyBytes(*(*r)[i]);
    vallens[i] = (*r)[i]->size();
  }
}

char* meshcache_client_ping(meshcache_client_t* c, const char* node, char** errptr) {
  return JsonOrError(
      c->client->Ping(Node(node)),
      [](const meshcache::PingInfo& p) {
        return json{{"node", p.node}, {"version", p.version}, {"proto", p.proto}};
      },
      errptr);
}

char* meshcache_client_stats(meshcache_client_t* c, const char* node, char** errptr) {
  return JsonOrError(
      c->client->Stats(Node(node)),
      [](const std::vector<std::pair<std::string, meshcache::Client::StatValue>>& stats) {
        json out = json::object();
        for (const auto& [name, value] : stats) {
          std::visit([&out, &n = name](const auto& v) { out[n] = v; }, value);
        }
        return out;
      },
      errptr);
}

char* meshcache_client_ring(meshcache_client_t* c, const char* node, char** errptr) {
  return JsonOrError(
      c->client->RingInfo(Node(node)),
      [](const meshcache::MeshRing& ring) {
        json nodes = json::array();
        for (const auto& m : ring.members) {
          nodes.push_back(
              {{"id", m.id}, {"service", m.service}, {"gossip", m.gossip}, {"state", m.state}});
        }
        return json{{"epoch", ring.epoch},
                    {"hash", ring.hash},
                    {"vnodes", ring.vnodes},
                    {"replicas", ring.replicas},
                    {"nodes", nodes}};
      },
      errptr);
}

}  // extern "C"
