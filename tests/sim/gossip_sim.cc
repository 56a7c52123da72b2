// gossip_sim: the real gossip logic (node::Gossiper, Membership) of many
// nodes in one process over a simulated network with loss, delay and
// partitions, on a manual clock (tests/sim/sim.h). Prints a table of figures
// (scenarios.h); --json writes the raw numbers; --check exits 1 unless the
// join converges within 5 s of the last start, every node lists a killed
// node dead within dead_ms + 2 s, and 5 % loss causes no false death.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "scenarios.h"

namespace {

using meshcache::sim::Config;
using meshcache::sim::Report;
using nlohmann::json;

constexpr int64_t kJoinWithinMs = 5000;
constexpr int64_t kDeathSlackMs = 2000;
constexpr double kCheckedLoss = 0.05;

bool Ran(const std::string& scenario, const char* name) {
  return scenario == "all" || scenario == name || std::string(name) == "join";
}

bool IsCheckedLoss(double p) { return std::fabs(p - kCheckedLoss) < 1e-9; }

// The --check conditions, each printed; true when all hold.
bool Check(const json& j, const Config& c) {
  bool ok = true;
  auto verdict = [&](bool holds, const std::string& what) {
    std::printf("check: %s: %s\n", what.c_str(), holds ? "ok" : "FAILED");
    ok = ok && holds;
  };
  const json& conv = j["join"]["converged_ms"];
  verdict(conv.is_number() && conv.get<int64_t>() <= kJoinWithinMs,
          "join converged within " + std::to_string(kJoinWithinMs) + " ms of the last start");
  const int64_t limit = c.mesh.gossip.membership.dead_ms + kDeathSlackMs;
  const json* all = j.contains("death") ? &j["death"]["all_ms"] : nullptr;
  verdict(all && all->is_number() && all->get<int64_t>() <= limit,
          "every node listed the killed node dead within " + std::to_string(limit) + " ms");
  bool loss_ok = false;
  if (j.contains("loss")) {
    for (const json& level : j["loss"]) {
      if (IsCheckedLoss(level["loss"].get<double>())) {
        loss_ok = level["transitions"]["live_dead"].get<uint64_t>() == 0;
      }
    }
  }
  verdict(loss_ok, "no false death at 5 % loss");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  std::string scenario = "all";
  std::string json_path;
  bool check = false;
  double delay_min_ms = 0.2, delay_max_ms = 2.0;
  size_t max_members = c.mesh.gossip.limits.max_members;
  CLI::App app{"gossip_sim: many nodes' gossip in one process, on a simulated network"};
  app.option_defaults()->always_capture_default();
  app.add_option("--nodes", c.mesh.nodes, "nodes in the mesh")->check(CLI::Range(1, 1000000));
  app.add_option("--loss", c.losses, "loss rates for the loss scenario (0.05 = 5 %)")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--seed", c.mesh.seed, "seed of the network's losses and delays");
  app.add_option("--sim-seconds", c.sim_seconds, "simulated seconds of each cost and loss run")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--partition-seconds", c.partition_seconds, "how long the sides stay apart")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--partition-nodes", c.partition_nodes,
                 "nodes cut off from the rest (the last ones); 0: half")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--heartbeat-ms", c.mesh.gossip.heartbeat_ms)->check(CLI::Range(1, 600000));
  app.add_option("--suspect-ms", c.mesh.gossip.membership.suspect_ms)->check(CLI::Range(1, 600000));
  app.add_option("--dead-ms", c.mesh.gossip.membership.dead_ms)->check(CLI::Range(1, 600000));
  app.add_option("--forget-ms", c.mesh.gossip.membership.forget_ms)->check(CLI::Range(1, 86400000));
  app.add_option("--sync-every", c.mesh.gossip.sync_every, "heartbeats between syncs in turn")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--max-members", max_members, "the codec's member limit (protocol::Limits)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  app.add_option("--delay-min-ms", delay_min_ms)->check(CLI::Range(0.0, 60000.0));
  app.add_option("--delay-max-ms", delay_max_ms)->check(CLI::Range(0.0, 60000.0));
  app.add_option("--stagger-ms", c.stagger_ms, "between node starts")->check(CLI::Range(0, 600000));
  app.add_option("--sample-ms", c.sample_ms, "convergence checks (the figures' resolution)")
      ->check(CLI::Range(1, 60000));
  app.add_option("--timeout-seconds", c.timeout_seconds, "the longest wait for a convergence")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--scenario", scenario, "all, join, death, loss, cost or partition")
      ->check(CLI::IsMember({"all", "join", "death", "loss", "cost", "partition"}));
  app.add_flag("--check", check, "exit 1 unless join, death and 5 % loss meet their bounds");
  app.add_flag("--progress", c.progress, "a progress line on stderr every 10 s of wall time");
  app.add_option("--json", json_path, "write the raw numbers to this file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (delay_max_ms < delay_min_ms) {
    std::fprintf(stderr, "gossip_sim: --delay-max-ms is below --delay-min-ms\n");
    return 2;
  }
  c.mesh.delay_min_us = static_cast<int64_t>(delay_min_ms * 1000);
  c.mesh.delay_max_us = static_cast<int64_t>(delay_max_ms * 1000);
  c.mesh.gossip.limits.max_members = max_members;
  if (check && scenario != "all") {
    std::fprintf(stderr, "gossip_sim: --check needs --scenario all (join, death and loss)\n");
    return 2;
  }
  if (check && std::none_of(c.losses.begin(), c.losses.end(), IsCheckedLoss)) {
    c.losses.push_back(kCheckedLoss);
  }

  meshcache::sim::WallSeconds();  // the origin of the wall times
  Report report;
  report.Header(c);
  if (scenario != "partition") {
    meshcache::sim::Mesh mesh(c.mesh);
    meshcache::sim::Runner run(mesh, c);
    bool ok = meshcache::sim::RunJoin(run, report);
    if (!ok) std::printf("the mesh did not converge: cost, loss and death skipped\n");
    if (ok && Ran(scenario, "cost")) ok = meshcache::sim::RunCost(run, report);
    if (ok && Ran(scenario, "loss")) ok = meshcache::sim::RunLoss(run, report);
    if (ok && Ran(scenario, "death")) ok = meshcache::sim::RunDeath(run, report);
  }
  if (scenario == "all" || scenario == "partition") {
    meshcache::sim::Mesh mesh(c.mesh);
    meshcache::sim::Runner run(mesh, c);
    (void)meshcache::sim::RunPartition(run, report);
  }
  report.json()["wall_s"] = meshcache::sim::WallSeconds();
  std::printf("total wall time %.2f s\n", meshcache::sim::WallSeconds());

  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << report.json().dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "gossip_sim: cannot write %s\n", json_path.c_str());
      return 2;
    }
  }
  if (check && !Check(report.json(), c)) return 1;
  return 0;
}
