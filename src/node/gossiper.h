// Gossiper: this node's view of the mesh and the gossip that keeps it in
// step. It owns the membership table and the ring built from it, the
// heartbeat timer, the gossip sequence numbers (its own and each sender's
// last), the invalidations to send now and to repeat in the next heartbeat,
// and the join state machine (seeds tried in turn with backoff, and a rejoin
// when every peer has gone silent).
//
// Heartbeats stay small whatever the mesh's size: the sender's own entry,
// the entries that changed lately at the sender (each carried by a number
// of heartbeats that grows with log N, as SWIM piggy-backs its updates), and
// a digest of the sender's table. PUB is lossy (slow joiners, high-water
// mark), so a receiver whose table has another digest syncs with the sender
// (push-pull: a join request that carries this node's table, answered with
// the sender's), and every sync_every heartbeats a node syncs with the next
// member in turn anyway. Heartbeats repeat the invalidations since the
// previous one; a gap in a sender's sequence numbers tells the receiver it
// may have missed an invalidation (Received::drop_all). A watched member
// whose heartbeats stop is probed, directly and then through others, before
// the table's timers may suspect it (ProbesDue).
//
// Messages go out through Peers (Publish, Follow). Join requests, syncs and
// probes are returned by JoinDue, SyncDue and ProbesDue for the caller to
// send; their answers come back to OnJoined, OnSynced and OnProbeAnswer.
// Time from the Clock. Not thread-safe: the I/O thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "membership/membership.h"
#include "meshcache/options.hpp"
#include "net/sockets.h"
#include "node/peers.h"
#include "protocol/messages.h"
#include "ring/ring.h"

namespace meshcache::node {

struct GossipOptions {
  int64_t heartbeat_ms = 500;
  MembershipOptions membership;
  // Heartbeats between syncs with the next member in turn, beside the syncs
  // that a differing digest asks for.
  int sync_every = 10;
  // Members asked to probe a silent member on this node's behalf (SWIM's
  // ping-req) when it does not answer a direct probe.
  int indirect_probes = 2;
  RingParams ring;                // vnodes and replicas; the epoch comes from the table
  std::vector<std::string> join;  // seeds; empty: this node starts a mesh
  protocol::Limits limits;        // for decoding gossip
};

struct GossipStats {
  uint64_t received = 0;
  uint64_t received_bytes = 0;
  uint64_t sent = 0;  // published (heartbeats and invalidations)
  uint64_t sent_bytes = 0;
  uint64_t bad = 0;            // undecodable gossip, dropped
  uint64_t gaps = 0;           // missed gossip detected by sequence number
  uint64_t probes = 0;         // direct probes sent to silent members
  uint64_t ping_reqs = 0;      // probes asked of others (indirect)
  uint64_t probe_answers = 0;  // answers, direct or relayed: a suspicion avoided
};

class Gossiper {
 public:
  // What a received gossip message means for hot copies.
  struct Received {
    bool drop_all = false;                 // a gap or an overflow: drop every hot copy
    std::vector<std::string> invalidated;  // keys written at their owner
  };
  struct JoinRequest {
    std::string seed;
    protocol::Request request;
  };
  // A probe to send: to a member's service endpoint, a `probe` request.
  using Probe = JoinRequest;

  // self: this node's entry (alive, at an incarnation above any it used).
  // REQUIRES: peers and clock outlive the gossiper.
  Gossiper(MemberInfo self, GossipOptions options, Peers& peers, const Clock* clock, LogFn log);

  // The ring of the table as it is now; built when first asked for after a
  // change, so a burst of changes (a mesh starting, a sync) builds it once.
  const std::shared_ptr<const Ring>& ring() const;
  const Membership& membership() const { return membership_; }
  bool joined() const { return joined_; }
  const GossipStats& stats() const { return stats_; }

  // Runs the heartbeat timer: at each heartbeat, ticks the membership
  // timers, publishes the table with the recent invalidations, and starts to
  // rejoin when cut off from every peer. True when a heartbeat went out.
  bool OnTimer(int64_t now);
  // The next heartbeat or join attempt.
  int64_t NextWakeMs() const;
  // Publishes a heartbeat now (at start, on leave, at stop).
  void Announce();
  // This node keeps hot copies of owner's keys: it hears owner's heartbeats
  // from now on (their arrival is the copies' lease), until owner leaves
  // the table.
  void HearOwner(const std::string& owner);
  // A write at this node, the key's owner: other nodes drop their copies.
  void Invalidate(const std::string& key);
  // Publishes the invalidations queued since the last flush (one message).
  void FlushInvalidations();
  Received OnMessage(const net::Frames& frames);
  // A join request from member: it is heard from, and the table it pushed
  // (a sync) is merged; returns this node's table for it.
  std::vector<MemberInfo> OnJoinRequest(const MemberInfo& member,
                                        const std::vector<MemberInfo>& pushed = {});
  // The join attempt due at now, if any; the next is scheduled with backoff.
  std::optional<JoinRequest> JoinDue(int64_t now);
  // The sync due at now, if any (a join request carrying this node's table,
  // to a member's service endpoint): with the sender of a heartbeat whose
  // digest differed from this table's, or every sync_every heartbeats with
  // the next alive member in turn. At most one per heartbeat interval.
  std::optional<JoinRequest> SyncDue(int64_t now);
  // A sync's answer: the table of the member `from` (its id).
  void OnSynced(const std::vector<MemberInfo>& members, const std::string& from);
  // The probes due at now (SWIM's, but only for silence): a watched member
  // whose heartbeats have not come for half of suspect_ms is probed
  // directly; if it is still silent a quarter later, indirect_probes other
  // watched members are asked to probe it (ping-req). An answer is news of
  // it (Membership::Answered), so one slow or cut link (its PUB, this
  // node's SUB) does not make it suspect: only a member that nobody can
  // reach is. A member is probed once per silence.
  std::vector<Probe> ProbesDue(int64_t now);
  // An answer to a probe of target (its id), direct or relayed: target's own
  // entry. Any other entry in it is ignored.
  void OnProbeAnswer(const std::string& target, const std::vector<MemberInfo>& members);
  // A probe from member (news of it); returns this node's own entry.
  MemberInfo OnProbe(const MemberInfo& member);
  void OnJoined(const std::vector<MemberInfo>& members, const std::string& seed);
  // Marks this node left and announces it.
  void Leave();

 private:
  void Publish(protocol::Gossip::Kind kind);
  void CheckSequence(const protocol::Gossip& g, Received& out);
  void Merge(const protocol::Gossip& g);
  // Merges entries that came from the member `from` (its id); refutes at
  // once what needs it.
  void MergeTable(const std::vector<MemberInfo>& entries, const std::string& from);
  // The heartbeat's entries: this node's, then up to kMaxPiggyback that
  // changed lately, each counted down.
  std::vector<MemberInfo> Piggyback();
  // How many heartbeats carry a change: 3 x ceil(log2(N + 1)).
  int Repeats() const;
  // Up to indirect_probes watched members other than target, alive, in turn:
  // they relay a ping-req for it.
  std::vector<const MemberInfo*> Relays(const std::string& target);
  // The service endpoint of the next alive member in turn; empty if none.
  std::string NextInTurn();
  // The members whose heartbeats this node watches: the kWatchNext members
  // after it in the order of their ids' hashes (so every member has that
  // many watchers) and kWatchFar more from hashed points (so news crosses
  // the mesh in few hops); every member when there are no more than that.
  std::vector<std::string> ChooseWatched(const std::vector<MemberInfo>& members) const;
  // Listens to the watched members, the hot copies' owners and the members
  // held dead (in members, the table's snapshot).
  void ListenAgain(const std::vector<MemberInfo>& members);
  // Connects afresh to each listened member silent for suspect_ms (at most
  // once per suspect_ms each): what ZMTP pings did, for a few links instead
  // of every one, and not so often that a loaded mesh reconnects in a storm.
  void RefreshSilent(int64_t now);
  // No watched member is alive: cut off (or alone).
  bool HearsNoOne() const;
  void Apply(const std::vector<MemberChange>& changes);
  void Rebuild();
  void Log(LogLevel level, const std::string& msg) const;

  const std::string id_;
  const GossipOptions options_;
  Peers& peers_;
  const Clock* clock_;
  const LogFn log_;
  Membership membership_;
  mutable std::shared_ptr<const Ring> ring_;  // null: to build (ring())
  GossipStats stats_;

  uint64_t hb_seq_ = 0;   // heartbeats and invalidations count apart: a node
  uint64_t inv_seq_ = 0;  // hears every invalidation but few heartbeats
  int64_t next_heartbeat_ms_ = 0;
  int64_t last_heartbeat_ms_ = INT64_MIN / 2;
  std::optional<int64_t> change_due_ms_;     // a heartbeat for a change, before the next beat
  std::vector<std::string> pending_invals_;  // to send now (inv)
  std::vector<std::string> recent_invals_;   // to repeat in the next heartbeat
  bool invals_overflow_ = false;
  // Per sender and kind (heartbeat, invalidation).
  std::map<std::pair<std::string, protocol::Gossip::Kind>, uint64_t> last_seq_;
  std::vector<std::string> watched_;             // whose heartbeats this node hears and judges
  std::set<std::string> hot_owners_;             // whose heartbeats it hears for its hot copies
  std::vector<std::string> listened_;            // the last Listen
  std::map<std::string, int64_t> refreshed_at_;  // RefreshSilent's last, by member
  // Watched members silent long enough to be probed: when the direct probe
  // went, and whether the indirect ones (ping-req) went too.
  struct Probing {
    int64_t sent_ms = 0;
    bool indirect = false;
  };
  std::map<std::string, Probing> probing_;
  int64_t next_probe_ms_ = 0;  // ProbesDue has nothing to do before this; 0: unknown
  size_t probe_turn_ = 0;      // which watched members relay the next ping-req
  // Members whose entries heartbeats still carry, and how many more times.
  std::map<std::string, int> spread_;

  std::string sync_with_;     // a member's endpoint that a differing digest asked to sync with
  bool sync_urgent_ = false;  // sync_with_ is a member held dead or suspect: it must refute
  int64_t next_sync_ms_ = 0;
  int heartbeats_since_sync_ = 0;
  size_t sync_turn_ = 0;  // starts at the hash of this node's id

  bool joined_ = true;
  bool refused_logged_ = false;  // membership refused an entry: warned once
  size_t join_index_ = 0;
  int64_t next_join_ms_ = 0;
  int64_t join_backoff_ms_;
};

}  // namespace meshcache::node
