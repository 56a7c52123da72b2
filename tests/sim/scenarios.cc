#include "scenarios.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace meshcache::sim {
namespace {

using nlohmann::json;

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Elapsed times are microseconds, or kNone: it did not happen in time.
constexpr int64_t kNone = -1;

int64_t Since(const std::optional<int64_t>& t_us, int64_t origin_us) {
  return t_us ? *t_us - origin_us : kNone;
}

std::string Ms(int64_t us) {
  return us != kNone ? std::to_string(us / 1000) + " ms" : "not within the timeout";
}

json MsJson(int64_t us) { return us != kNone ? json(us / 1000) : json(nullptr); }

std::string Percent(double p) { return Fixed(p * 100, p * 100 < 1 ? 1 : 0) + " %"; }

int64_t Seconds(double s) { return static_cast<int64_t>(s * 1e6); }

int64_t TimeoutUs(const Config& c) { return Seconds(c.timeout_seconds); }

// Long enough for every timer a disturbance started to have fired.
int64_t SettleUs(const Config& c) { return 2 * c.mesh.gossip.membership.dead_ms * 1000; }

json TransitionsJson(const MeshCounters& c) {
  return {{"live_suspect", c.transitions.live_suspect},
          {"live_dead", c.transitions.live_dead},
          {"live_dead_same_side", c.transitions.live_dead_same_side},
          {"killed_dead", c.transitions.killed_dead}};
}

double PerNodeCount(const Mesh& mesh, uint64_t n) {
  return static_cast<double>(n) / mesh.live_count();
}

std::string SuspectDead(const MeshCounters& c) {
  return std::to_string(c.transitions.live_suspect) + " / " +
         std::to_string(c.transitions.live_dead);
}

// Per live node per second: the mean and the largest.
json PerNode(const Mesh& mesh, double seconds) {
  json out;
  auto add = [&](const char* name, auto field) {
    double sum = 0, max = 0;
    for (int i = 0; i < mesh.size(); ++i) {
      if (!mesh.live(i)) continue;
      const double v = static_cast<double>(field(mesh.traffic(i))) / seconds;
      sum += v;
      max = std::max(max, v);
    }
    out[name] = {{"mean", sum / mesh.live_count()}, {"max", max}};
  };
  add("gossip_sent_msgs", [](const NodeTraffic& t) { return t.gossip_sent.msgs; });
  add("gossip_sent_bytes", [](const NodeTraffic& t) { return t.gossip_sent.bytes; });
  add("gossip_recv_msgs", [](const NodeTraffic& t) { return t.gossip_recv.msgs; });
  add("gossip_recv_bytes", [](const NodeTraffic& t) { return t.gossip_recv.bytes; });
  add("sync_sent_msgs", [](const NodeTraffic& t) { return t.sync_sent.msgs; });
  add("sync_sent_bytes", [](const NodeTraffic& t) { return t.sync_sent.bytes; });
  add("sync_recv_msgs", [](const NodeTraffic& t) { return t.sync_recv.msgs; });
  add("sync_recv_bytes", [](const NodeTraffic& t) { return t.sync_recv.bytes; });
  add("sent_msgs", [](const NodeTraffic& t) { return t.gossip_sent.msgs + t.sync_sent.msgs; });
  add("sent_bytes", [](const NodeTraffic& t) { return t.gossip_sent.bytes + t.sync_sent.bytes; });
  add("recv_msgs", [](const NodeTraffic& t) { return t.gossip_recv.msgs + t.sync_recv.msgs; });
  add("recv_bytes", [](const NodeTraffic& t) { return t.gossip_recv.bytes + t.sync_recv.bytes; });
  return out;
}

std::string MeanMax(const json& j, const char* name, int digits) {
  return Fixed(j[name]["mean"].get<double>(), digits) + " (max " +
         Fixed(j[name]["max"].get<double>(), digits) + ")";
}

}  // namespace

double WallSeconds() {
  static const auto start = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void Report::Header(const Config& c) {
  const MeshOptions& m = c.mesh;
  std::printf(
      "gossip_sim: %d nodes, seed %llu; heartbeat %lld ms, suspect %lld ms, dead %lld ms, "
      "forget %lld ms, sync every %d heartbeats; delay %.1f-%.1f ms\n",
      m.nodes, static_cast<unsigned long long>(m.seed),
      static_cast<long long>(m.gossip.heartbeat_ms),
      static_cast<long long>(m.gossip.membership.suspect_ms),
      static_cast<long long>(m.gossip.membership.dead_ms),
      static_cast<long long>(m.gossip.membership.forget_ms), m.gossip.sync_every,
      m.delay_min_us / 1000.0, m.delay_max_us / 1000.0);
  std::printf("%-10s %-52s %s\n", "scenario", "figure", "value");
  json_["config"] = {{"nodes", m.nodes},
                     {"seed", m.seed},
                     {"heartbeat_ms", m.gossip.heartbeat_ms},
                     {"suspect_ms", m.gossip.membership.suspect_ms},
                     {"dead_ms", m.gossip.membership.dead_ms},
                     {"forget_ms", m.gossip.membership.forget_ms},
                     {"sync_every", m.gossip.sync_every},
                     {"max_members", m.gossip.limits.max_members},
                     {"delay_min_us", m.delay_min_us},
                     {"delay_max_us", m.delay_max_us},
                     {"stagger_ms", c.stagger_ms},
                     {"sample_ms", c.sample_ms},
                     {"sim_seconds", c.sim_seconds},
                     {"partition_seconds", c.partition_seconds},
                     {"losses", c.losses}};
}

void Report::Row(const std::string& scenario, const std::string& figure, const std::string& value) {
  std::printf("%-10s %-52s %s\n", scenario.c_str(), figure.c_str(), value.c_str());
  std::fflush(stdout);
}

Runner::Runner(Mesh& mesh, const Config& config)
    : mesh_(mesh), config_(config), last_progress_s_(WallSeconds()) {}

void Runner::To(int64_t t_us) {
  while (mesh_.now_us() < t_us) {
    Step(std::min(t_us, mesh_.now_us() + config_.sample_ms * 1000));
  }
}

void Runner::Step(int64_t t_us) {
  mesh_.RunTo(t_us);
  if (!config_.progress || WallSeconds() - last_progress_s_ < 10) return;
  last_progress_s_ = WallSeconds();
  const MeshCounters& c = mesh_.counters();
  std::fprintf(stderr, "[%.0f s wall] sim %.2f s: %d started, %d live; %llu joins, %llu syncs\n",
               last_progress_s_, mesh_.now_ms() / 1000.0 - 1000, mesh_.started_count(),
               mesh_.live_count(), static_cast<unsigned long long>(c.joins),
               static_cast<unsigned long long>(c.syncs));
}

namespace {

// Starts every node, one each stagger_ms, and runs until the mesh converges.
// Returns the time from the last start, or kNone; *last_us: the last start.
int64_t StartAll(Runner& run, int64_t* last_us) {
  Mesh& mesh = run.mesh();
  const Config& c = run.config();
  const int64_t t0 = mesh.now_us();
  for (int i = 0; i < mesh.size(); ++i) {
    run.To(t0 + i * c.stagger_ms * 1000);
    mesh.Start(i);
  }
  *last_us = mesh.now_us();
  return Since(run.Until(*last_us + TimeoutUs(c), [&] { return mesh.Converged(); }), *last_us);
}

}  // namespace

bool RunJoin(Runner& run, Report& report) {
  Mesh& mesh = run.mesh();
  const double wall = WallSeconds();
  mesh.ResetCounters();
  const int64_t t0 = mesh.now_us();
  int64_t last = 0;
  const int64_t after = StartAll(run, &last);
  const MeshCounters& k = mesh.counters();
  const double seconds = (mesh.now_us() - t0) / 1e6;
  json& j = report.json()["join"];
  j = {{"last_start_ms", (last - t0) / 1000},
       {"converged_ms", MsJson(after)},
       {"joins", k.joins},
       {"syncs", k.syncs},
       {"bad", k.bad},
       {"transitions", TransitionsJson(k)},
       {"per_node_per_s", PerNode(mesh, seconds)}};
  report.Row("join", "last node started at", Ms(last - t0));
  report.Row("join", "all list all alive, one digest, after the last start", Ms(after));
  report.Row("join", "join requests / syncs sent",
             std::to_string(k.joins) + " / " + std::to_string(k.syncs));
  report.Row("join", "sync bytes sent per node per s, mean (max)",
             MeanMax(j["per_node_per_s"], "sync_sent_bytes", 0));
  if (k.bad > 0)
    report.Row("join", "requests or answers over a codec limit", std::to_string(k.bad));
  report.Row("join", "suspect / dead transitions of running members", SuspectDead(k));
  j["rebuilds_per_node"] = PerNodeCount(mesh, k.follows);
  report.Row("join", "table rebuilds (Follow calls) per node",
             Fixed(PerNodeCount(mesh, k.follows), 0));
  j["wall_s"] = WallSeconds() - wall;
  report.Row("join", "wall time", Fixed(WallSeconds() - wall, 2) + " s");
  return after != kNone;
}

bool RunCost(Runner& run, Report& report) {
  Mesh& mesh = run.mesh();
  const Config& c = run.config();
  const double wall = WallSeconds();
  mesh.ResetCounters();
  run.To(mesh.now_us() + Seconds(c.sim_seconds));
  const json per = PerNode(mesh, c.sim_seconds);
  const MeshCounters& k = mesh.counters();
  const bool converged = mesh.Converged();
  const double syncs = static_cast<double>(k.syncs) / mesh.live_count() / c.sim_seconds;
  report.json()["cost"] = {{"seconds", c.sim_seconds},      {"per_node_per_s", per},
                           {"syncs_per_node_per_s", syncs}, {"probes", k.probes},
                           {"converged_at_end", converged}, {"transitions", TransitionsJson(k)}};
  const std::string idle = "idle " + Fixed(c.sim_seconds, 0) + " s: ";
  report.Row("cost", idle + "msgs sent per node per s", MeanMax(per, "sent_msgs", 1));
  report.Row("cost", idle + "bytes sent per node per s", MeanMax(per, "sent_bytes", 0));
  report.Row("cost", idle + "msgs received per node per s", MeanMax(per, "recv_msgs", 1));
  report.Row("cost", idle + "bytes received per node per s", MeanMax(per, "recv_bytes", 0));
  report.Row("cost", idle + "gossip bytes sent per node per s",
             MeanMax(per, "gossip_sent_bytes", 0));
  report.Row("cost", idle + "join/sync bytes sent per node per s",
             MeanMax(per, "sync_sent_bytes", 0));
  report.Row("cost", idle + "syncs started per node per s", Fixed(syncs, 3));
  report.Row("cost", idle + "probe requests per node per s",
             Fixed(static_cast<double>(k.probes) / mesh.live_count() / c.sim_seconds, 3));
  report.Row("cost", idle + "suspect / dead transitions", SuspectDead(k));
  report.Row("cost", "still converged at the end", converged ? "yes" : "NO");
  report.json()["cost"]["wall_s"] = WallSeconds() - wall;
  report.Row("cost", "wall time", Fixed(WallSeconds() - wall, 2) + " s");
  return converged;
}

bool RunLoss(Runner& run, Report& report) {
  Mesh& mesh = run.mesh();
  const Config& c = run.config();
  const double wall = WallSeconds();
  json& out = report.json()["loss"];
  out = json::array();
  bool converged = true;
  for (double p : c.losses) {
    mesh.ResetCounters();
    const uint64_t refuted = mesh.DeathsRefuted();
    const uint64_t incarnations = mesh.IncarnationSum();
    mesh.set_loss(p);
    run.To(mesh.now_us() + Seconds(c.sim_seconds));
    mesh.set_loss(0);
    const double syncs =
        static_cast<double>(mesh.counters().syncs) / mesh.live_count() / c.sim_seconds;
    const double probes =
        static_cast<double>(mesh.counters().probes) / mesh.live_count() / c.sim_seconds;
    const int64_t stop = mesh.now_us();
    auto done = run.Until(stop + TimeoutUs(c), [&] { return mesh.Converged(); });
    const int64_t after = Since(done, stop);
    converged = converged && done.has_value();
    // Suspicions the loss began just before it stopped are its own: they are
    // counted here, not in the next run.
    run.To(std::max(mesh.now_us(), stop + SettleUs(c)));
    const MeshCounters k = mesh.counters();
    const uint64_t refutations = mesh.DeathsRefuted() - refuted;
    const uint64_t raised = mesh.IncarnationSum() - incarnations;
    out.push_back({{"loss", p},
                   {"seconds", c.sim_seconds},
                   {"transitions", TransitionsJson(k)},
                   {"deaths_refuted", refutations},
                   {"incarnations_raised", raised},
                   {"syncs_per_node_per_s", syncs},
                   {"probes_per_node_per_s", probes},
                   {"lost", k.lost},
                   {"rebuilds_per_node", PerNodeCount(mesh, k.follows)},
                   {"reconverged_ms", MsJson(after)}});
    const std::string at = Percent(p) + " for " + Fixed(c.sim_seconds, 0) + " s: ";
    report.Row("loss", at + "suspect / dead transitions", SuspectDead(k));
    report.Row("loss", at + "deaths refuted / incarnations raised",
               std::to_string(refutations) + " / " + std::to_string(raised));
    report.Row("loss", at + "syncs started per node per s", Fixed(syncs, 3));
    report.Row("loss", at + "probe requests per node per s", Fixed(probes, 3));
    report.Row("loss", at + "table rebuilds per node", Fixed(PerNodeCount(mesh, k.follows), 0));
    report.Row("loss", at + "converged again after the loss stopped", Ms(after));
  }
  report.json()["loss_wall_s"] = WallSeconds() - wall;
  report.Row("loss", "wall time", Fixed(WallSeconds() - wall, 2) + " s");
  return converged;
}

bool RunPartition(Runner& run, Report& report) {
  Mesh& mesh = run.mesh();
  const Config& c = run.config();
  const double wall = WallSeconds();
  int64_t last = 0;
  const int64_t joined = StartAll(run, &last);
  report.Row("partition", "a fresh mesh converged after the last start", Ms(joined));
  if (joined == kNone) return false;
  // Node 0, the seed, stays on side 0; side 1 is the last nodes.
  const int cut =
      c.partition_nodes > 0 ? std::min(c.partition_nodes, mesh.size() - 1) : mesh.size() / 2;
  std::vector<int> side(mesh.size());
  for (int i = 0; i < mesh.size(); ++i) side[i] = i >= mesh.size() - cut ? 1 : 0;
  mesh.ResetCounters();
  mesh.Partition(side);
  run.To(mesh.now_us() + Seconds(c.partition_seconds));
  const MeshCounters during = mesh.counters();
  mesh.Heal();
  mesh.ResetCounters();
  const int64_t heal = mesh.now_us();
  auto done = run.Until(heal + TimeoutUs(c), [&] { return mesh.Converged(); });
  const int64_t after = Since(done, heal);
  const MeshCounters& k = mesh.counters();
  const double span = (mesh.now_us() - heal) / 1e6;
  // Pairs (observer, member) on different sides where the observer lists
  // the member alive: all of them once healed.
  uint64_t across = 0, alive_across = 0;
  for (int i = 0; i < mesh.size(); ++i) {
    for (int m = 0; m < mesh.size(); ++m) {
      if (side[i] == side[m]) continue;
      ++across;
      const MemberEntry* e = mesh.gossiper(i).membership().Find(mesh.id(m));
      alive_across += e != nullptr && e->info.state == NodeState::kAlive;
    }
  }
  const json per = PerNode(mesh, span);
  report.json()["partition"] = {{"seconds", c.partition_seconds},
                                {"cut_off_nodes", cut},
                                {"transitions_during", TransitionsJson(during)},
                                {"converged_after_heal_ms", MsJson(after)},
                                {"transitions_after_heal", TransitionsJson(k)},
                                {"syncs_after_heal", k.syncs},
                                {"rebuilds_per_node_after_heal", PerNodeCount(mesh, k.follows)},
                                {"pairs_across", across},
                                {"pairs_across_alive_at_end", alive_across},
                                {"per_node_per_s_after_heal", per},
                                {"wall_s", WallSeconds() - wall}};
  const std::string apart = std::to_string(cut) + " of " + std::to_string(mesh.size()) +
                            " cut off " + Fixed(c.partition_seconds, 0) + " s: ";
  report.Row("partition", apart + "suspect / dead transitions", SuspectDead(during));
  report.Row("partition", "converged after the heal", Ms(after));
  report.Row("partition",
             "at the end: pairs across the cut listed alive (of " + std::to_string(across) + ")",
             std::to_string(alive_across) + " after " + Fixed(span, 1) + " s");
  report.Row("partition", "after the heal: suspect / dead transitions", SuspectDead(k));
  report.Row("partition", "after the heal: dead transitions within a side (false)",
             std::to_string(k.transitions.live_dead_same_side));
  report.Row("partition", "after the heal: syncs started (until converged)",
             std::to_string(k.syncs));
  report.Row("partition", "after the heal: table rebuilds per node (until converged)",
             Fixed(PerNodeCount(mesh, k.follows), 0));
  report.Row("partition", "after the heal: sync bytes sent per node per s",
             MeanMax(per, "sync_sent_bytes", 0));
  report.Row("partition", "wall time", Fixed(WallSeconds() - wall, 2) + " s");
  return done.has_value();
}

bool RunDeath(Runner& run, Report& report) {
  Mesh& mesh = run.mesh();
  const Config& c = run.config();
  if (mesh.size() < 3) return true;
  const double wall = WallSeconds();
  const int victim = mesh.size() / 2;
  const int64_t dead_ms = c.mesh.gossip.membership.dead_ms;
  run.To(mesh.now_us() + SettleUs(c));  // the loss runs' last suspicions are not counted here
  mesh.ResetCounters();
  const int64_t kill = mesh.now_us();
  mesh.Kill(victim);
  int64_t first = kNone, half = kNone;
  auto done = run.Until(kill + dead_ms * 1000 + TimeoutUs(c), [&] {
    const int n = mesh.CountSeeGone(victim);
    if (n > 0 && first == kNone) first = mesh.now_us() - kill;
    if (2 * n >= mesh.live_count() && half == kNone) half = mesh.now_us() - kill;
    return n == mesh.live_count();
  });
  const int64_t all = Since(done, kill);
  const MeshCounters& k = mesh.counters();
  auto within = [&](int64_t slack_ms) {
    return all != kNone && all <= (dead_ms + slack_ms) * 1000;
  };
  report.json()["death"] = {{"victim", victim},
                            {"dead_ms", dead_ms},
                            {"first_ms", MsJson(first)},
                            {"half_ms", MsJson(half)},
                            {"all_ms", MsJson(all)},
                            {"within_dead_plus_1s", within(1000)},
                            {"within_dead_plus_2s", within(2000)},
                            {"transitions", TransitionsJson(k)},
                            {"wall_s", WallSeconds() - wall}};
  report.Row("death", "node " + std::to_string(victim) + " killed: first node lists it dead",
             Ms(first));
  report.Row("death", "half the nodes list it dead", Ms(half));
  report.Row("death", "every node lists it dead", Ms(all));
  report.Row("death",
             "within dead_ms + 1 s / + 2 s (" + std::to_string(dead_ms + 1000) + " / " +
                 std::to_string(dead_ms + 2000) + " ms)",
             std::string(within(1000) ? "yes" : "no") + " / " + (within(2000) ? "yes" : "no"));
  report.Row("death", "suspect / dead transitions of running members", SuspectDead(k));
  report.Row("death", "wall time", Fixed(WallSeconds() - wall, 2) + " s");
  return true;
}

}  // namespace meshcache::sim
