// NodeOptions: every setting of a node, with its default and its trade-off.
// meshcached fills it from flags and a TOML file; an embedding program fills
// it in code. Nothing else reads flags or files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace meshcache {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
// Receives the node's log lines (one event per call, no trailing newline).
// Called from the node's I/O thread; must not block. Null: the node is silent.
using LogFn = std::function<void(LogLevel, const std::string&)>;

struct NodeOptions {
  // Address the service and gossip sockets bind. Loopback by default, so a
  // node is private until told otherwise.
  std::string bind = "127.0.0.1";
  // Service (ROUTER) port for clients and peers. 0 is refused.
  uint16_t port = 7400;
  // Gossip (PUB) port; 0 means port + 1.
  uint16_t gossip_port = 0;
  // Host peers and clients use to reach this node; empty means `bind`. Needed
  // when binding 0.0.0.0. The node id is tcp://ADVERTISE:PORT.
  std::string advertise;
  // Service endpoints of running nodes to join through, tried in turn with
  // backoff until one answers. Empty: this node starts a mesh.
  std::vector<std::string> join;

  // Byte budget of the store (keys + values + per-entry overhead).
  size_t memory_bytes = 64u << 20;
  // The store's LRU, as InnoDB's buffer pool: the share of the store's bytes
  // kept in the old sublist, where new entries enter (innodb_old_blocks_pct,
  // 5-100), and how long an old entry must have been stored before a hit
  // moves it to the young head (innodb_old_blocks_time). A smaller share
  // shields the hot set harder from a scan, a larger one gives a new working
  // set more room; 100 and 0 make a plain LRU (no scan resistance).
  uint32_t lru_old_percent = 37;
  int64_t lru_old_time_ms = 1000;
  // Budget for hot copies of other owners' values; 0 disables them. Hot
  // copies save a hop for hot keys at the cost of up to one heartbeat of
  // staleness after a write that an invalidation message missed.
  size_t hot_bytes = 4u << 20;
  // Upper bound on a hot copy's life, whatever invalidations say.
  int64_t hot_ttl_ms = 10000;
  // Ring positions per node: more balances better and costs ring memory.
  uint32_t vnodes = 160;
  // Holders per key. Sets and dels reach all; a get falls back to the next
  // holder when the owner does not answer.
  uint32_t replicas = 1;
  // Expiry applied to a set without ttl_ms; 0 = never.
  uint64_t default_ttl_ms = 0;
  size_t max_key_bytes = 1024;        // inclusive
  size_t max_value_bytes = 1u << 20;  // inclusive

  // Gossip: a heartbeat every heartbeat_ms; a silent peer is suspect after
  // suspect_ms (0: three heartbeats, kept below dead_ms) and dead after
  // dead_ms. Shorter heals faster and declares slow nodes dead sooner.
  int64_t heartbeat_ms = 500;
  int64_t suspect_ms = 0;
  int64_t dead_ms = 3000;

  // A forward to an owner that has not answered by then is retried on the
  // next holder, else answered by the local loader, else `unavailable`.
  int64_t forward_timeout_ms = 500;
  // A load that has not finished by then is answered `timeout`.
  int64_t load_timeout_ms = 5000;
  // Threads that run the loader; each load holds one for its whole duration.
  size_t load_workers = 4;
  // Bounded queues: over these the node answers `overloaded`. Pending
  // requests are those that wait (forwards, loads, peeks); a get answered at
  // once from this node's store takes no room and is never refused.
  size_t max_queued_loads = 1024;
  size_t max_pending_requests = 65536;
  // After SIGTERM/Stop(): how long in-flight requests may take to finish.
  int64_t drain_ms = 1000;
  // Hand-off: when the ring changes, entries move to the nodes that now hold
  // them (a joining or returning node gets its share warm; a stand-in gives
  // back what it took over), and after SIGTERM/Stop() a node hands all its
  // entries on, taking at most this long before it exits. 0 turns hand-off
  // off: a restart then starts cold, and a node that comes back serves only
  // what it held before it went away.
  int64_t handoff_ms = 5000;

  // memcached's text and meta protocols on plain TCP (the memcached door):
  // 0 turns it off. Keys are served as the native protocol serves them
  // (forwarded to their owners). memcache_bind empty: `bind`. The door has no
  // authentication, as memcached has none: bind it where only trusted
  // programs reach it. Past memcache_max_conns open connections a new one is
  // closed at once (counted); each connection may hold one command in and up
  // to 64 MiB of unread replies out.
  uint16_t memcache_port = 0;
  std::string memcache_bind;
  size_t memcache_max_conns = 1024;

  // Origin service (tcp://HOST:PORT) speaking the protocol's `load` op, used
  // when no Loader callback is given. Empty: misses are plain misses.
  std::string loader_endpoint;

  // CurveZMQ (Z85 keys, as `meshcached keygen` prints them). With a secret
  // key, the service and gossip sockets are CURVE servers that admit only
  // the keys below, and the node's connections to its peers are CURVE
  // clients. Empty: plaintext, and the node trusts its network (bind
  // loopback, or a network only trusted programs reach).
  std::string curve_secret_key;
  // Public keys of clients: they may send the client operations only.
  std::vector<std::string> curve_clients;
  // Public keys of the nodes that may join and send peer messages, besides
  // this node's own: nodes that share this node's key pair are its peers.
  // (Each node reaches the others with this node's public key as theirs, so
  // today peers must share one key pair; docs/security.md.)
  std::vector<std::string> curve_peers;
  // Binding an address other than loopback without CURVE is refused unless
  // this is set (as Redis's protected mode): anyone who reaches the port
  // could then act as a peer.
  bool allow_plaintext = false;

  LogFn log;
};

}  // namespace meshcache
