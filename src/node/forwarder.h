// Forwarder: requests this node sends to peers (forwards, replica writes,
// joins), each with a wire id and a deadline, matched with their replies by
// id. A reply that comes after its deadline finds nothing and is counted.
//
// It also remembers which keys have a get or mget in flight: an invalidation
// of such a key (or of every key, on a gossip gap) marks the forward, so that the
// owner's answer, which may predate the write, is not kept as a hot copy.
//
// Peers are reached through the Peers interface, time through the Clock.
// Not thread-safe: the I/O thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/sockets.h"
#include "node/peers.h"
#include "protocol/messages.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/histogram.h"

namespace meshcache::node {

// A request sent to a peer and not yet answered.
struct Forward {
  uint64_t job = 0;           // 0: nobody waits (replica write, join)
  std::vector<size_t> slots;  // the job slots it fills, in inner.keys order
  protocol::Request inner;    // what the peer was asked
  std::string target;
  int64_t deadline_ms = 0;
  // get, mget: one of its keys was invalidated while it (or a forward it
  // falls back from) was in flight, so no answer of it is kept as a hot copy.
  bool invalidated = false;
  std::vector<std::string> tried;  // holders already asked for this key (get)
  // peek that checks a value this node holds: that value's version (0: a
  // miss, any answer is newer).
  uint64_t held_version = 0;
  // handoff: the versions given away, one per inner.keys (the keys to drop
  // here once the batch is acknowledged, if still at those versions).
  std::vector<uint64_t> given_versions;
  std::vector<std::string> deletes;  // handoff: the keys of the deletes it hands on
  int attempt = 0;                   // handoff: how often this batch was sent before
  // probe sent on another member's behalf (ping-req): where to relay the
  // answer, and the asker's request id.
  std::optional<net::Frames> relay_to;
  uint64_t relay_id = 0;
  bool replica_write = false;   // set by Send: a write to a replica (see kMaxReplicaWrites)
  int64_t sent_us = 0;          // set by Send: when (client forwards: for forward_us)
  bool client_forward = false;  // set by Send: a client's request sent on to its owner
};

struct ForwarderStats {
  uint64_t forwards = 0;                // client requests sent on to their owner
  uint64_t peer_requests = 0;           // the rest: replica writes, peeks, joins, probes, hand-offs
  uint64_t replica_writes_dropped = 0;  // refused: max_replica_writes were in flight
  uint64_t late_replies = 0;            // replies with no pending request, dropped
  uint64_t forward_timeouts = 0;        // requests not answered by their deadline
  LatencyHistogram forward_us;          // client forwards: from sending to the owner's reply
};

class Forwarder {
 public:
  // Replica writes are the requests nobody waits for that clients cause
  // (one per write and further holder), each holding its body until
  // answered or past its deadline; a replica that does not answer would
  // let them pile up. At most max_replica_writes are in flight: Send
  // refuses more, and counts them (the replica then misses those writes,
  // as it would if they were lost on the way).
  static constexpr size_t kMaxReplicaWrites = 4096;

  // REQUIRES: peers and clock outlive the forwarder.
  Forwarder(Peers& peers, const Clock* clock, int64_t timeout_ms,
            size_t max_replica_writes = kMaxReplicaWrites);

  // Sends `outer` to target with a fresh wire id and keeps fwd pending until
  // its reply or its deadline (now + timeout). A get that is already marked
  // invalidated (a fallback) stays marked. Returns false, leaving fwd
  // as it was, when the endpoint can never be reached or a replica write is
  // over its bound; on true fwd has been moved from.
  bool Send(const std::string& target, Forward& fwd, protocol::Request outer);
  // Takes out the forward that the reply with this wire id answers; nullopt
  // (counted as late) when none waits for it.
  std::optional<Forward> Match(uint64_t wire_id);
  // Takes out every forward whose deadline is <= now (counted as timeouts);
  // what was still held unsent is cancelled, never sent late.
  std::vector<Forward> Expire(int64_t now);
  // The earliest deadline, or INT64_MAX when nothing is pending.
  int64_t NextDeadline() const;
  // An invalidation arrived: marks gets in flight for key (nullptr: for every
  // key) so that their answers are not kept as hot copies.
  void MarkInvalidated(const std::string* key);

  size_t pending() const { return pending_.size(); }
  const ForwarderStats& stats() const { return stats_; }

 private:
  struct InFlight {
    uint32_t count = 0;
    bool invalidated = false;
  };

  Forward Take(std::unordered_map<uint64_t, Forward>::iterator it);

  Peers& peers_;
  const Clock* clock_;
  const int64_t timeout_ms_;
  const size_t max_replica_writes_;
  size_t replica_writes_ = 0;                      // in flight
  std::unordered_map<uint64_t, Forward> pending_;  // by wire id
  std::set<std::pair<int64_t, uint64_t>> deadlines_;
  std::unordered_map<std::string, InFlight> inflight_gets_;  // by key
  uint64_t next_id_ = 1;
  ForwarderStats stats_;
};

}  // namespace meshcache::node
