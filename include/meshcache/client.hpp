// Client: the C++ client of a meshcache mesh.
//
//   meshcache::ClientOptions o;  o.seeds = {"tcp://127.0.0.1:7400"};
//   auto client = meshcache::Client::Connect(o);
//   if (!client.ok()) { ... client.status().ToString() ... }
//   Status s = (*client)->Set("user:42", "Ada");
//   auto v = (*client)->Get("user:42");   // ok + nullopt on a miss
//
// Routing. With smart_routing (the default) the client fetches the `ring`
// from a node, builds the same ring the nodes build and sends each key
// straight to its owner, over one DEALER socket per node. An mget is split
// by owner; the parts run in parallel and are merged in request order. The
// ring is fetched again every ring_refresh_ms and at once when a node fails
// or times out. A request whose node cannot be reached within
// connect_timeout_ms goes to the key's next holder or any other live node
// (which forwards it); a node that failed is avoided for node_retry_ms.
// Without smart routing every request goes to the first reachable seed.
//
// Errors. Every call is bounded by timeout_ms: past it the call fails with
// Code::kTimeout (its late reply, if any, is dropped by request id). When no
// node can be reached the call fails with Code::kUnavailable. A node's error
// reply keeps its wire code (kBadRequest, kTooLarge, kUnavailable, kTimeout,
// kLoadFailed, kOverloaded) and message. A reply that does not decode is
// kInternal. A miss is never an error.
//
// Pipelining. SendGet/SendSet/SendDel/SendMGet queue a request and return a
// ticket at once; Poll returns completions, each naming its ticket, in the
// order they finish. Any number may be in flight. The synchronous calls are
// a Send followed by a wait for that ticket; completions of other tickets
// that arrive meanwhile are kept for the next Poll.
//
// Coalescing (opt-in: coalesce_gets > 1). A SendGet is then not sent at once
// but held with the other gets for the node its key routes to, and that
// node's held gets leave as one `mget` when the first of these happens:
//   - they number coalesce_gets (inside the SendGet that made them so);
//   - another request is sent to that node (so every node still receives
//     requests in the order they were started);
//   - the caller calls Poll or any synchronous method (Get, Set, Del, MGet,
//     Ping, Stats, RingInfo), which sends every held get before it waits.
// The client has no thread of its own, so that is exactly the latency
// coalescing adds to a get: the caller's own time from its SendGet to the
// next of those (Poll(0) sends at once without waiting); pending() and the
// other Send* calls to other nodes do not send held gets. timeout_ms runs
// from SendGet, time held included. A held batch of one is sent as a plain
// get. Each get still completes on its own ticket, as a value or a miss, as
// it would alone. When a node answers the mget with an error, or the mget's
// connection stalls or breaks, the gets still open are sent again one by one
// as plain gets (to the next candidate after a stall or break), so each ends
// with the answer or error it would have had uncoalesced, at the cost of one
// more round trip.
//
// Thread safety: a Client is not thread-safe; use one per thread. Separate
// Clients share nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "meshcache/status.hpp"

namespace meshcache {

struct ClientOptions {
  // Service endpoints (tcp://HOST:PORT) of any nodes; at least one. With
  // smart routing the client learns the others from their ring.
  std::vector<std::string> seeds;
  // Deadline of each call, from Send to completion (an mget's parts share
  // it). Shorter fails faster on a stalled node, longer tolerates slow loads.
  int64_t timeout_ms = 1000;
  // How long a request may wait for a connection to its node before it is
  // sent to another node instead. Values over timeout_ms act as timeout_ms.
  int64_t connect_timeout_ms = 250;
  // Send each key to its owner (one hop) instead of to a seed (two hops).
  bool smart_routing = true;
  // How often the ring is fetched again while all goes well. Shorter follows
  // membership changes sooner at the cost of a request per period.
  int64_t ring_refresh_ms = 5000;
  // How long a node that failed or timed out is avoided.
  int64_t node_retry_ms = 2000;
  // Largest reply accepted (bytes); bounds the client's memory against a
  // broken node. Must cover the nodes' max_value_bytes (and a whole mget).
  size_t max_reply_bytes = 256u << 20;
  // Coalescing of pipelined gets (see "Coalescing" above): the most gets
  // started by SendGet that are held for one node and sent as one mget.
  // 0 (the default) or 1: every get is sent at once. Larger batches cost the
  // client, the wire and the node less per key (one message and one reply
  // for up to this many keys) at the price of latency: a held get waits for
  // the caller's next Poll or synchronous call unless its batch fills first.
  // At most 4096 (the nodes' mget limit); max_reply_bytes must hold this many
  // values. Get() and the other calls are never held.
  size_t coalesce_gets = 0;
  // CURVE (Z85 keys; docs/security.md): the mesh's public key, and this
  // client's key pair, whose public key is on the nodes' client list. All
  // three, or none (plaintext).
  std::string curve_server_key;
  std::string curve_public_key;
  std::string curve_secret_key;
};

// Ok, or kInvalidArgument naming the first bad option.
Status ValidateClientOptions(const ClientOptions& options);

struct PingInfo {
  std::string node;  // the node's id
  std::string version;
  int64_t proto = 0;  // protocol version
};

struct RingMember {
  std::string id;
  std::string service;
  std::string gossip;
  std::string state;  // "alive", "suspect", "dead" or "left"
};

struct MeshRing {
  uint64_t epoch = 0;
  std::string hash;  // "xxh32"
  uint32_t vnodes = 0;
  uint32_t replicas = 0;
  std::vector<RingMember> members;
};

// One finished pipelined request. Which fields are set depends on the op:
// get: value (nullopt on a miss); mget: values in request order; del:
// existed; set: nothing. On error only status and ticket are meaningful.
struct Completion {
  uint64_t ticket = 0;
  Status status;
  std::optional<std::string> value;
  std::vector<std::optional<std::string>> values;
  bool existed = false;
};

class Client {
 public:
  // Checks the options and, with smart routing, fetches the ring from the
  // first seed that answers (bounded by timeout_ms). When none answers the
  // client is still returned: requests go to the seeds until a ring is known.
  // Errors: kInvalidArgument for bad options.
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // nullopt on a miss.
  Result<std::optional<std::string>> Get(std::string_view key);
  // ttl_ms: nullopt = the node's default, 0 = never expire.
  Status Set(std::string_view key, std::string_view value,
             std::optional<uint64_t> ttl_ms = std::nullopt);
  // True when the key existed.
  Result<bool> Del(std::string_view key);
  // One entry per key, in order; nullopt for a miss.
  Result<std::vector<std::optional<std::string>>> MGet(const std::vector<std::string>& keys);

  // `node` empty: the first reachable node (seeds first); otherwise exactly
  // that service endpoint, with no fallback.
  Result<PingInfo> Ping(std::string_view node = {});
  // The node's counters in the order it sent them, each an integer or a
  // string as the node sent it.
  using StatValue = std::variant<int64_t, std::string>;
  Result<std::vector<std::pair<std::string, StatValue>>> Stats(std::string_view node = {});
  // The ring as the node sees it; also replaces the client's routing ring.
  Result<MeshRing> RingInfo(std::string_view node = {});

  // Pipelined forms. Each returns a ticket (never 0) naming the request in
  // the Completion that Poll returns for it later; errors too arrive there.
  // With coalesce_gets > 1, SendGet may hold its get (see "Coalescing").
  uint64_t SendGet(std::string_view key);
  uint64_t SendSet(std::string_view key, std::string_view value,
                   std::optional<uint64_t> ttl_ms = std::nullopt);
  uint64_t SendDel(std::string_view key);
  uint64_t SendMGet(const std::vector<std::string>& keys);
  // Waits up to timeout_ms (0: not at all) for at least one completion and
  // returns every completion ready by then (possibly none).
  std::vector<Completion> Poll(int64_t timeout_ms);
  // Requests sent and not yet returned by Poll.
  size_t pending() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshcache
