// Service: everything a node does, without its sockets. It answers the
// requests that arrive on the service socket (from clients and peers), from
// the store, from hot copies, through forwards to owners and through the
// loader, and it follows the mesh through gossip. The engine (engine.h) owns
// the sockets and the poll loop and hands each message here.
//
// It wires the node's parts, each owning its own state:
//   JobTable   client requests waiting for slots          (jobs.h)
//   Forwarder  requests to peers, deadlines, late replies (forwarder.h)
//   Gossiper   membership, ring, heartbeats, joins        (gossiper.h)
//   Loads      loader calls, one flight per key           (loads.h)
//   HandOff    entries moving when the ring changes       (handoff.h)
//   Tombstones versions of recent deletes                 (tombstones.h)
// and keeps the store, the hot copies, the version clock and the request
// counters. Consistency rules (docs/protocol.md "Versions"): the owner
// stamps every write with a HybridClock version; a load carries the version
// of its start, so a set or del that lands meanwhile wins; replica writes and
// hand-offs keep whichever version is newer; hot copies are dropped whenever
// the ring changes and are served only while their owner's heartbeats arrive. Peers, the
// loader and time are injected, so tests/unit drives it with fakes and a
// ManualClock.
//
// Files: service.cc (lifecycle, timers, gossip, loads), lookup.cc (gets and
// writes), memcache_ops.cc (gets with flags and cas, setx, incr, touch),
// remote.cc (forwards and fallbacks), info.cc (stats, ring, join).
// Not thread-safe: the engine's I/O thread owns it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "meshcache/options.hpp"
#include "net/sockets.h"
#include "node/forwarder.h"
#include "node/gossiper.h"
#include "node/handoff.h"
#include "node/held_entry.h"
#include "node/jobs.h"
#include "node/loads.h"
#include "node/peers.h"
#include "node/stats.h"
#include "node/tombstones.h"
#include "protocol/codec.h"
#include "protocol/messages.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/hlc.h"

namespace meshcache::node {

// An entry a setx or an incr stores (memcache_ops.cc).
struct NewEntry {
  std::string value;
  uint32_t flags = 0;
  uint64_t ttl_ms = 0;  // 0: never expires
};

// Where a write's key stands: its hash (Xxh32, as the ring and the store
// take it) and the store's clock (NowMs) as read for the request.
struct KeyAt {
  uint32_t hash;
  int64_t now_ms;
};

class Service {
 public:
  // self: this node's entry (id = service endpoint, gossip endpoint,
  // incarnation). loader may be null (misses stay misses). reply sends a
  // reply body back along a request's envelope; false when it could not be
  // delivered (counted as unroutable).
  // REQUIRES: peers, loader and clock outlive the service.
  using ReplyFn = std::function<bool(net::Frames& envelope, const std::string& body)>;
  Service(const NodeOptions& options, MemberInfo self, Peers& peers, LoadRunner* loader,
          const Clock* clock, ReplyFn reply);

  // Announces this node (its first heartbeat).
  void Start();
  // A message from the service socket: [routing ids..., empty, body].
  void OnRequest(net::Frames& frames);
  // A read that a gets request would make, answered here and now: each
  // key's entry in *out, or nullopt for a miss that waits for nothing (no
  // loader, no hand-off to peek at). False, *out unspecified, when the
  // request must take its usual path: a key owned elsewhere, a hand-off
  // window, or a miss that peeks or loads (then the hits read before it
  // were read twice: the store's promotion rule ignores a second read so
  // soon). Counted as gets are. For the memcached door (lookup.cc).
  bool ReadOwnedNow(std::span<const std::string_view> keys,
                    std::vector<std::optional<HeldEntry>>* out);
  // A message from a peer's DEALER: a reply to a forward or a join.
  void OnPeerMessage(const net::Frames& frames);
  // A message from the gossip SUB socket.
  void OnGossipMessage(const net::Frames& frames);
  // The loader finished some calls.
  void OnLoadsDone();
  // The ZAP handler refused a connection (net/curve.h): counted, the first
  // one logged.
  void OnConnectionRefused();
  // Runs every timer due at now: forward and load deadlines, heartbeats,
  // join attempts; and publishes the invalidations queued since the last.
  void OnTimers(int64_t now);
  // When OnTimers next has something to do (never later than a heartbeat).
  int64_t NextWakeMs(int64_t now) const;
  // Leaving (SIGTERM, Node::Stop): announces `left`; requests are still
  // served and joins are no longer tried.
  void Leave();
  // No request is waiting for an answer.
  bool Drained() const { return jobs_.empty(); }
  // A hand-off pass is under way or its batches are not yet acknowledged.
  bool HandingOff() const { return handoff_.active() || handoffs_in_flight_ > 0; }
  // Answers every waiting request `unavailable` and announces `left` again.
  void Shutdown();

  const Gossiper& gossiper() const { return gossiper_; }
  // Counters of the engine's other parts (the memcached door), appended to
  // every `stats` reply after the service's own. Empty: none.
  using ExtraStats = std::function<void(protocol::StatList& list)>;
  void SetExtraStats(ExtraStats extra) { extra_stats_ = std::move(extra); }

 private:
  using Op = protocol::Op;
  using RemoteKeys =
      std::map<std::string, std::pair<std::vector<size_t>, std::vector<std::string>>>;

  // version: the owner's version of a replica write (0: none).
  void Dispatch(net::Frames envelope, const protocol::Request& req, uint64_t reply_id,
                bool forwarded, bool replica, uint64_t version);
  void Reply(net::Frames& envelope, const std::string& body);
  void ReplyError(net::Frames& envelope, uint64_t id, Code code, const std::string& message);
  bool Overloaded(net::Frames& envelope, uint64_t reply_id);
  void ApplyGossip(const Gossiper::Received& received);
  void DropHotCopies();
  void FinishLoad(const LoadOutcome& outcome);
  // A write newer than the load's start landed meanwhile.
  bool Overtaken(const std::string& key, uint64_t version);
  void Sweep();
  // Reacts to a new ring: hot copies end, a hand-off pass starts.
  void CheckRing();
  // transfer.cc
  void StepHandOff();
  // Sends a hand-off batch (its try `attempt`, from 0); the entries of keys
  // in `drop` are dropped here once it is acknowledged (their keys go into
  // *sent).
  void SendHandOff(const std::string& target, std::vector<protocol::HandoffEntry> entries,
                   const std::set<std::string>& drop, std::set<std::string>* sent, int attempt,
                   bool relayed);
  // A hand-off batch was acknowledged (delivered) or not: drops what it gave
  // away, unless a newer write replaced it meanwhile (that one is handed on
  // too); what was not acknowledged is sent again, a few times.
  void HandedOff(const Forward& fwd, bool delivered);
  // Sends what this node has of keys (values and deletes) to the other
  // holders its ring names, in batches; values of keys it does not hold are
  // dropped once acknowledged. relayed: they came to this node from another
  // (protocol::Request::relayed).
  void HandOn(const std::vector<std::string>& keys, int attempt, bool relayed);
  std::optional<protocol::HandoffEntry> EntryOf(const std::string& key);
  void HandleHandoff(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id);
  // Keeps a handed-off entry if it is newer than what is here; true if so.
  bool TakeEntry(const protocol::HandoffEntry& e);
  // A handed-off delete: an older value here goes, and the delete is kept.
  bool TakeDelete(const std::string& key, uint64_t version);
  // An entry replaced what was here: copies of the old one end.
  void TookNewer(const std::string& key);
  bool Holds(const std::string& key) const;
  // A hot copy from owner may be served: its heartbeats are arriving.
  bool HotCopyFresh(const std::string& owner) const;

  // lookup.cc
  // A client's plain get of a key this node owns, answered from the store
  // with no job (or, for a miss that peeks or loads, handed to the job path
  // as HandleLookup would): the request a node serves most. False, leaving
  // frames as they were, for every other request.
  // REQUIRES: OneBodyFrame(frames).
  bool AnswerQuickGet(net::Frames& frames);
  // The same for a client's mget (protocol::DecodeQuickMget) whose keys
  // this node all owns. REQUIRES: OneBodyFrame(frames).
  bool AnswerQuickMget(net::Frames& frames);
  // The same for a client's set or del (protocol::DecodeQuickWrite) of a key
  // this node owns, when writes are not replicated. REQUIRES:
  // OneBodyFrame(frames).
  bool AnswerQuickWrite(net::Frames& frames);
  // A forwarded write not newer than what is held, but fresh: restamped (lookup.cc).
  bool Overtaken(const std::string& key, uint64_t version, bool replica);
  // A write's version (0: none) stamped too far ahead of this node's clock:
  // answered bad_request and counted; true when refused.
  bool RefusesVersion(net::Frames& envelope, uint64_t reply_id, uint64_t version);
  // Every key is this node's, and its hits need no check (see Verify).
  // Leaves each key's hash (Xxh32) in key_hashes_, for the store. now_ms:
  // the clock as read for the request (one read serves all of its checks).
  // True for more than one key: it has also started loading their entries
  // (Store::Prefetch), which every caller reads next, so that the batch's
  // cache misses overlap.
  bool OwnsAll(std::span<const std::string_view> keys, int64_t now_ms);
  // A miss here cannot be answered at once: it loads, or peeks while a
  // hand-off may still bring it.
  bool MissesWait(int64_t now_ms) const;
  // Answers an mget of owned keys from the store, with no job unless a miss
  // must peek or load (then the hits wait in the job with it).
  // REQUIRES: OwnsAll(keys) just returned true (key_hashes_ holds their hashes)
  // at started_us / 1000, the clock (NowUs) read for the request.
  void AnswerOwnedMget(net::Frames& envelope, const std::vector<std::string_view>& keys,
                       uint64_t reply_id, int64_t started_us);
  void HandleLookup(net::Frames envelope, const protocol::Request& req, uint64_t reply_id,
                    bool forwarded);
  void ForwardLookups(uint64_t job, RemoteKeys& remote);
  // Keys per forwarded mget part, so that every part's reply fits a message.
  size_t MgetPartKeys() const;
  void LookupLocal(uint64_t job, size_t slot, const std::string& key);
  // What a miss in the store leads to: the loader, or a miss.
  void AfterMiss(uint64_t job, size_t slot, const std::string& key);
  // While a hand-off may still be bringing this node its share, asks the
  // key's previous owner for it (peek) instead of missing; false when there
  // is nobody to ask.
  bool Peek(uint64_t job, size_t slot, const std::string& key);
  // After this node refuted its own death (the mesh routed around it, and a
  // stand-in may have taken newer writes), a hit is checked against the
  // stand-in before it is served; false when there is nothing to check.
  bool Verify(uint64_t job, size_t slot, const std::string& key, uint64_t version);
  // Peeks at PeekTarget(key) for the job's slot; version: that of the value
  // a Verify checks (0 for a miss). False when there is nobody to ask.
  bool SendPeek(uint64_t job, size_t slot, const std::string& key, uint64_t version);
  // Whom to peek at for key: its owner before the last ring change, or who
  // stands in for this node; nullptr when nobody.
  const std::string* PeekTarget(const std::string& key);
  void StartLoad(uint64_t job, size_t slot, const std::string& key);
  void HandleWrite(net::Frames envelope, const protocol::Request& req, uint64_t reply_id,
                   bool forwarded, bool replica, uint64_t version);
  // Applies a write stamped `version` to this node's store and answers it
  // (w.id names the reply); returns whether it changed the store. A write
  // older than what is held (or than a delete) changes nothing: a newer
  // write overwrote it already. A replica write invalidates no hot copies.
  // flags: a set's client flags, kept with the value.
  // `at`: the key's hash and the store's clock as read for the request.
  bool ApplyWrite(net::Frames& envelope, const protocol::QuickWrite& w, KeyAt at, uint64_t version,
                  bool replica, uint32_t flags = 0);
  // The store's part of ApplyWrite; false when the entry is too large.
  bool WriteLocal(const protocol::QuickWrite& w, KeyAt at, uint64_t version, bool* existed,
                  bool* applied, uint32_t flags = 0);
  void Replicate(const protocol::Request& req, uint64_t version);
  void HandlePeek(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id);
  void OnPeeked(Forward& fwd, const protocol::Reply& reply);
  // Fills the job's slot with what the store holds for key, its version,
  // flags and life with it (memcache_ops.cc); false: nothing held.
  bool FillFromStore(uint64_t job, size_t slot, const std::string& key);
  void PeekMissed(Forward& fwd);

  // memcache_ops.cc: memcached's semantics (docs/protocol.md "Extensions").
  // gets: like an mget, but every key is answered by its owner (never a hot
  // copy: those keep no flags or cas), with flags, cas and ttl left; a
  // ttl_ms touches each hit at its owner.
  void HandleGets(net::Frames envelope, const protocol::Request& req, uint64_t reply_id,
                  bool forwarded);
  // A gets' key this node answers: from the store (touched first when
  // touch_ttl is set), else the loader, else nil.
  void GetsLocal(uint64_t job, size_t slot, const std::string& key,
                 std::optional<uint64_t> touch_ttl);
  // The keys owned elsewhere, one forward per owner (and part).
  void ForwardGetsParts(uint64_t job, RemoteKeys& remote, std::optional<uint64_t> ttl_ms);
  void ForwardGets(uint64_t job, const std::string& target, std::vector<size_t> slots,
                   std::vector<std::string> keys, std::optional<uint64_t> ttl_ms,
                   std::vector<std::string> tried);
  // An owner's answer to a forwarded gets.
  void FillEntries(Forward& fwd, const protocol::Reply& reply);
  // A forwarded gets failed: its key goes to the next holder, then the
  // loader, else the slot fails `unavailable`.
  void GetsFallBack(uint64_t job, size_t slot, const std::string& key, const Forward& failed);
  // setx, incr, touch: applied at the owner (or where a peer forwarded them),
  // else forwarded to it like a set. A replica receives setx and incr as the
  // set of the entry they made, and a touch as a touch of a version.
  void HandleMemcacheWrite(net::Frames envelope, const protocol::Request& req, uint64_t reply_id,
                           bool forwarded, bool replica, uint64_t version);
  // False when req went on to its owner (or was answered overloaded).
  bool AppliesHere(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id,
                   bool forwarded);
  // setx and incr at the owner: checked against what is held and applied,
  // in one step; version is the forwarder's stamp (0: none).
  void ApplyChange(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id,
                   bool forwarded, uint64_t version);
  // The version a change is stored with, as HandleWrite stamps a set; 0
  // when a forward came so late that what is held already overwrote it.
  uint64_t StampChange(const std::string& key, uint64_t version);
  // Stores e for key stamped version, as the owner does a set: hot copies
  // invalidated, tombstone lifted, replicas sent a set of e with its version
  // and flags. False when e is too large.
  bool Commit(const std::string& key, const NewEntry& e, uint64_t version);
  // A setx delete that passed its check: removed, buried, replicated.
  void Remove(const std::string& key, uint64_t version);
  // key's live entry with its flags, version and life; nullopt: none.
  std::optional<HeldEntry> ReadHeld(const std::string& key);
  // The same for a key already hashed, at the time (NowMs) read for the
  // request. REQUIRES: hash == Xxh32(key).
  std::optional<HeldEntry> ReadHeld(std::string_view key, uint32_t hash, int64_t now_ms);
  // Gives key's live entry a new ttl (0: none), keeping its value, flags and
  // version, and replicates the touch; nullopt when nothing is held.
  std::optional<HeldEntry> TouchHeld(const std::string& key, uint64_t ttl_ms);
  // A replica's touch: applied only to the very entry the owner touched.
  void ReplicaTouch(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id,
                    uint64_t version);

  // remote.cc
  protocol::Request Wrap(const protocol::Request& inner, bool replica) const;
  // invalidated: the get falls back from a forward whose key was invalidated.
  void ForwardKeys(uint64_t job, const std::string& target, Op op, std::vector<size_t> slots,
                   std::vector<std::string> keys, std::vector<std::string> tried,
                   bool invalidated = false);
  void ForwardWrite(uint64_t job, const std::string& target, const protocol::Request& req);
  void OnForwardReply(Forward& fwd, const protocol::Reply& reply);
  void FillFromOwner(Forward& fwd, const protocol::Reply& reply);
  void OnForwardFailed(Forward& fwd, const Status& why);
  void FallBack(uint64_t job, size_t slot, const std::string& key, const Forward& failed);
  // Sends the join or the sync (a join carrying this table) that is due.
  void SendJoin(int64_t now);
  // A join attempt got no answer: logged at warn, at most every 5 s.
  // refused: the seed's error message; empty when it did not answer.
  void JoinFailed(const std::string& seed, const std::string& refused = "");

  // info.cc
  void HandleJoin(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id);
  // A probe: answered with this node's entry, or, on another member's
  // behalf (req.target), sent on to that member and its answer relayed.
  void HandleProbe(net::Frames& envelope, const protocol::Request& req, uint64_t reply_id);
  // A probe's answer (or its failure, reply null) reached this node.
  void OnProbed(Forward& fwd, const protocol::Reply* reply);
  std::string StatsBody(uint64_t id) const;
  void AppendPartStats(protocol::StatList& list) const;
  std::string RingBody(uint64_t id) const;

  const NodeOptions options_;
  const std::string id_;
  const protocol::Limits limits_;
  const Clock* clock_;
  const int64_t started_ms_;
  ReplyFn reply_;
  ExtraStats extra_stats_;
  Store store_;
  std::unique_ptr<Store> hot_;  // hot copies of other owners' values; null when disabled
  Counters counters_;
  JobTable jobs_;
  Forwarder forwarder_;
  Gossiper gossiper_;
  Loads loads_;
  HybridClock hlc_;
  Tombstones tombstones_;
  HandOff handoff_;
  static constexpr int64_t kJoinWarnEveryMs = 5000;
  // A join's answer when it reached the joining node itself.
  static constexpr const char* kJoinedItself = "this join reached the joining node itself";
  uint64_t join_failures_ = 0;
  int64_t join_warned_ms_ = INT64_MIN / 2;
  const int64_t lease_ms_;  // a hot copy's owner must have been heard within this
  std::shared_ptr<const Ring> ring_seen_;
  std::shared_ptr<const Ring> prev_ring_;  // the ring before ring_seen_
  std::shared_ptr<const Ring> others_;     // ring_seen_ without this node: who stands in
  int64_t warm_until_ms_ = 0;              // peeks at prev_ring_'s owners until then
  int64_t verify_until_ms_ = 0;            // hits are checked by a peek until then
  uint64_t deaths_seen_ = 0;               // membership's deaths_refuted() last looked at
  size_t handoffs_in_flight_ = 0;
  std::string reply_buf_;                          // the quick replies, its capacity reused
  std::vector<std::optional<Value>> mget_values_;  // AnswerOwnedMget's lookups, likewise
  std::vector<uint32_t> key_hashes_;  // OwnsAll's: a key is hashed once, for the ring and the store
  protocol::QuickMget quick_mget_;    // AnswerQuickMget's decoding, its capacity reused
  // Keys given away in hand-off batches not yet answered (how many batches):
  // kept here until an answer says whether they arrived.
  std::map<std::string, int> handing_;
  bool leaving_ = false;
};

// frames is [routing ids..., empty, body] with its first empty frame right
// before the one body frame (what SplitEnvelope accepts with one body).
bool OneBodyFrame(const net::Frames& frames);
// The protocol limits a node's options imply (for decoding and socket sizes).
protocol::Limits NodeLimits(const NodeOptions& options);
// The socket limits of a node's sockets: its message size, reconnects at
// least once a heartbeat (at most every 2 s) to peers that are away,
// connects abandoned after two heartbeats (200 ms to 2 s), and links closed
// after the dead timeout (300 ms to 3 s) without an answer to ZMTP heartbeats.
net::SocketLimits NodeSocketLimits(const NodeOptions& options);
// The node binds every address (0.0.0.0 or *), not one of its own.
bool BindsEveryAddress(const NodeOptions& options);

}  // namespace meshcache::node
