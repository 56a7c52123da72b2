// Membership: one node's table of the mesh, kept in step by gossip.
//
// Each entry: id, endpoints, state (alive, suspect, dead, left), incarnation,
// and when the node last had news of the member. Rules (SWIM-style):
//   - Merge: a higher incarnation wins; at equal incarnation dead/left beat
//     suspect, which beats alive. Only a member raises its own incarnation.
//     Except: gossip that calls a member suspect or dead at the incarnation
//     held is ignored while this node holds it alive and had a heartbeat
//     straight from it (HeardFrom) within suspect_ms. What a node saw itself beats hearsay, so a
//     node that was cut off (a partition, a one-way cut) does not take its verdicts on healthy
//     members to everyone; a member that really went silent is declared by each node's own timers.
//   - A member's own heartbeat (HeardFrom) is news: it resets its timers.
//   - Tick: an alive member without news for suspect_ms becomes suspect; one
//     without news for dead_ms becomes dead; a dead or left member is
//     forgotten forget_ms after it got that state. In a table of more than
//     10, a suspect that no other member has accused yet gets longer
//     (Lifeguard's dynamic suspicion timeout): the window from suspect to
//     dead, dead_ms - suspect_ms, is stretched by log10(N) and shrinks back
//     as other members' accusations arrive (gossip saying suspect or dead at
//     the incarnation held, each sender counted once), to dead_ms itself at
//     kConfirmations of them. A member that really died is accused by all
//     its watchers at once, so it dies at dead_ms; a lone accuser (its own
//     links failing) gives the accused time to hear of it and refute. Once Watch has named the
//     members this node hears heartbeats from, only those have the two
//     timers: what happens to the others comes from gossip.
//   - Gossip that says this node is suspect, dead or left, at an incarnation
//     >= its own, is refuted: the node raises its incarnation to that one + 1
//     and stays alive. Gossip that holds it alive at a higher incarnation than
//     its own is adopted, so its heartbeats are not taken as stale. Endpoints
//     gossiped for this node are ignored. After Leave nothing is refuted.
//   - Incarnations stay at or below kMaxIncarnation, and a claim that a
//     member is suspect, dead or left stays below it, so that every claim
//     about this node can be refuted (at the claim's incarnation + 1) without
//     wrapping: a node always wins back its own liveness. An entry outside
//     those bounds (a bug or a forged message) changes nothing and is counted
//     in refused(), as is an unknown member while the table holds
//     max_members.
//   - An unknown member that gossip (or its own heartbeat) reports dead or
//     left is not added (it would only come back as a zombie after everyone
//     forgot it).
//   - A higher incarnation takes the gossiped state and endpoints and gives
//     the member fresh timers (a dead member revived at n+1 is alive again).
//   - epoch() rises by one on every change to the table's listing (a member
//     added, removed, or changing state or endpoints); the node builds a new
//     ring whenever it moves. Each such change is returned as one
//     MemberChange, so epoch() moves by exactly the number of changes
//     returned. An incarnation that rises with state and endpoints unchanged
//     is not a listing change: no MemberChange, epoch unchanged. That covers
//     this node's refutations (it stays alive); compare self().incarnation
//     around a Merge to gossip a refutation at once.
//
// Pure logic: no sockets, no threads, time from the injected Clock.
// Thread safety: none; one thread owns a table.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/clock.h"
#include "util/member.h"

namespace meshcache {

struct MembershipOptions {
  // No news for this long: suspect. About three heartbeats, so one or two
  // lost PUB messages do not raise suspicion.
  int64_t suspect_ms = 1500;
  // No news for this long: dead, and off the ring. Shorter heals faster but
  // declares slow nodes dead.
  int64_t dead_ms = 3000;
  // Dead and left members stay listed this long (the protocol promises 30 s).
  int64_t forget_ms = 60000;
  // The most entries the table holds, self included; past it an unknown
  // member is not added (refused()). The node keeps it at the protocol's
  // max_members: a join snapshot carries no more.
  size_t max_members = 4096;
};

// One change to the table, for logging and for wiring sockets. nullopt:
// not in the table (before: newly added; after: forgotten). before == after:
// the member's endpoints changed.
struct MemberChange {
  std::string id;
  std::optional<NodeState> before;
  std::optional<NodeState> after;
};

struct MemberEntry {
  MemberInfo info;
  int64_t last_heard_ms = 0;               // last news: own heartbeat or a raised incarnation
  int64_t state_since_ms = 0;              // when info.state was last set
  int64_t last_direct_ms = INT64_MIN / 2;  // last heartbeat straight from the member
  bool watched = true;                     // Tick judges its silence (Watch)
  // While suspect: the other members that gossiped an accusation of it at
  // the incarnation held (at most Membership::kConfirmations).
  std::vector<std::string> accusers;
};

class Membership {
 public:
  // self.state must be alive; self.incarnation should be larger than any the
  // node used before (meshcached uses the wall-clock milliseconds at start).
  // REQUIRES: clock outlives the table.
  Membership(MemberInfo self, const MembershipOptions& options, const Clock* clock);

  // Accusations from this many other members bring a suspect's timeout down
  // to dead_ms (Lifeguard's K).
  static constexpr size_t kConfirmations = 2;
  // The highest incarnation an entry may carry (only alive ones reach it).
  // meshcached starts at the wall-clock milliseconds, about 2^41.
  static constexpr uint64_t kMaxIncarnation = INT64_MAX;

  // Applies one gossiped entry (from a heartbeat digest or a join snapshot);
  // from: the member it came from, if known (an accusation's confirmation).
  std::vector<MemberChange> Merge(const MemberInfo& entry, std::string_view from = {});
  std::vector<MemberChange> MergeAll(const std::vector<MemberInfo>& entries,
                                     std::string_view from = {});
  // How long a suspect watched member may stay silent before it is dead,
  // with `accusers` confirmations, in a table of this size (see Tick).
  int64_t DeadAfterMs(size_t accusers) const;
  // A heartbeat came straight from this member: it is news. Adds the member
  // (as given) when unknown. Applies the same precedence as Merge, so an alive
  // heartbeat at the incarnation held does not clear a suspicion: the member
  // must refute it with a higher one. A heartbeat at a lower incarnation than
  // the one held is stale and is not news.
  std::vector<MemberChange> HeardFrom(const MemberInfo& sender);
  // The member answered a probe (or probed this node): it is news, as its
  // heartbeat is, by the same rules. But it is not a heartbeat: the time of
  // the last heartbeat (last_direct_ms), which tells whether its heartbeats
  // get through, stays.
  std::vector<MemberChange> Answered(const MemberInfo& member);
  // Runs the timers against the clock. A member silent for dead_ms goes
  // straight to dead, even if it was never seen suspect. This node's own
  // entry has no timers.
  std::vector<MemberChange> Tick();
  // The members whose silence this node judges (those whose heartbeats it
  // hears); until the first call, every member. A member that becomes
  // watched starts with fresh timers.
  void Watch(const std::vector<std::string>& ids);
  // Counts every member as heard from now, so no timer fires for a while.
  // For a node that finds it was stalled (SIGSTOP, a starved machine): its
  // own silence says nothing of its peers.
  void RestartTimers();
  // Marks this node left at its current incarnation (which beats alive at
  // equal incarnation, so peers take it); Merge refutes nothing after. A
  // second Leave changes nothing.
  std::vector<MemberChange> Leave();

  const MemberInfo& self() const;
  // Every entry, sorted by id, self included.
  std::vector<MemberInfo> Snapshot() const;
  const MemberEntry* Find(std::string_view id) const;
  // Entries, self included.
  size_t size() const { return members_.size(); }
  // Members other than self that are alive (suspect ones not counted).
  size_t AlivePeers() const;
  uint64_t epoch() const { return epoch_; }
  // A hash (XXH32) of every entry's id, incarnation and state, in id order:
  // two tables with the same digest list the same members in the same
  // states. Heartbeats carry it so that a node whose table differs from the
  // sender's can sync with it. Cached until the table changes.
  uint32_t Digest() const;
  // How often gossip declared this node dead and it refuted: each time, the
  // mesh routed around it for a while (others owned its keys meanwhile).
  uint64_t deaths_refuted() const { return deaths_refuted_; }
  // Entries refused for an incarnation out of bounds (see kMaxIncarnation)
  // or because the table was full (max_members).
  uint64_t refused() const { return refused_; }

 private:
  enum class Source { kGossip, kAnswer, kHeartbeat };
  std::vector<MemberChange> Apply(const MemberInfo& entry, Source source,
                                  std::string_view from = {});
  void Accused(MemberEntry& e, std::string_view by);
  void AboutSelf(const MemberInfo& entry);
  static bool Plausible(const MemberInfo& entry);
  bool Hearsay(const MemberEntry& e, const MemberInfo& entry) const;
  void Add(const MemberInfo& entry, std::vector<MemberChange>& out);
  void TakeNewer(MemberEntry& e, const MemberInfo& entry, std::vector<MemberChange>& out);
  void SetState(MemberEntry& e, NodeState s, std::vector<MemberChange>& out);

  std::string self_id_;
  MembershipOptions options_;
  const Clock* clock_;
  std::map<std::string, MemberEntry, std::less<>> members_;
  uint64_t epoch_ = 1;
  bool watch_all_ = true;                   // until Watch is first called
  mutable std::optional<uint32_t> digest_;  // reset by every change to an entry
  uint64_t deaths_refuted_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace meshcache
