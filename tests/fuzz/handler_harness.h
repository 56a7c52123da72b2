// handler_fuzz's node: one node::Service on FuzzPeers, FuzzLoader and a
// ManualClock (as tests/unit/node_harness.h drives one), no sockets and no
// threads, run record by record (handler_records.h) as the engine would run
// it: each message handed to the Service as its socket delivers it, then the
// Service's timers, as after every poll round.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fakes.h"
#include "handler_records.h"
#include "node/service.h"
#include "util/clock.h"

namespace meshcache::fuzz {

class HandlerHarness {
 public:
  // config: the first byte of the input that made this node.
  explicit HandlerHarness(uint8_t config);

  void Run(const Record& rec);
  // The node still serves: it answers a ping at once, a set of a key it owns
  // at once, and a get of that key with the value set (or, while it checks
  // its hits after refuting its own death, by a peek at whoever stands in);
  // its stats decode; it is alive and on its own ring. Fail()s otherwise.
  void Check();
  // After a few ticks in a row, each past every deadline, no request still
  // waits for its answer. Fail()s otherwise.
  void CheckDrained(const Record& rec);
  // An input held the prefix of Check's keys: a write to them from the
  // input may be newer than Check's, so the value is not checked.
  void SawInput(std::string_view input);

 private:
  struct Reply {
    std::string routing_id;
    std::string body;
  };

  void Request(const Record& rec);
  void Answer(const Record& rec);
  void FinishLoad(const Record& rec);
  // Sends the checker's request r and returns the reply with its id sent at
  // once, if any.
  std::optional<protocol::Reply> Ask(protocol::Request r);
  // A key Check may use: this node owns it now.
  std::optional<std::string> OwnedKey() const;
  bool OnReply(net::Frames& envelope, const std::string& body);

  NodeOptions options_;
  protocol::Limits limits_;
  ManualClock clock_;
  FuzzPeers peers_;
  FuzzLoader loader_;
  std::vector<Reply> replies_;  // to the checker, during Check
  // Ticks in a row, with nothing else between, each past every deadline
  // (forward, load): after a few, every request has had its answer.
  int quiet_ticks_ = 0;
  bool trace_ = false;  // MESHCACHE_FUZZ_TRACE set: prints every record and reply
  bool checking_ = false;
  bool check_keys_seen_ = false;
  uint64_t checks_ = 0;
  node::Service service_;
};

}  // namespace meshcache::fuzz
