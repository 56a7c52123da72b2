// HandOff: keeps the cache warm while ownership moves. When the ring
// changes, every node walks its store in bounded steps and, for each entry
// whose holders changed, hands the entry (value, remaining TTL, version) to
// the holders it gained, then drops it here if this node holds it no longer.
// Receivers keep whichever version is newer, so an entry a stand-in took
// while the owner was away goes back to the owner, a node that restarts
// empty gets its share back from the replicas, and a node that leaves
// (SIGTERM: its ring no longer has it) hands everything on before it exits.
//
// A pass compares the ring as it was when the last pass finished with the
// ring now; a change during a pass starts the walk again against the same
// older ring, so nothing is missed (some entries are sent twice, which the
// version makes harmless).
//
// Pure: it reads the Store and the Rings it is given and returns what to
// send; the Service sends it. Not thread-safe: the I/O thread owns it.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "protocol/messages.h"
#include "ring/ring.h"
#include "store/store.h"

namespace meshcache::node {

struct HandOffStats {
  uint64_t passes = 0;        // passes finished
  uint64_t entries_sent = 0;  // entries handed to another holder
  uint64_t entries_dropped = 0;
};

class HandOff {
 public:
  struct Step {
    // Entries for each holder they go to, in batches that fit a message.
    std::vector<std::pair<std::string, std::vector<protocol::HandoffEntry>>> batches;
    std::vector<std::string> drop;  // keys this node holds no longer
  };

  // max_batch_bytes: a batch is closed once its values reach this size.
  HandOff(std::string self, size_t max_batch_entries, size_t max_batch_bytes);

  // The ring this node routes by is now `ring`. The first call only sets the
  // starting point.
  void OnRing(std::shared_ptr<const Ring> ring);
  // A pass is under way.
  bool active() const { return walking_; }
  // Walks up to max_entries more entries of store.
  Step Next(Store& store, size_t max_entries);
  const HandOffStats& stats() const { return stats_; }

 private:
  void Visit(const StoreEntry& e, Step& step, std::map<std::string, size_t>& open_batch,
             std::vector<size_t>& batch_bytes);

  const std::string self_;
  const size_t max_batch_entries_;
  const size_t max_batch_bytes_;
  std::shared_ptr<const Ring> base_;  // holders as they were
  std::shared_ptr<const Ring> ring_;  // holders now
  bool walking_ = false;
  Store::ScanCursor cursor_;
  HandOffStats stats_;
};

}  // namespace meshcache::node
