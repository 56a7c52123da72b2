// Engine: the node's I/O thread. It owns every socket and all mutable state
// of a node (store aside, which is thread-safe) and runs one poll loop:
//
//   ROUTER  service: client and peer requests in, replies out   (service.cc)
//   DEALER  one per peer: forwards and joins out, replies in    (forward.cc)
//   PUB/SUB gossip: heartbeats and invalidations                 (gossip.cc)
//   PULL    wake-ups from the load workers                       (loads.cc)
//   PAIR    control: the stop command from Node::Stop            (engine.cc)
//
// Nothing here blocks: forwards and loads are pending entries with deadlines,
// and a client request that waits on them is a Job with one slot per key.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "membership/membership.h"
#include "meshcache/loader.hpp"
#include "meshcache/options.hpp"
#include "node/load_pool.h"
#include "node/sockets.h"
#include "node/stats.h"
#include "protocol/messages.h"
#include "ring/ring.h"
#include "singleflight/singleflight.h"
#include "store/store.h"
#include "util/clock.h"

namespace meshcache::node {

// Sockets bound by Node::Start on the caller's thread (so bind errors come
// back as a Status) and handed to the engine's thread.
struct BoundSockets {
  zmq::socket_t router;
  zmq::socket_t pub;
  zmq::socket_t wake;  // PULL for load workers
  zmq::socket_t ctrl;  // PAIR for the stop command
  std::string wake_endpoint;
};

// A client request waiting for forwards and loads. Slots are per key (get: 1,
// mget: n); set and del use no slots and finish on the owner's answer.
struct Job {
  Frames envelope;
  protocol::Op op = protocol::Op::kGet;
  uint64_t client_id = 0;
  std::vector<std::optional<Value>> slots;
  size_t outstanding = 0;
  Status error;
  bool existed = false;
  bool forwarded = false;    // asked by a peer's fwd: a get reply carries ttl_left_ms
  int64_t ttl_left_ms = -1;  // get: the value's remaining life here (0 = none; -1 unknown)
};

// A request sent to a peer and not yet answered.
struct Forward {
  uint64_t job = 0;           // 0: nobody waits (replica write, join)
  std::vector<size_t> slots;  // the job slots it fills, in inner.keys order
  protocol::Request inner;    // what the peer was asked
  std::string target;
  int64_t deadline_ms = 0;
  bool invalidated = false;        // get: its key was invalidated while in flight (no hot copy)
  std::vector<std::string> tried;  // holders already asked for this key (get)
  std::string body;                // the encoded request, kept until it has left
  bool sent = false;
};

struct Waiter {
  uint64_t job;
  size_t slot;
};

class Engine {
 public:
  Engine(const NodeOptions& options, std::string id, std::string gossip_endpoint, Loader loader,
         zmq::context_t& ctx, BoundSockets sockets, const Clock* clock);
  ~Engine();
  // Runs until a stop command has been received and in-flight work drained.
  void Run();

 private:
  using Op = protocol::Op;

  // engine.cc: the loop and its timers
  void PollOnce();
  int64_t NextWakeMs(int64_t now) const;
  void OnTimers(int64_t now);
  void OnControl();
  void Log(LogLevel level, const std::string& msg) const;
  bool Drained() const;

  // service.cc: requests in, replies out
  void OnServiceMessage(Frames& frames);
  void Dispatch(Frames envelope, const protocol::Request& req, uint64_t reply_id, bool forwarded,
                bool replica);
  void Reply(Frames& envelope, const std::string& body);
  void HandleLookup(Frames envelope, const protocol::Request& req, uint64_t reply_id,
                    bool forwarded);
  void HandleWrite(Frames envelope, const protocol::Request& req, uint64_t reply_id, bool forwarded,
                   bool replica);
  void HandleJoin(Frames& envelope, const protocol::Request& req, uint64_t reply_id);
  std::string StatsBody(uint64_t id) const;
  std::string RingBody(uint64_t id) const;
  void LookupLocal(uint64_t job, size_t slot, const std::string& key, bool may_load);
  // Keys per forwarded mget part, so that every part's reply fits a message.
  size_t MgetPartKeys() const;
  bool WriteLocal(const protocol::Request& req, bool* existed);
  void Replicate(const protocol::Request& req);

  // jobs
  uint64_t NewJob(Frames envelope, Op op, uint64_t client_id, size_t slots, size_t outstanding);
  // ttl_left_ms: the value's remaining life when known (see Job).
  void Fill(uint64_t job, size_t slot, std::optional<Value> value, int64_t ttl_left_ms = -1);
  // Settles `count` slots (or the one write) with an error; the first error wins.
  void Fail(uint64_t job, Status status, size_t count);
  void Settle(uint64_t job, size_t count);
  void Finish(uint64_t job);

  // forward.cc: peers
  zmq::socket_t& DealerFor(const std::string& endpoint);
  void DropDealer(const std::string& endpoint);
  // Sends outer (its id assigned here) and records fwd as pending. A peer
  // whose connection is not up yet (DEALERs do not queue for it) gets the
  // request as soon as it is, until the deadline. False only for an endpoint
  // that cannot be connected at all (fwd is then left as it was).
  bool SendToPeer(const std::string& target, Forward& fwd, protocol::Request outer);
  protocol::Request Wrap(const protocol::Request& inner, bool replica) const;
  void ForwardKeys(uint64_t job, const std::string& target, Op op, std::vector<size_t> slots,
                   std::vector<std::string> keys, std::vector<std::string> tried);
  void ForwardWrite(uint64_t job, const std::string& target, const protocol::Request& req);
  void OnPeerMessage(Frames& frames);
  void OnPeerReply(Forward& fwd, const protocol::Reply& reply);
  void OnForwardFailed(Forward& fwd, const Status& why);
  void FallBack(uint64_t job, size_t slot, const std::string& key, std::vector<std::string> tried);
  void ExpireForwards(int64_t now);
  // Takes a finished forward out of inflight_gets_; sets fwd.invalidated.
  void Release(Forward& fwd);
  void MarkInvalidated(const std::string* key);  // nullptr: every key
  void RetryUnsent();

  // gossip.cc: membership
  void Heartbeat();
  void Publish(protocol::Gossip::Kind kind);
  void FlushInvalidations();
  void Invalidate(const std::string& key);
  void OnGossipMessage(Frames& frames);
  void ApplyChanges(const std::vector<MemberChange>& changes);
  void RebuildRing();
  void TryJoin(int64_t now);
  void OnJoined(const protocol::Reply& reply, const std::string& seed);
  void DropHotCopies();

  // loads.cc: the loader
  void StartLoad(uint64_t job, size_t slot, const std::string& key);
  void OnLoadsDone();
  void ExpireLoads(int64_t now);

  const NodeOptions options_;
  const std::string id_;
  const std::string gossip_endpoint_;
  const protocol::Limits limits_;
  const Clock* clock_;
  const int64_t started_ms_;
  zmq::context_t& ctx_;
  BoundSockets sockets_;
  zmq::socket_t sub_;
  std::map<std::string, zmq::socket_t> dealers_;  // by service endpoint
  std::vector<std::string> dealers_to_drop_;
  std::set<std::string> subscribed_;  // gossip endpoints SUB connects to

  Store store_;
  std::unique_ptr<Store> hot_;  // hot copies of other owners' values; null when disabled
  Membership membership_;
  std::shared_ptr<const Ring> ring_;
  Counters counters_;

  bool has_loader_ = false;
  std::unique_ptr<LoadPool> loads_;
  SingleFlight<Waiter> flights_;

  std::unordered_map<uint64_t, Job> jobs_;
  std::unordered_map<uint64_t, Forward> forwards_;
  std::set<std::pair<int64_t, uint64_t>> forward_deadlines_;
  std::vector<uint64_t> unsent_;  // forwards waiting for their peer's connection
  uint64_t next_id_ = 1;

  // gossip state
  uint64_t gossip_seq_ = 0;
  int64_t next_heartbeat_ms_ = 0;
  std::vector<std::string> pending_invals_;  // to send now (inv)
  std::vector<std::string> recent_invals_;   // to repeat in the next heartbeat
  bool invals_overflow_ = false;
  // Keys of get forwards in flight: an invalidation that arrives meanwhile
  // means the owner's answer may predate the write, so it is not kept as a
  // hot copy.
  struct InFlight {
    uint32_t count = 0;
    bool invalidated = false;
  };
  std::unordered_map<std::string, InFlight> inflight_gets_;
  std::map<std::string, uint64_t> last_seq_;  // per sender

  // joining
  bool joined_ = true;
  size_t join_index_ = 0;
  int64_t next_join_ms_ = 0;
  int64_t join_backoff_ms_ = 100;

  // stopping
  bool stopping_ = false;
  int64_t drain_deadline_ms_ = 0;
};

}  // namespace meshcache::node
