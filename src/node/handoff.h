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
#include <functional>
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
  uint64_t deletes_sent = 0;  // remembered deletes handed to another holder
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
  using Deletes = std::vector<std::pair<std::string, uint64_t>>;  // (key, version)
  // Walks up to max_entries more entries of store. The step that ends a
  // pass also hands on the deletes this node remembers (`deletes` is asked
  // for them then), so a delete taken by a stand-in is not undone by an
  // older value its new holder kept.
  Step Next(Store& store, size_t max_entries, const std::function<Deletes()>& deletes);
  // Batches (holder, entry) pairs as a pass does.
  using Batched = std::vector<std::pair<std::string, std::vector<protocol::HandoffEntry>>>;
  Batched Pack(std::vector<std::pair<std::string, protocol::HandoffEntry>> moves) const;
  const HandOffStats& stats() const { return stats_; }

 private:
  // Batches open in one step, by holder.
  struct Batches {
    Step& step;
    std::map<std::string, size_t> open;  // holder -> index in step.batches
    std::vector<size_t> bytes;
    void Add(const std::string& holder, protocol::HandoffEntry entry, size_t max_entries,
             size_t max_bytes);
  };
  void Visit(const StoreEntry& e, Batches& batches);
  void VisitDelete(const std::string& key, uint64_t version, Batches& batches);

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
