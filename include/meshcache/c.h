/* meshcache C API: a client of a mesh and an embeddable node, with a C ABI
 * (libmeshcache.so), in the style of LevelDB's c.h.
 *
 * Conventions:
 *   - Handles are opaque. Every _create/_open/_start has a _destroy/_close
 *     that frees it; passing NULL to those is a no-op.
 *   - Functions that can fail take `char** errptr` last. *errptr must be NULL
 *     or a message from an earlier call. On failure the old message is freed
 *     and *errptr is set to a new one, "<code>: <detail>" where <code> is the
 *     protocol's error code ("bad_request", "too_large", "unavailable",
 *     "timeout", "load_failed", "overloaded") or a local one
 *     ("invalid_argument", "io_error", "internal"). On success *errptr is
 *     left as it was, so one variable can collect the first error of several
 *     calls. A miss is not a failure.
 *   - Every buffer a function returns (values, messages, JSON text, ids)
 *     belongs to the caller and is freed with meshcache_free(). Each has a
 *     NUL byte after its length, so text can be used as a C string; values
 *     may hold NUL bytes themselves, so use their length.
 *   - Strings taken as `const char*` without a length are NUL-terminated and
 *     copied; keys and values are (pointer, length) pairs and may hold any
 *     bytes.
 *
 * Thread safety: a client handle is used by one thread at a time (make one
 * per thread). A node handle may be used from any thread; the loader is
 * called on the node's worker threads.
 */
#ifndef MESHCACHE_C_H_
#define MESHCACHE_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MESHCACHE_EXPORT __attribute__((visibility("default")))
#else
#define MESHCACHE_EXPORT
#endif

typedef struct meshcache_client_options_t meshcache_client_options_t;
typedef struct meshcache_client_t meshcache_client_t;
typedef struct meshcache_node_options_t meshcache_node_options_t;
typedef struct meshcache_node_t meshcache_node_t;

/* Frees any buffer this API returned (malloc'd; NULL is a no-op). */
MESHCACHE_EXPORT void meshcache_free(void* ptr);
/* The library's version, e.g. "0.1.0"; static, not to be freed. */
MESHCACHE_EXPORT const char* meshcache_version(void);

/* ---- client options: the defaults of meshcache::ClientOptions ---------- */
MESHCACHE_EXPORT meshcache_client_options_t* meshcache_client_options_create(void);
MESHCACHE_EXPORT void meshcache_client_options_destroy(meshcache_client_options_t* options);
/* A service endpoint tcp://HOST:PORT to start from; at least one. */
MESHCACHE_EXPORT void meshcache_client_options_add_seed(meshcache_client_options_t* options,
                                                        const char* endpoint);
/* Deadline of each request (default 1000). */
MESHCACHE_EXPORT void meshcache_client_options_set_timeout_ms(meshcache_client_options_t* options,
                                                              int64_t ms);
/* How long a request may wait for a connection before another node gets it
 * (default 250; capped at the timeout). */
MESHCACHE_EXPORT void meshcache_client_options_set_connect_timeout_ms(
    meshcache_client_options_t* options, int64_t ms);
/* Non-zero (default): each key straight to its owner; zero: all to the seeds. */
MESHCACHE_EXPORT void meshcache_client_options_set_smart_routing(
    meshcache_client_options_t* options, unsigned char on);
/* How often the ring is fetched again (default 5000). */
MESHCACHE_EXPORT void meshcache_client_options_set_ring_refresh_ms(
    meshcache_client_options_t* options, int64_t ms);
/* CURVE (docs/security.md): the mesh's public key and this client's key
 * pair, Z85 text (40 characters). Set all three or none; meshcache_client_open
 * refuses a partial or malformed set. */
MESHCACHE_EXPORT void meshcache_client_options_set_curve(meshcache_client_options_t* options,
                                                         const char* server_public_key,
                                                         const char* client_public_key,
                                                         const char* client_secret_key);

/* ---- client ------------------------------------------------------------ */
/* Returns NULL and sets *errptr for bad options. An unreachable mesh is not
 * an error here: requests fail with "unavailable" until a node answers. */
MESHCACHE_EXPORT meshcache_client_t* meshcache_client_open(
    const meshcache_client_options_t* options, char** errptr);
MESHCACHE_EXPORT void meshcache_client_close(meshcache_client_t* client);

/* The value (*vallen bytes, caller frees), or NULL: a miss when *errptr is
 * unchanged, else an error. A found empty value is a non-NULL buffer with
 * *vallen 0. */
MESHCACHE_EXPORT char* meshcache_client_get(meshcache_client_t* client, const char* key,
                                            size_t keylen, size_t* vallen, char** errptr);
/* ttl_ms: < 0 the node's default, 0 never expire, > 0 milliseconds. */
MESHCACHE_EXPORT void meshcache_client_set(meshcache_client_t* client, const char* key,
                                           size_t keylen, const char* val, size_t vallen,
                                           int64_t ttl_ms, char** errptr);
/* 1 when the key existed, 0 when it did not, -1 on error. */
MESHCACHE_EXPORT int meshcache_client_del(meshcache_client_t* client, const char* key,
                                          size_t keylen, char** errptr);
/* Looks up n keys at once. values[i]/vallens[i] receive each value (caller
 * frees) or NULL/0 for a miss. On error every values[i] is NULL. */
MESHCACHE_EXPORT void meshcache_client_mget(meshcache_client_t* client, size_t n,
                                            const char* const* keys, const size_t* keylens,
                                            char** values, size_t* vallens, char** errptr);
/* node: a service endpoint, or NULL for the first reachable node. Each
 * returns NUL-terminated JSON (caller frees), or NULL on error:
 *   ping:  {"node": id, "version": str, "proto": int}
 *   stats: {name: int or str, ...}
 *   ring:  {"epoch": int, "hash": str, "vnodes": int, "replicas": int,
 *           "nodes": [{"id", "service", "gossip", "state"}, ...]} */
MESHCACHE_EXPORT char* meshcache_client_ping(meshcache_client_t* client, const char* node,
                                             char** errptr);
MESHCACHE_EXPORT char* meshcache_client_stats(meshcache_client_t* client, const char* node,
                                              char** errptr);
MESHCACHE_EXPORT char* meshcache_client_ring(meshcache_client_t* client, const char* node,
                                             char** errptr);

/* ---- embedded node ----------------------------------------------------- */
/* Called on a miss at the owner, on one of the node's worker threads, never
 * twice at once for the same key; must be thread-safe across keys. state is
 * the pointer given to meshcache_node_start.
 *   found:     return a buffer allocated with malloc() holding *vallen bytes
 *              (the node takes it and releases it with free(); a zero-length
 *              value is a non-NULL buffer with *vallen 0). *ttl_ms may be set
 *              (it starts at 0, the node's default TTL).
 *   not found: return NULL and leave *errptr NULL.
 *   error:     return NULL and set *errptr to a malloc()'d NUL-terminated
 *              message (the node frees it); clients see load_failed with it. */
typedef char* (*meshcache_loader_fn)(void* state, const char* key, size_t keylen, size_t* vallen,
                                     uint64_t* ttl_ms, char** errptr);

/* The defaults of meshcache::NodeOptions (port 7400 on 127.0.0.1, ...). */
MESHCACHE_EXPORT meshcache_node_options_t* meshcache_node_options_create(void);
MESHCACHE_EXPORT void meshcache_node_options_destroy(meshcache_node_options_t* options);
MESHCACHE_EXPORT void meshcache_node_options_set_bind(meshcache_node_options_t* options,
                                                      const char* address);
MESHCACHE_EXPORT void meshcache_node_options_set_port(meshcache_node_options_t* options,
                                                      uint16_t port);
/* 0 (default): port + 1. */
MESHCACHE_EXPORT void meshcache_node_options_set_gossip_port(meshcache_node_options_t* options,
                                                             uint16_t port);
MESHCACHE_EXPORT void meshcache_node_options_set_advertise(meshcache_node_options_t* options,
                                                           const char* host);
/* A running node's service endpoint to join through (repeatable). */
MESHCACHE_EXPORT void meshcache_node_options_add_join(meshcache_node_options_t* options,
                                                      const char* endpoint);
MESHCACHE_EXPORT void meshcache_node_options_set_memory_bytes(meshcache_node_options_t* options,
                                                              size_t bytes);
MESHCACHE_EXPORT void meshcache_node_options_set_hot_bytes(meshcache_node_options_t* options,
                                                           size_t bytes);
MESHCACHE_EXPORT void meshcache_node_options_set_vnodes(meshcache_node_options_t* options,
                                                        uint32_t vnodes);
MESHCACHE_EXPORT void meshcache_node_options_set_replicas(meshcache_node_options_t* options,
                                                          uint32_t replicas);
MESHCACHE_EXPORT void meshcache_node_options_set_default_ttl_ms(meshcache_node_options_t* options,
                                                                uint64_t ms);
MESHCACHE_EXPORT void meshcache_node_options_set_heartbeat_ms(meshcache_node_options_t* options,
                                                              int64_t ms);
MESHCACHE_EXPORT void meshcache_node_options_set_dead_ms(meshcache_node_options_t* options,
                                                         int64_t ms);
MESHCACHE_EXPORT void meshcache_node_options_set_forward_timeout_ms(
    meshcache_node_options_t* options, int64_t ms);
MESHCACHE_EXPORT void meshcache_node_options_set_load_timeout_ms(meshcache_node_options_t* options,
                                                                 int64_t ms);
MESHCACHE_EXPORT void meshcache_node_options_set_load_workers(meshcache_node_options_t* options,
                                                              size_t workers);
/* An origin service for misses, used when no loader function is given. */
MESHCACHE_EXPORT void meshcache_node_options_set_loader_endpoint(meshcache_node_options_t* options,
                                                                 const char* endpoint);
/* CURVE (docs/security.md), keys as Z85 text (40 characters, as
 * `meshcached keygen` prints them). None is checked here:
 * meshcache_node_start returns NULL with "invalid_argument: ..." in *errptr
 * for a key that is not Z85 (a NULL client or peer key included), and for
 * client or peer keys without a secret key.
 *
 * The node's secret key. Set: the service and gossip ports are CURVE servers
 * that admit only the keys below, and the node reaches its peers as a CURVE
 * client with this key pair. Empty or NULL (default): plaintext. */
MESHCACHE_EXPORT void meshcache_node_options_set_curve_secret_key(meshcache_node_options_t* options,
                                                                  const char* secret_key);
/* The public key of a client that may connect and send client operations
 * (get, set, del, mget, ping, stats, ring); repeatable. */
MESHCACHE_EXPORT void meshcache_node_options_add_curve_client(meshcache_node_options_t* options,
                                                              const char* public_key);
/* The public key of a node that may join and send peer messages, besides
 * nodes with this node's own key pair; repeatable. With a pair per node,
 * every node's key goes here on every node (docs/security.md). */
MESHCACHE_EXPORT void meshcache_node_options_add_curve_peer(meshcache_node_options_t* options,
                                                            const char* public_key);
/* Non-zero: binding an address other than loopback without CURVE is allowed;
 * anyone who reaches the ports can then act as a peer. Zero (default):
 * meshcache_node_start refuses it, as Redis's protected mode does. */
MESHCACHE_EXPORT void meshcache_node_options_set_allow_plaintext(meshcache_node_options_t* options,
                                                                 unsigned char on);

/* Binds and starts a node; loader may be NULL. state (which may be NULL) is
 * passed to every loader call and must outlive the node. Returns NULL and
 * sets *errptr when the options are bad or a port cannot be bound. */
MESHCACHE_EXPORT meshcache_node_t* meshcache_node_start(const meshcache_node_options_t* options,
                                                        meshcache_loader_fn loader, void* state,
                                                        char** errptr);
/* Graceful stop: announces `left`, lets in-flight requests finish, closes
 * the sockets. Idempotent; the handle stays valid until destroyed. */
MESHCACHE_EXPORT void meshcache_node_stop(meshcache_node_t* node);
/* Stops the node if it runs, then frees the handle. */
MESHCACHE_EXPORT void meshcache_node_destroy(meshcache_node_t* node);
/* The node's id (its service endpoint), NUL-terminated; caller frees. */
MESHCACHE_EXPORT char* meshcache_node_id(const meshcache_node_t* node);
/* 1 while the node runs, 0 after stop. */
MESHCACHE_EXPORT int meshcache_node_running(const meshcache_node_t* node);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MESHCACHE_C_H_ */
