// JobTable: client requests waiting for forwards and loads. A job has one
// slot per key (get: 1, mget and gets: n, in request order); set, del, setx,
// incr and touch use none and finish on the owner's answer. Filling or
// failing a job's last outstanding part encodes its reply and hands it, with
// the request's envelope, to the reply function given at construction. A
// finished get or mget records how long it waited in the histogram given at
// construction, if any.
//
// Pure bookkeeping, no sockets. Not thread-safe: the I/O thread owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/sockets.h"
#include "protocol/messages.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/histogram.h"

namespace meshcache::node {

// gets: what a slot's value carries beside it (protocol::ValueMeta's fields).
struct EntryMeta {
  uint32_t flags = 0;
  uint64_t version = 0;      // the write (or load) that made the value: its cas
  int64_t ttl_left_ms = -1;  // 0: never expires; -1: unknown
};

struct Job {
  net::Frames envelope;
  protocol::Op op = protocol::Op::kGet;
  uint64_t client_id = 0;  // the id the reply carries
  std::vector<std::optional<Value>> slots;
  size_t outstanding = 0;
  Status error;  // the first failure; the reply is this error when set
  bool existed = false;
  bool forwarded = false;        // asked by a peer's fwd: a get reply carries ttl_left_ms
  int64_t ttl_left_ms = -1;      // get: the value's remaining life here (0 = none; -1 unknown)
  int64_t started_us = 0;        // when it was added (with a clock)
  std::vector<EntryMeta> metas;  // gets: one per slot; empty for other ops
  // setx, incr: the owner's answer.
  protocol::WriteOutcome outcome = protocol::WriteOutcome::kStored;
  uint64_t cas = 0;
  uint64_t number = 0;
};

class JobTable {
 public:
  using ReplyFn = std::function<void(net::Frames& envelope, const std::string& body)>;

  // clock and lookups may be null (nothing is timed); else they outlive this.
  explicit JobTable(ReplyFn reply, const Clock* clock = nullptr,
                    LatencyHistogram* lookups = nullptr)
      : reply_(std::move(reply)), clock_(clock), lookups_(lookups) {}

  // A job for op with `slots` key slots, done after `outstanding` Settles.
  // outstanding 0 finishes it at once. Returns its id (never 0).
  uint64_t Add(net::Frames envelope, protocol::Op op, uint64_t client_id, size_t slots,
               size_t outstanding, bool forwarded = false);
  // Unknown ids (a job already answered) are ignored by all of these.
  // ttl_left_ms: the value's remaining life when known (see Job).
  void Fill(uint64_t id, size_t slot, std::optional<Value> value, int64_t ttl_left_ms = -1);
  // Fill with what the value carries, for a gets (other ops keep only
  // meta.ttl_left_ms, as Fill does).
  void Fill(uint64_t id, size_t slot, std::optional<Value> value, const EntryMeta& meta);
  // Settles `count` parts with an error; the first error wins.
  void Fail(uint64_t id, Status status, size_t count);
  void Settle(uint64_t id, size_t count);
  // A del's answer: settles the job with whether the key existed.
  void Existed(uint64_t id, bool existed);
  // A setx's or an incr's answer from its owner: settles the job with it.
  void Written(uint64_t id, protocol::WriteOutcome outcome, uint64_t cas, uint64_t number);
  // Answers every waiting job with `status` (shutting down).
  void FailAll(const Status& status);

  size_t size() const { return jobs_.size(); }
  bool empty() const { return jobs_.empty(); }

 private:
  void Finish(std::unordered_map<uint64_t, Job>::iterator it);
  static std::string ReplyBody(const Job& job);
  static std::string EntriesBody(const Job& job);

  ReplyFn reply_;
  const Clock* clock_;
  LatencyHistogram* lookups_;
  std::unordered_map<uint64_t, Job> jobs_;
  uint64_t next_id_ = 1;
};

}  // namespace meshcache::node
