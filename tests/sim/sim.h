// Mesh: many instances of the real gossip logic (node::Gossiper and its
// Membership table) in one process, over a simulated network, on one shared
// ManualClock. No sockets, no threads: a node's Peers is a SimPeers that
// turns Publish and Send into timed deliveries on an event queue.
//
// The network: each delivery (a gossip message to one subscriber, a join or
// sync request, its answer) is lost independently with probability `loss`,
// arrives after a uniform delay, and is dropped when a partition separates
// its two ends at delivery time or the receiver was killed. As Peers says, a
// node receives the invalidations of every member it follows (its last
// Follow) and the heartbeats of those it also listens to (its last Listen);
// the sender filters, as ZmqPeers' PUB does, so a heartbeat nobody listens
// to costs nothing. Subscriptions take effect at once (ZeroMQ's travel to
// the publisher), and messages on one link may overtake each other. Joins
// and syncs go the way Service sends and answers them (node/remote.cc
// SendJoin, OnForwardReply; node/info.cc HandleJoin): the request body is
// encoded and decoded with the real codec, the answer is
// Gossiper::OnJoinRequest's table encoded by EncodeMembers and decoded by
// DecodeReply, whose limits (max_members) apply.
//
// Time runs in microseconds inside the simulator (the clock shows whole
// milliseconds). At each step the loop takes the earliest of the next
// delivery and the next node timer (Gossiper::NextWakeMs, kept in a heap);
// a node whose timer is due runs, as Service::OnTimers does, JoinDue and
// SyncDue (what they return is sent), then OnTimer. After every delivery the
// receiver runs JoinDue and SyncDue too, as the real node does every poll
// round. Deterministic for a seed: one RNG, ties broken by insertion order.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "node/gossiper.h"
#include "protocol/messages.h"
#include "util/clock.h"

namespace meshcache::sim {

struct MeshOptions {
  int nodes = 32;
  uint64_t seed = 1;
  node::GossipOptions gossip;  // join is set per node (node 0's id, none for node 0)
  double loss = 0;             // each delivery independently
  int64_t delay_min_us = 200;
  int64_t delay_max_us = 2000;
};

struct Traffic {
  uint64_t msgs = 0;
  uint64_t bytes = 0;
  void Add(size_t b) {
    ++msgs;
    bytes += b;
  }
};

// Per node, sent and received. Gossip "sent" counts one message per
// subscriber (a PUB writes one copy per connection), before loss.
struct NodeTraffic {
  Traffic gossip_sent, gossip_recv;
  Traffic sync_sent, sync_recv;  // join and sync requests and their answers
};

// Transitions into suspect or dead seen in tables (any observer), from the
// members each node follows (Peers::Follow carries every other entry).
struct Transitions {
  uint64_t live_suspect = 0;  // of a member that is running
  uint64_t live_dead = 0;
  // Of those, where observer and member are on one side of the last
  // Partition (all of them if there was none): never the cut's doing.
  uint64_t live_dead_same_side = 0;
  uint64_t killed_dead = 0;  // of a killed member: expected
};

struct MeshCounters {
  Transitions transitions;
  uint64_t joins = 0;   // join requests sent (not syncs)
  uint64_t syncs = 0;   // sync requests sent
  uint64_t probes = 0;  // probe requests sent: direct, ping-req and their relayed legs
  uint64_t lost = 0;    // deliveries dropped by loss
  uint64_t cut = 0;     // deliveries dropped by a partition or a killed receiver
  uint64_t bad = 0;     // requests, answers or gossip the codec refused (over a limit)
  // Peers::Follow calls: the Gossiper makes one per change to its table, with
  // its whole table (Rebuild), so they measure its O(N) work per change.
  uint64_t follows = 0;
};

class Mesh {
 public:
  explicit Mesh(MeshOptions options);
  ~Mesh();
  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;

  int size() const { return options_.nodes; }
  int64_t now_us() const { return now_us_; }
  int64_t now_ms() const { return clock_.NowMs(); }

  // Starts node i now (it announces itself and, unless it is node 0, joins
  // through node 0).
  void Start(int i);
  // Node i stops at once: it neither runs, receives nor answers.
  void Kill(int i);
  bool live(int i) const { return live_[i]; }
  int live_count() const { return live_count_; }
  int started_count() const { return started_count_; }
  void set_loss(double loss) { options_.loss = loss; }
  // side[i] in {0, 1}; deliveries between sides are dropped until Heal.
  void Partition(std::vector<int> side);
  void Heal() { partitioned_ = false; }

  // Runs every delivery and timer due up to t_us (absolute), inclusive.
  void RunTo(int64_t t_us);
  // Every live node's table lists every started node alive (no other
  // entries) and all their digests agree. Meaningful while no node is killed.
  bool Converged() const;
  // Every live node lists node `victim` dead or left, or has forgotten it.
  bool AllSeeGone(int victim) const;
  // How many live nodes list node `victim` dead, left or not at all.
  int CountSeeGone(int victim) const;

  // REQUIRES: node i started.
  const node::Gossiper& gossiper(int i) const;
  const std::string& id(int i) const { return ids_[i]; }
  const NodeTraffic& traffic(int i) const;
  const MeshCounters& counters() const { return counters_; }
  void ResetCounters();
  // Refutations of a death, summed over live nodes (Membership::deaths_refuted).
  uint64_t DeathsRefuted() const;
  // The sum over live nodes of their own incarnation.
  uint64_t IncarnationSum() const;

 private:
  class SimPeers;
  struct Node;
  enum class Kind { kGossip, kRequest, kAnswer };
  struct Event {
    int64_t t_us;
    uint64_t order;  // insertion order: ties deterministic
    Kind kind;
    int from;
    int to;
    uint64_t id;  // request id (kRequest, kAnswer)
    std::shared_ptr<const std::string> body;
    bool operator>(const Event& o) const {
      return t_us != o.t_us ? t_us > o.t_us : order > o.order;
    }
  };
  struct Wake {
    int64_t t_us;
    int node;
    bool operator>(const Wake& o) const { return t_us != o.t_us ? t_us > o.t_us : node > o.node; }
  };

  // From SimPeers.
  void Publish(int from, std::string_view body);
  bool Send(int from, const std::string& endpoint, uint64_t id, std::string body);
  void Follow(int who, const std::vector<MemberInfo>& members);
  void Listen(int who, const std::vector<std::string>& ids);

  // Draws loss and delay; queues the delivery unless it is lost (false).
  bool Schedule(Kind kind, int from, int to, uint64_t id, std::shared_ptr<const std::string> body);
  bool Cut(int from, int to) const;
  void Deliver(const Event& e);
  void DeliverRequest(const Event& e);
  void DeliverAnswer(const Event& e);
  void DeliverProbe(const Event& e, const protocol::Request& req);
  // Forgets a request that will not be answered (lost, cut, refused), and
  // the one it relays for, if any.
  void Drop(uint64_t id);
  void RunTimers(int i);
  // Sends what JoinDue and SyncDue return.
  void SendDue(int i);
  void SendJoin(int i, node::Gossiper::JoinRequest join);
  // Puts node i's next wake in the heap if it is earlier than the one there.
  void Reschedule(int i);
  uint64_t NextRandom();
  double NextUnit();
  int IndexOf(const std::string& id) const;

  MeshOptions options_;
  ManualClock clock_;
  int64_t now_us_;
  uint64_t rng_;
  uint64_t order_ = 0;
  uint64_t next_request_id_ = 1;

  std::vector<std::string> ids_;
  std::unordered_map<std::string, int> index_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<bool> live_;
  int live_count_ = 0;
  int started_count_ = 0;
  // followed_[who][m]: node m's state in who's last Follow, or -1.
  std::vector<std::vector<int8_t>> followed_;
  // followers_[m]: the nodes that follow m (receive its invalidations).
  std::vector<std::vector<int>> followers_;
  // listened_[who]: the members whose heartbeats who hears, sorted;
  // listeners_[m]: the nodes that listen to m (heartbeats go to those that
  // also follow m).
  std::vector<std::vector<int>> listened_;
  std::vector<std::vector<int>> listeners_;
  bool partitioned_ = false;
  std::vector<int> side_;

  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::priority_queue<Wake, std::vector<Wake>, std::greater<>> wakes_;
  std::vector<int64_t> scheduled_;  // per node: its earliest wake in wakes_, or INT64_MAX
  // Requests in flight by id, decoded, with the endpoint they went to;
  // erased when the request or its answer is delivered or dropped.
  struct Pending {
    std::string endpoint;
    protocol::Request request;
    // A probe sent on another's behalf: whom to relay the answer to, and
    // the id of the asker's request (also pending until then).
    int relay_to = -1;
    std::optional<uint64_t> relay_id;
  };
  std::unordered_map<uint64_t, Pending> pending_;

  MeshCounters counters_;
};

}  // namespace meshcache::sim
