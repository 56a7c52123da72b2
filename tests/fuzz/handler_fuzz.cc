// libFuzzer target: one whole node (node::Service, what the engine hands
// every message to) fed frames as its sockets deliver them: requests on the
// ROUTER above all, and peers' replies, gossip, time, answers to what the
// node sent and loader results between them (handler_harness.h has the
// input format). After every input the node must still serve (Check).
//
// One node lives across inputs, so state that inputs leave behind (stored
// values, members, pending forwards and loads, the clock) meets the next
// ones; it is made afresh every MESHCACHE_FUZZ_RESET_EVERY inputs (default
// 1000; the first byte of that input picks its options), which bounds what
// it accumulates. Set it to 1 for a fresh node per input: that is how
// regression inputs and -minimize_crash must run.
//
// A crash that needs what earlier inputs left behind does not reproduce from
// its own input. With MESHCACHE_FUZZ_HISTORY=FILE set, every input is
// appended to FILE (rewritten at each fresh node) in canonical form, with a
// check record after each: FILE is then one input that replays everything
// the crashed node saw, on a fresh node.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "handler_harness.h"

using namespace meshcache::fuzz;

namespace {

struct Settings {
  long reset_every = 1000;
  const char* history = nullptr;
};

const Settings& GetSettings() {
  static const Settings settings = [] {
    Settings s;
    if (const char* every = std::getenv("MESHCACHE_FUZZ_RESET_EVERY")) {
      s.reset_every = std::max(1L, std::strtol(every, nullptr, 10));
    }
    s.history = std::getenv("MESHCACHE_FUZZ_HISTORY");
    return s;
  }();
  return settings;
}

std::unique_ptr<HandlerHarness> node;
long inputs_on_node = 0;
FILE* history = nullptr;

void WriteHistory(bool fresh, uint8_t config, const std::vector<Record>& records) {
  if (fresh) {
    if (history) std::fclose(history);
    history = std::fopen(GetSettings().history, "wb");
    if (!history) return;
  }
  if (!history) return;
  Writer w;
  if (fresh) w.Byte(config);
  for (const Record& rec : records) WriteRecord(rec, w);
  WriteRecord(Record{.kind = kCheck}, w);
  std::fwrite(w.data.data(), 1, w.data.size(), history);
  std::fflush(history);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in(data, size);
  const uint8_t config = in.Byte();
  std::vector<Record> records;
  while (!in.done()) records.push_back(ReadRecord(in));

  const bool fresh = !node || inputs_on_node >= GetSettings().reset_every;
  if (fresh) {
    node.reset();  // one node at a time
    node = std::make_unique<HandlerHarness>(config);
    inputs_on_node = 0;
  }
  ++inputs_on_node;
  if (GetSettings().history) WriteHistory(fresh, config, records);

  node->SawInput(std::string_view(reinterpret_cast<const char*>(data), size));
  for (const Record& rec : records) node->Run(rec);
  node->Run(Record{.kind = kCheck});  // as the history records it
  return 0;
}
