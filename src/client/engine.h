// Engine: the client's calls in flight, over a Transport and a Clock.
//
// A call is one public request (get, set, del, mget, ping, stats, ring). It
// becomes one part per node it needs (an mget split by owner), each part a
// wire request with its own id, so replies match parts whatever order they
// come in; a reply whose id names no open part (late, or for a call already
// finished) is dropped. A call finishes when all its parts answered, when one
// part fails, or at its deadline (kTimeout). A part that a node could not take
// goes to the router's next candidate; a pinned part (a request for one
// named node) fails instead. When a node's connection breaks, reads in flight
// there go to the next candidate at once and writes fail (kUnavailable),
// since they may or may not have been applied.
//
// Coalescing (options.coalesce_gets > 1). A get started with coalesce set is
// not sent at once: it is routed (to its key's first candidate) and held in
// that node's batch. A batch is sent when it reaches coalesce_gets keys, when
// any other request is dispatched to its node (so a node receives requests in
// the order they were started), and at the start of every Step (Poll, Wait,
// SyncRing). A batch of one is sent as a plain get, a larger one as one mget
// part that serves every get in it; each get stays its own call, with its own
// ticket and deadline, and finishes from its slot of the mget's reply (a value
// or a miss). When that part fails as a whole (an error reply, a stall, a
// broken connection) its gets still open are sent again one by one as plain
// gets (after a stall or a break, to their next candidates), so each ends as
// it would have uncoalesced.
//
// With smart routing the engine keeps the router's ring fresh: it fetches it
// every ring_refresh_ms, and at once after a node stalled or timed out or
// answered `unavailable`; after a failed fetch it waits
// min(node_retry_ms, ring_refresh_ms) before the next.
//
// Not thread-safe (one per Client).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client/router.h"
#include "client/transport.h"
#include "meshcache/client.hpp"
#include "meshcache/status.hpp"
#include "protocol/messages.h"
#include "util/clock.h"

namespace meshcache::client {

// A finished call. reply holds what the op returns (for an mget, the values
// of every part in request order); meaningful only when status is ok.
struct Done {
  uint64_t ticket = 0;
  protocol::Op op = protocol::Op::kPing;
  Status status;
  protocol::Reply reply;
};

class Engine {
 public:
  // REQUIRES: ValidateClientOptions(options).ok(); transport and clock outlive
  // the engine.
  Engine(const ClientOptions& options, Transport* transport, const Clock* clock);

  // Starts a call (request.id is ignored) and returns its ticket. `node`
  // non-empty pins it to that node. An mget of no keys finishes at once.
  // coalesce: an unpinned get may be held for a batch (see above).
  uint64_t Start(protocol::Request request, const std::string& node = {}, bool coalesce = false);
  // Runs until at least one call has finished or timeout_ms has passed, and
  // returns every finished call not yet returned, in finishing order.
  std::vector<Done> Poll(int64_t timeout_ms);
  // Runs until the call has finished (at the latest at its deadline) and
  // returns it; other calls that finish meanwhile wait for Poll.
  // REQUIRES: ticket came from Start and was not returned yet.
  Done Wait(uint64_t ticket);
  // Calls started and not yet returned by Poll or Wait.
  size_t pending() const { return calls_.size() - (ring_call_ != 0 ? 1 : 0) + ready_.size(); }

  // Fetches the ring now (smart routing only) and returns how that went:
  // ok once a ring is adopted, else the fetch's error.
  Status SyncRing();

  const Router& router() const { return router_; }

 private:
  struct Call {
    protocol::Op op;
    int64_t deadline_ms;
    bool internal;                // a ring fetch of the engine's own: never returned
    std::vector<uint64_t> parts;  // wire ids still open
    Done done;
  };
  struct Part {
    uint64_t ticket;   // 0 for a batch
    std::string node;  // where it was sent (or is queued)
    bool pinned;
    protocol::Request request;  // id: this part's wire id
    std::vector<size_t> slots;  // mget: positions of its keys in the call
    std::vector<std::string> tried;
    // A batch (coalesced gets): the get call of each key, 0 once it finished.
    std::vector<uint64_t> members;
    bool batch() const { return ticket == 0; }
  };
  // Gets held for one node, not sent yet.
  struct Held {
    std::vector<uint64_t> tickets;
    std::vector<std::string> keys;
  };

  uint64_t StartCall(protocol::Request request, const std::string& node, bool internal);
  Call& NewCall(protocol::Op op, bool internal);
  void StartParts(uint64_t ticket, protocol::Request request, const std::string& node);
  void Dispatch(Part part);
  void Step(int64_t max_wait_ms);
  void OnReply(const std::string& node, std::string_view body);
  void OnStall(const std::string& node, const std::vector<uint64_t>& wire_ids);
  // Reads in flight to the node go to the next candidate; writes fail.
  void OnDisconnect(const std::string& node);
  // Folds a part's ok reply into its call.
  Status Merge(Call& call, const Part& part, protocol::Reply& reply);
  void ClosePart(uint64_t wire_id);

  // Coalescing (coalesce.cc).
  uint64_t Hold(std::string key);
  void Flush(std::string node);  // by value: the held_ key it names is erased
  void FlushAll();
  void OnBatchReply(uint64_t wire_id, std::string_view body);
  // Takes the batch out of parts_ and sends its open gets one by one, after
  // the nodes it tried when keep_tried.
  void Unbatch(uint64_t wire_id, bool keep_tried);
  // The call is done with the batch; the batch goes when no call needs it.
  void LeaveBatch(uint64_t wire_id, uint64_t ticket);
  void Finish(uint64_t ticket, Status status);
  void Expire();
  void NodeFailed(const std::string& node);
  void MaybeFetchRing();
  void AdoptRing(const protocol::RingInfo& info);
  // Decoding limits for a part's reply; nullptr: for any reply.
  protocol::Limits LimitsFor(const Part* part) const;
  int64_t Now() const { return clock_->NowMs(); }

  ClientOptions options_;
  Transport* transport_;
  const Clock* clock_;
  Router router_;
  uint64_t next_ticket_ = 1;
  uint64_t next_wire_id_ = 1;
  std::map<uint64_t, Call> calls_;  // by ticket; ordered, so deadlines expire in start order
  std::unordered_map<uint64_t, Part> parts_;  // by wire id
  std::deque<Done> ready_;
  std::map<std::string, Held> held_;  // by node
  uint64_t ring_call_ = 0;            // ticket of the engine's ring fetch in flight, 0: none
  int64_t ring_due_ms_ = 0;
  Status ring_status_ = Status::Error(Code::kUnavailable, "no ring fetched yet");
  size_t largest_mget_ = 0;  // keys in the largest mget part sent
};

}  // namespace meshcache::client
