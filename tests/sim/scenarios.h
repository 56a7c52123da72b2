// The gossip simulator's scenarios, each run on a Mesh and reported as rows
// of a table (stdout) and as raw numbers (JSON).
//
//   join       N nodes start, one every stagger_ms, each joining through node
//              0: the time from the last start until every table lists all N
//              alive with one digest.
//   cost       the converged mesh idle for sim_seconds: messages and bytes
//              sent and received per node per second.
//   loss       for each loss rate, sim_seconds of the converged mesh at that
//              loss: every transition of a running member into suspect or
//              dead seen by any node (false suspicions and deaths, up to
//              2 x dead_ms after the loss stops), and the time to converge
//              once the loss stops.
//   death      one node (not node 0) killed: the time until the first and
//              until every live node lists it dead.
//   partition  a fresh mesh joined, then cut in two (halves, or the last
//              partition_nodes nodes apart) for partition_seconds, then
//              healed: the time until it converges again.
// join, cost, loss and death run in that order on one mesh (death last: it
// leaves a dead member); partition on a mesh of its own, as a failure to
// heal would spoil the rest.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sim.h"

namespace meshcache::sim {

struct Config {
  MeshOptions mesh;
  std::vector<double> losses{0.01, 0.05, 0.10};
  double sim_seconds = 30;        // the cost and loss runs
  double partition_seconds = 10;  // how long the sides stay apart
  int partition_nodes = 0;        // on the far side of the cut (never node 0); 0: half
  int64_t stagger_ms = 10;        // between node starts
  int64_t sample_ms = 10;         // convergence checks: the figures' resolution
  double timeout_seconds = 120;   // the longest wait for a convergence
  bool progress = false;          // a line on stderr every 10 s of wall time
};

// Prints rows and keeps the raw numbers.
class Report {
 public:
  void Header(const Config& config);
  void Row(const std::string& scenario, const std::string& figure, const std::string& value);
  nlohmann::json& json() { return json_; }

 private:
  nlohmann::json json_;
};

// Runs the mesh in steps of sample_ms, printing progress when asked.
class Runner {
 public:
  Runner(Mesh& mesh, const Config& config);
  // Runs until t_us (absolute).
  void To(int64_t t_us);
  // Runs until done() holds (checked every sample_ms) or deadline_us; the
  // time it first held, or nullopt.
  template <typename Pred>
  std::optional<int64_t> Until(int64_t deadline_us, Pred done) {
    if (done()) return mesh_.now_us();
    while (mesh_.now_us() < deadline_us) {
      Step(std::min(deadline_us, mesh_.now_us() + config_.sample_ms * 1000));
      if (done()) return mesh_.now_us();
    }
    return std::nullopt;
  }
  Mesh& mesh() { return mesh_; }
  const Config& config() const { return config_; }

 private:
  void Step(int64_t t_us);

  Mesh& mesh_;
  const Config& config_;
  double last_progress_s_;
};

// Each returns false when the mesh is left unconverged (later scenarios
// would measure nothing).
bool RunJoin(Runner& run, Report& report);
bool RunCost(Runner& run, Report& report);
bool RunLoss(Runner& run, Report& report);
bool RunDeath(Runner& run, Report& report);
// Starts the mesh itself (it must not be started).
bool RunPartition(Runner& run, Report& report);

// Wall-clock seconds since the first call (a steady clock).
double WallSeconds();

}  // namespace meshcache::sim
