// meshbench: one load generator for meshcache, the bare ZeroMQ echo
// (zmq_echo), redis and memcached (text and meta protocols).
//
// Each of --conns connections is a thread owning one socket and keeping
// --depth requests in flight. Keys are drawn uniformly from --keys; every
// value returned is checked against bench_values.h, so a run against a filled
// server (--fill sets every key first) must see no misses and no errors.
// After --warmup seconds, --duration seconds are measured: ops (requests
// answered; an mget of 16 keys is one op), latency from send to reply, and
// the CPU time of this process and of --server-pid over that window.
//
// --route smart (meshcache): reads the mesh's ring from --endpoint with the
// protocol's `ring` op (and from every node, which must agree), builds it
// with src/ring, and gives each connection one DEALER per node, each key
// sent to its owner. Every node's `stats` before and after say how many
// requests were forwarded all the same: more than 1 % is an error (a ring
// that is not the mesh's).
//
// Finite workloads run a sequence of requests from start to end instead of
// a timed window (--warmup and --duration do not apply; duration_s is the
// sequence's): --op fill sets every key once; --op scan is the cache-aside
// hot set and scan that load.h's Generator describes, whose hit ratios are
// the result ("scan" in the JSON). Misses are never errors; wrong values are.
//
// Prints one JSON line on stdout; problems go to stderr. Exits 1 when it saw
// any error (error replies, wrong values, timeouts, broken connections,
// forwarded requests with --route smart) or no replies at all, 2 on bad
// flags.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <msgpack.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "cpu_time.h"
#include "load.h"
#include "ring/ring.h"

using namespace meshbench;

namespace {

const std::map<std::string, Target> kTargets = {
    {"meshcache", Target::kMeshcache},
    {"echo", Target::kEcho},
    {"redis", Target::kRedis},
    {"memcached-text", Target::kMemcachedText},
    {"memcached-meta", Target::kMemcachedMeta},
};
const std::map<std::string, Workload> kWorkloads = {
    {"get", Workload::kGet}, {"mget", Workload::kMget}, {"set", Workload::kSet},
    {"mix", Workload::kMix}, {"scan", Workload::kScan}, {"fill", Workload::kFill}};

bool UsesZmq(Target t) { return t == Target::kMeshcache || t == Target::kEcho; }

using meshbench::ClientCpuUs;
using meshbench::ServerCpuUs;

// ---- control requests to meshcache nodes (ring, stats), from main

// One request ["op", 1] on a fresh DEALER; the reply's third element (the
// ring or stats map), or an error message.
struct Answer {
  msgpack::object_handle handle;
  std::string error;
  const msgpack::object* body = nullptr;
};

Answer Ask(zmq::context_t& context, const std::string& endpoint, const char* op) {
  Answer a;
  zmq::socket_t s(context, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.connect(endpoint);
  msgpack::sbuffer body;
  msgpack::packer<msgpack::sbuffer> p(body);
  p.pack_array(2);
  p.pack(std::string(op));
  p.pack(uint64_t{1});
  s.send(zmq::message_t(), zmq::send_flags::sndmore);
  s.send(zmq::buffer(body.data(), body.size()), zmq::send_flags::none);
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, std::chrono::milliseconds(5000)) <= 0) {
    a.error = endpoint + ": no answer to " + op + " within 5 s";
    return a;
  }
  zmq::message_t frame;
  do {
    (void)s.recv(frame);
  } while (frame.more());
  try {
    a.handle = msgpack::unpack(static_cast<const char*>(frame.data()), frame.size());
  } catch (const std::exception& e) {
    a.error = endpoint + ": a " + op + " reply that is not msgpack: " + e.what();
    return a;
  }
  const msgpack::object& o = a.handle.get();
  if (o.type != msgpack::type::ARRAY || o.via.array.size < 3 ||
      o.via.array.ptr[0].type != msgpack::type::STR ||
      std::string_view(o.via.array.ptr[0].via.str.ptr, o.via.array.ptr[0].via.str.size) != "ok" ||
      o.via.array.ptr[2].type != msgpack::type::MAP) {
    a.error = endpoint + ": a " + op + " reply that is not [\"ok\", id, map]";
    return a;
  }
  a.body = &o.via.array.ptr[2];
  return a;
}

const msgpack::object* Field(const msgpack::object& map, std::string_view name) {
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const msgpack::object& k = map.via.map.ptr[i].key;
    if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == name) {
      return &map.via.map.ptr[i].val;
    }
  }
  return nullptr;
}

std::string Str(const msgpack::object* o) {
  return o && o->type == msgpack::type::STR ? std::string(o->via.str.ptr, o->via.str.size)
                                            : std::string();
}

uint64_t Uint(const msgpack::object* o) {
  return o && o->type == msgpack::type::POSITIVE_INTEGER ? o->via.u64 : 0;
}

// The ring a node replies with, built as the nodes build theirs.
struct MeshRing {
  std::shared_ptr<const meshcache::Ring> ring;
  std::vector<std::string> routes;  // service endpoints of the nodes on the ring
  std::string error;
};

MeshRing FetchRing(zmq::context_t& context, const std::string& endpoint) {
  MeshRing r;
  Answer a = Ask(context, endpoint, "ring");
  if (!a.error.empty()) {
    r.error = a.error;
    return r;
  }
  if (Str(Field(*a.body, "hash")) != "xxh32") {
    r.error = endpoint + ": a ring hashed with something other than xxh32";
    return r;
  }
  const msgpack::object* nodes = Field(*a.body, "nodes");
  if (nodes == nullptr || nodes->type != msgpack::type::ARRAY) {
    r.error = endpoint + ": a ring without nodes";
    return r;
  }
  std::vector<meshcache::MemberInfo> members;
  for (uint32_t i = 0; i < nodes->via.array.size; ++i) {
    const msgpack::object& n = nodes->via.array.ptr[i];
    if (n.type != msgpack::type::MAP) continue;
    meshcache::MemberInfo m;
    m.id = Str(Field(n, "id"));
    m.service = Str(Field(n, "service"));
    m.gossip = Str(Field(n, "gossip"));
    const std::optional<meshcache::NodeState> state =
        meshcache::ParseNodeState(Str(Field(n, "state")));
    if (m.id.empty() || m.service.empty() || !state) {
      r.error = endpoint + ": a ring node without id, service or a known state";
      return r;
    }
    m.state = *state;
    if (meshcache::OnRing(m.state)) r.routes.push_back(m.service);
    members.push_back(std::move(m));
  }
  meshcache::RingParams params;
  params.vnodes = static_cast<uint32_t>(Uint(Field(*a.body, "vnodes")));
  params.replicas = static_cast<uint32_t>(std::max<uint64_t>(1, Uint(Field(*a.body, "replicas"))));
  params.epoch = Uint(Field(*a.body, "epoch"));
  if (params.vnodes == 0 || r.routes.empty()) {
    r.error = endpoint + ": a ring without vnodes or without nodes on it";
    return r;
  }
  r.ring = meshcache::Ring::Build(std::move(members), params);
  return r;
}

// The ring of --endpoint, checked against every node's: routing by a ring
// the nodes do not share would measure forwarding, not a smart client.
MeshRing AgreedRing(zmq::context_t& context, const std::string& endpoint) {
  MeshRing seed = FetchRing(context, endpoint);
  if (!seed.error.empty()) return seed;
  auto on_ring = [](const meshcache::Ring& ring) {
    std::vector<std::string> ids;
    for (const auto& m : ring.members()) {
      if (meshcache::OnRing(m.state)) ids.push_back(m.id);
    }
    return ids;  // members() is sorted by id
  };
  const std::vector<std::string> ids = on_ring(*seed.ring);
  for (const std::string& route : seed.routes) {
    MeshRing other = FetchRing(context, route);
    if (!other.error.empty()) return other;
    if (on_ring(*other.ring) != ids || other.ring->vnodes() != seed.ring->vnodes()) {
      seed.error = route + " and " + endpoint + " disagree on the ring";
      return seed;
    }
  }
  return seed;
}

// Requests received and forwarded, summed over the nodes.
struct Traffic {
  uint64_t requests = 0, forwards = 0;
};

std::optional<Traffic> MeshTraffic(zmq::context_t& context, const std::vector<std::string>& nodes) {
  Traffic t;
  for (const std::string& node : nodes) {
    Answer a = Ask(context, node, "stats");
    if (!a.error.empty()) {
      std::fprintf(stderr, "meshbench: %s\n", a.error.c_str());
      return std::nullopt;
    }
    t.requests += Uint(Field(*a.body, "gets")) + Uint(Field(*a.body, "sets"));
    t.forwards += Uint(Field(*a.body, "forwards"));
  }
  return t;
}

using meshbench::Number;
using meshbench::PerOp;
using meshbench::PerOpFigures;

struct Measured {
  Tally total;
  double duration_s = 0;  // the window, or a finite workload's sequence
  double client_cpu_us = 0;
  std::optional<double> server_cpu_us;
  std::optional<Traffic> traffic;  // --route smart: over the run, fill included
};

std::optional<double> Share(uint64_t part, uint64_t whole) {
  if (whole == 0) return std::nullopt;
  return static_cast<double>(part) / static_cast<double>(whole);
}

void PrintJson(const Config& c, const std::string& target, const std::string& op,
               const std::string& route, const Measured& m) {
  const Tally& t = m.total;
  const double ops = static_cast<double>(t.ops);
  const double seconds = m.duration_s > 0 ? m.duration_s : c.duration_s;
  const PerOp f = PerOpFigures(t.latency, t.ops, m.client_cpu_us, m.server_cpu_us);
  const uint32_t batch = c.op == Workload::kMget ? c.batch : 1;
  std::printf(
      "{\"target\":\"%s\",\"op\":\"%s\",\"conns\":%d,\"depth\":%d,\"batch\":%u,"
      "\"value_size\":%zu,\"duration_s\":%s,\"ops\":%llu,\"ops_per_s\":%s,\"keys_per_s\":%s,"
      "\"p50_us\":%s,\"p99_us\":%s,\"p999_us\":%s,\"errors\":%llu,\"misses\":%llu,"
      "\"client_cpu_us_per_op\":%s,\"server_cpu_us_per_op\":%s",
      target.c_str(), op.c_str(), c.conns, c.depth, batch, c.value_size,
      Number(seconds, "%g").c_str(), static_cast<unsigned long long>(t.ops),
      Number(ops / seconds, "%.1f").c_str(),
      Number(static_cast<double>(t.keys) / seconds, "%.1f").c_str(), Number(f.p50, "%.1f").c_str(),
      Number(f.p99, "%.1f").c_str(), Number(f.p999, "%.1f").c_str(),
      static_cast<unsigned long long>(t.errors), static_cast<unsigned long long>(t.misses),
      Number(f.client_cpu).c_str(), Number(f.server_cpu).c_str());
  std::printf(",\"route\":\"%s\",\"nodes\":%zu,\"keys\":%u", route.c_str(),
              std::max<size_t>(1, c.routes.size()), c.keys);
  if (m.traffic) {
    std::printf(",\"mesh_requests\":%llu,\"forwards\":%llu,\"forwarded_fraction\":%s",
                static_cast<unsigned long long>(m.traffic->requests),
                static_cast<unsigned long long>(m.traffic->forwards),
                Number(Share(m.traffic->forwards, m.traffic->requests), "%.4f").c_str());
  }
  if (c.op == Workload::kScan) {
    const ScanCounts& k = t.scan;
    std::printf(
        ",\"scan\":{\"hot_keys\":%u,\"scan_keys\":%u,\"scan_every\":%u,\"seed\":%llu,"
        "\"hot_gets\":%llu,\"hot_hits\":%llu,\"cold_gets\":%llu,\"cold_hits\":%llu,"
        "\"final_gets\":%llu,\"final_hits\":%llu,\"sets\":%llu,"
        "\"hot_hit_ratio\":%s,\"final_hot_hit_ratio\":%s,\"hit_ratio\":%s}",
        c.hot_keys, c.scan_keys, c.scan_every, static_cast<unsigned long long>(c.seed),
        static_cast<unsigned long long>(k.hot_gets), static_cast<unsigned long long>(k.hot_hits),
        static_cast<unsigned long long>(k.cold_gets), static_cast<unsigned long long>(k.cold_hits),
        static_cast<unsigned long long>(k.final_gets),
        static_cast<unsigned long long>(k.final_hits), static_cast<unsigned long long>(k.sets),
        Number(Share(k.hot_hits, k.hot_gets), "%.4f").c_str(),
        Number(Share(k.final_hits, k.final_gets), "%.4f").c_str(),
        Number(
            Share(k.hot_hits + k.cold_hits + k.final_hits, k.hot_gets + k.cold_gets + k.final_gets),
            "%.4f")
            .c_str());
  }
  std::printf("}\n");
  std::fflush(stdout);
}

// Summed over the pids; nullopt when one cannot be read.
std::optional<double> ServersCpuUs(const std::vector<int>& pids) {
  double sum = 0;
  for (int pid : pids) {
    const std::optional<double> v = ServerCpuUs(pid);
    if (!v) return std::nullopt;
    sum += *v;
  }
  return sum;
}

Measured Measure(Run& run, const std::vector<int>& server_pids) {
  const Config& c = run.config();
  std::optional<zmq::context_t> context;
  if (UsesZmq(c.target)) context.emplace(c.io_threads);
  std::vector<Tally> tallies(static_cast<size_t>(c.conns));
  std::vector<std::thread> threads;
  for (int i = 0; i < c.conns; ++i) {
    threads.emplace_back([&, i] {
      if (context) {
        RunZmqConnection(run, i, *context, &tallies[i]);
      } else {
        RunTcpConnection(run, i, &tallies[i]);
      }
    });
  }
  const Window window = run.Start();
  std::this_thread::sleep_until(window.start);
  const double cpu0 = ClientCpuUs();
  const std::optional<double> server0 = ServersCpuUs(server_pids);
  Measured m;
  if (c.Finite()) {
    for (auto& t : threads) t.join();  // the window ends with the sequence
    m.duration_s = std::chrono::duration<double>(Clock::now() - window.start).count();
  } else {
    std::this_thread::sleep_until(window.end);
    m.duration_s = c.duration_s;
  }
  m.client_cpu_us = ClientCpuUs() - cpu0;
  if (!server_pids.empty()) {
    const std::optional<double> server1 = ServersCpuUs(server_pids);
    if (server0 && server1) {
      m.server_cpu_us = *server1 - *server0;
    } else {
      std::fprintf(stderr, "meshbench: cannot read /proc/PID/stat of a --server-pid\n");
    }
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
  for (const Tally& t : tallies) {
    m.total.latency.Merge(t.latency);
    m.total.ops += t.ops;
    m.total.keys += t.keys;
    m.total.misses += t.misses;
    m.total.errors += t.errors;
    m.total.scan.Add(t.scan);
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  std::string target = "meshcache", op = "get", route = "direct";
  std::vector<int> server_pids;
  CLI::App app{"meshbench: load generator for meshcache, zmq_echo, redis and memcached"};
  app.option_defaults()->always_capture_default();
  app.add_option("--target", target, "meshcache, echo, redis, memcached-text, memcached-meta")
      ->check(CLI::IsMember(kTargets));
  app.add_option("--endpoint", c.endpoint, "tcp://HOST:PORT (meshcache, echo) or HOST:PORT")
      ->required();
  app.add_option("--conns", c.conns, "connections, one thread each")->check(CLI::Range(1, 4096));
  app.add_option("--depth", c.depth, "requests in flight per connection")
      ->check(CLI::Range(1, 65535));
  app.add_option("--keys", c.keys, "key space, keys drawn uniformly")
      ->check(CLI::Range(1u, 100'000'000u));
  app.add_option("--value-size", c.value_size, "bytes per value")
      ->check(CLI::Range(size_t{0}, size_t{1} << 28));
  app.add_option("--op", op,
                 "get, mget, set, mix (gets and sets); finite: fill (set every key once), scan "
                 "(cache-aside hot set and scan)")
      ->check(CLI::IsMember(kWorkloads));
  app.add_option("--route", route,
                 "direct: every request to --endpoint; smart (meshcache): each key to its owner "
                 "on the mesh's ring, one DEALER per node")
      ->check(CLI::IsMember({"direct", "smart"}));
  app.add_option("--hot-keys", c.hot_keys, "scan: keys in the hot set")
      ->check(CLI::Range(1u, 10'000'000u));
  app.add_option("--scan-keys", c.scan_keys, "scan: cold keys read once each")
      ->check(CLI::Range(0u, 90'000'000u));
  app.add_option("--scan-every", c.scan_every, "scan: scan gets per hot get during the scan")
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--scan-warm", c.scan_warm_s,
                 "scan: seconds the hot set is warmed at least (past the LRU's old-blocks time)")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--seed", c.seed, "seed of the keys drawn")->check(CLI::PositiveNumber);
  app.add_option("--batch", c.batch, "keys per mget")->check(CLI::Range(1u, 4096u));
  app.add_option("--set-ratio", c.set_ratio, "mix: the share of sets")->check(CLI::Range(0.0, 1.0));
  app.add_option("--duration", c.duration_s, "seconds measured")->check(CLI::Range(0.001, 86400.0));
  app.add_option("--warmup", c.warmup_s, "seconds run before measuring")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_flag("--fill", c.fill, "set every key once before the warmup");
  app.add_option("--server-pid", server_pids,
                 "process whose CPU time to report (repeatable: the sum is reported)")
      ->check(CLI::PositiveNumber);
  app.add_option("--io-threads", c.io_threads, "libzmq I/O threads (meshcache, echo)")
      ->check(CLI::Range(1, 64));
  app.add_option("--timeout", c.timeout_s, "seconds before an unanswered request is an error")
      ->check(CLI::Range(0.001, 3600.0));
  app.add_option("--fill-depth", c.fill_depth, "requests in flight per connection in --fill")
      ->check(CLI::Range(1, 65535));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  c.target = kTargets.at(target);
  c.op = kWorkloads.at(op);
  const bool smart = route == "smart";
  if (smart && (c.target != Target::kMeshcache || c.op == Workload::kMget)) {
    std::fprintf(stderr, "meshbench: --route smart takes --target meshcache and no mget\n");
    return 2;
  }
  if (c.op == Workload::kScan && c.conns != 1) {
    std::fprintf(stderr, "meshbench: --op scan runs one connection (--conns 1)\n");
    return 2;
  }
  if (c.op == Workload::kScan && uint64_t{c.hot_keys} + c.scan_keys > 100'000'000u) {
    std::fprintf(stderr, "meshbench: --hot-keys plus --scan-keys above 10^8\n");
    return 2;
  }
  if (c.Finite()) c.fill = false;  // fill is the run itself, or not part of it

  std::optional<zmq::context_t> control;
  Measured m;
  if (smart) {
    control.emplace(1);
    MeshRing ring = AgreedRing(*control, c.endpoint);
    if (!ring.error.empty()) {
      std::fprintf(stderr, "meshbench: %s\n", ring.error.c_str());
      return 1;
    }
    c.ring = ring.ring;
    c.routes = ring.routes;
  }
  const std::optional<Traffic> before = smart ? MeshTraffic(*control, c.routes) : std::nullopt;
  {
    Run run(c);
    m = Measure(run, server_pids);
  }
  uint64_t errors = m.total.errors;
  if (smart) {
    const std::optional<Traffic> after = MeshTraffic(*control, c.routes);
    if (before && after) {
      m.traffic = Traffic{after->requests - before->requests, after->forwards - before->forwards};
      if (m.traffic->forwards * 100 > m.traffic->requests) {
        std::fprintf(stderr,
                     "meshbench: the nodes forwarded %llu of %llu requests: the client's ring is "
                     "not the mesh's\n",
                     static_cast<unsigned long long>(m.traffic->forwards),
                     static_cast<unsigned long long>(m.traffic->requests));
        ++errors;
      }
    } else {
      ++errors;  // MeshTraffic said why
    }
  }
  m.total.errors = errors;
  PrintJson(c, target, op, route, m);
  if (m.total.ops == 0) std::fprintf(stderr, "meshbench: no replies in the measured window\n");
  return m.total.errors > 0 || m.total.ops == 0 ? 1 : 0;
}
