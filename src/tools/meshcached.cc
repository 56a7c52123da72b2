// meshcached: a standalone meshcache node.
//
//   meshcached --port 7400
//   meshcached --port 7402 --join tcp://127.0.0.1:7400 --memory 256MiB
//   meshcached keygen --out mesh.key
//
// Flags (or the same names in a TOML file given with --config) fill
// NodeOptions; SIGTERM or SIGINT stop the node gracefully (it announces
// `left`, lets in-flight requests finish, exits 0).
#include <fcntl.h>
#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <regex>

#include "meshcache/curve.hpp"
#include "meshcache/node.hpp"
#include "tools/http_endpoint.h"
#include "tools/toml_config.h"
#include "util/version.h"

namespace {

using meshcache::LogLevel;
using meshcache::NodeOptions;

// "64MiB", "512KiB", "1GiB", "1G", "4096B": sizes in binary units. A bare
// number is MiB, as memcached's -m takes it ("--memory 64" is 64 MiB, not
// 64 bytes).
std::optional<size_t> ParseSize(const std::string& text) {
  static const std::regex re(R"(^\s*(\d+)\s*([KkMmGg]?)(i?[Bb])?\s*$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return std::nullopt;
  size_t n = std::stoull(m[1]);
  if (m[2].str().empty() && m[3].str().empty()) return n << 20;
  switch (m[2].str().empty() ? ' ' : std::tolower(m[2].str()[0])) {
    case 'k':
      return n << 10;
    case 'm':
      return n << 20;
    case 'g':
      return n << 30;
    default:
      return n;
  }
}

CLI::Validator SizeValidator() {
  return CLI::Validator(
      [](std::string& s) { return ParseSize(s) ? std::string() : "not a size like 64MiB: " + s; },
      "SIZE");
}

// A node's service endpoint: tcp://HOST:PORT.
CLI::Validator EndpointValidator() {
  return CLI::Validator(
      [](std::string& s) {
        static const std::regex re(R"(^tcp://[^/:]+:\d{1,5}$)");
        return std::regex_match(s, re) ? std::string()
                                       : "not an endpoint like tcp://HOST:PORT: " + s;
      },
      "ENDPOINT");
}

struct Flags {
  NodeOptions o;
  int http_port = 0;
  std::string memory = "64MiB";
  std::string hot_memory = "4MiB";
  std::string log_level = "info";
  std::string curve_secret_file, curve_allow_file, curve_peers_file;
  CLI::App* keygen = nullptr;
  std::string keygen_out;
};

void DefineTimers(CLI::App& app, NodeOptions& o);
void DefineSecurity(CLI::App& app, Flags& f);

void Define(CLI::App& app, Flags& f) {
  NodeOptions& o = f.o;
  app.add_option("--bind", o.bind, "address to bind (default 127.0.0.1)");
  app.add_option("--port", o.port, "service port (default 7400)")->check(CLI::Range(1, 65535));
  app.add_option("--gossip-port", o.gossip_port, "gossip port (default port+1)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--advertise", o.advertise, "host peers and clients reach this node at");
  app.add_option("--http-port", f.http_port,
                 "serve a status page, /metrics (Prometheus), /healthz and /readyz over HTTP "
                 "on the bind address and this port (default 0: off)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--memcache-port", o.memcache_port,
                 "serve memcached's text and meta protocols on this TCP port (default 0: off)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--memcache-bind", o.memcache_bind,
                 "address the memcache port binds (default: --bind)");
  app.add_option("--memcache-max-conns", o.memcache_max_conns,
                 "most open memcache connections; more are closed at once (default 1024)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--join", o.join, "service endpoint of a running node (repeatable)")
      ->check(EndpointValidator());
  app.add_option("--memory", f.memory, "store budget; a bare number is MiB (default 64MiB)")
      ->check(SizeValidator());
  app.add_option("--hot-memory", f.hot_memory, "budget for hot copies, 0 disables (default 4MiB)")
      ->check(SizeValidator());
  app.add_option("--old-blocks-pct", o.lru_old_percent,
                 "share of the store in the LRU's old sublist, where new entries enter; 100 with "
                 "--old-blocks-time-ms 0 is a plain LRU (default 37)")
      ->check(CLI::Range(5, 100));
  app.add_option("--old-blocks-time-ms", o.lru_old_time_ms,
                 "age before a hit moves an old entry to the young head (default 1000)")
      ->check(CLI::Range(0, 3600000));
  app.add_option("--vnodes", o.vnodes, "ring positions per node (default 160)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--replicas", o.replicas, "holders per key (default 1)")->check(CLI::Range(1, 16));
  app.add_option("--loader", o.loader_endpoint, "origin service tcp://HOST:PORT for misses")
      ->check(EndpointValidator());
  app.add_option("--default-ttl-ms", o.default_ttl_ms, "expiry of sets without a TTL (0 = never)");
  app.add_option("--max-key-bytes", o.max_key_bytes, "largest key (default 1024)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-value-bytes", o.max_value_bytes, "largest value (default 1MiB)")
      ->check(CLI::Range(1, 256 << 20));
  DefineTimers(app, o);
  DefineSecurity(app, f);
  app.add_option("--log-level", f.log_level, "debug, info, warn or error (default info)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.set_config("--config", "", "TOML file with the same names as the flags");
  app.config_formatter(
      std::make_shared<meshcache::tools::TomlConfig>([&app](const std::string& name) {
        const CLI::Option* flag = app.get_option_no_throw("--" + name);
        return flag != nullptr && name != "config" && name != "help" && name != "version";
      }));
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_version_flag("--version", std::string("meshcached ") + meshcache::kVersion);
}

void DefineSecurity(CLI::App& app, Flags& f) {
  app.add_option("--curve-secret-key", f.curve_secret_file,
                 "file holding the mesh's CURVE secret key (Z85, one line; meshcached keygen): "
                 "service and gossip become CURVE servers")
      ->check(CLI::ExistingFile);
  app.add_option("--curve-allow", f.curve_allow_file,
                 "file of client public keys (one a line, # comments): client role")
      ->check(CLI::ExistingFile);
  app.add_option("--curve-peers", f.curve_peers_file,
                 "file of public keys that may act as peers, besides the mesh's own")
      ->check(CLI::ExistingFile);
  app.add_flag("--allow-plaintext", f.o.allow_plaintext,
               "allow binding a non-loopback address without CURVE (anyone who reaches the "
               "ports can then act as a peer)");
  f.keygen = app.add_subcommand("keygen", "print a new CURVE key pair and exit");
  f.keygen->add_option("--out", f.keygen_out,
                       "also write the secret key to this file (mode 0600), ready for "
                       "--curve-secret-key");
}

// Reads the key files named by flags into the options; an error names the
// file and line.
std::string ReadKeys(Flags& f) {
  auto read = [](const std::string& path, std::vector<std::string>* out) -> std::string {
    if (path.empty()) return {};
    auto keys = meshcache::ReadCurveKeyFile(path);
    if (!keys.ok()) return keys.status().message();
    *out = std::move(*keys);
    return {};
  };
  for (auto [path, out] : {std::pair{&f.curve_allow_file, &f.o.curve_clients},
                           std::pair{&f.curve_peers_file, &f.o.curve_peers}}) {
    if (std::string why = read(*path, out); !why.empty()) return why;
  }
  if (!f.curve_secret_file.empty()) {
    auto pair = meshcache::ReadCurveSecretFile(f.curve_secret_file);
    if (!pair.ok()) return pair.status().message();
    f.o.curve_secret_key = pair->secret_key;
  }
  if (f.o.curve_secret_key.empty() && (!f.o.curve_clients.empty() || !f.o.curve_peers.empty())) {
    return "--curve-allow and --curve-peers need --curve-secret-key";
  }
  return {};
}

int Keygen(const std::string& out) {
  const meshcache::CurveKeyPair keys = meshcache::NewCurveKeyPair();
  if (!out.empty()) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    const std::string text =
        "# meshcached secret key; public: " + keys.public_key + "\n" + keys.secret_key + "\n";
    if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      std::fprintf(stderr, "meshcached keygen: cannot write %s: %s\n", out.c_str(),
                   std::strerror(errno));
      if (fd >= 0) ::close(fd);
      return 1;
    }
    ::close(fd);
  }
  std::printf("public: %s\nsecret: %s\n", keys.public_key.c_str(), keys.secret_key.c_str());
  return 0;
}

void DefineTimers(CLI::App& app, NodeOptions& o) {
  app.add_option("--heartbeat-ms", o.heartbeat_ms, "gossip interval (default 500)")
      ->check(CLI::Range(1, 60000));
  app.add_option("--suspect-ms", o.suspect_ms, "silence before suspicion (default 3 heartbeats)")
      ->check(CLI::Range(0, 600000));
  app.add_option("--dead-ms", o.dead_ms, "silence before a peer is dead (default 3000)")
      ->check(CLI::Range(2, 600000));
  app.add_option("--forward-timeout-ms", o.forward_timeout_ms, "forward deadline (default 500)")
      ->check(CLI::Range(1, 600000));
  app.add_option("--load-timeout-ms", o.load_timeout_ms, "load deadline (default 5000)")
      ->check(CLI::Range(1, 600000));
  app.add_option("--load-workers", o.load_workers, "loader threads (default 4)")
      ->check(CLI::Range(1, 256));
  app.add_option("--drain-ms", o.drain_ms,
                 "time a stopping node keeps serving requests in flight (default 1000)")
      ->check(CLI::Range(0, 600000));
  app.add_option("--handoff-ms", o.handoff_ms,
                 "time a stopping node may take to hand its entries on; 0 turns hand-off off "
                 "(default 5000)")
      ->check(CLI::Range(0, 600000));
}

// What no single flag's check can see; empty when all is well. Node::Start
// refuses the same, without the flags' names.
std::string CheckTogether(const NodeOptions& o) {
  if (o.suspect_ms > 0 && o.suspect_ms >= o.dead_ms) {
    return "--suspect-ms " + std::to_string(o.suspect_ms) + " must be below --dead-ms (" +
           std::to_string(o.dead_ms) + ")";
  }
  if (o.gossip_port == 0 && o.port == 65535) {
    return "--port 65535 leaves no gossip port (port + 1): give --gossip-port";
  }
  return {};
}

void SetUpLogging(Flags& f) {
  auto logger = spdlog::stderr_color_mt("meshcached");
  logger->set_level(spdlog::level::from_str(f.log_level));
  // Which node wrote a line, and the time with its zone, so that the logs
  // of several nodes (or machines) can be merged and read.
  const std::string& host = f.o.advertise.empty() ? f.o.bind : f.o.advertise;
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [" + host + ":" + std::to_string(f.o.port) +
                      "] %^%l%$ %v");
  f.o.log = [logger](LogLevel level, const std::string& msg) {
    static constexpr spdlog::level::level_enum kMap[] = {spdlog::level::debug, spdlog::level::info,
                                                         spdlog::level::warn, spdlog::level::err};
    logger->log(kMap[static_cast<int>(level)], msg);
  };
}

// Waits for SIGTERM or SIGINT (blocked in every thread, taken here), or for
// the node to stop on its own.
// The host the HTTP port binds: the node's own bind address, resolved (an
// interface or host name) as the node's id holds it; with --advertise the id
// holds that host instead, so --bind is taken as given.
std::string HttpHost(const NodeOptions& o, const std::string& id) {
  if (!o.advertise.empty()) return o.bind;
  const size_t start = id.find("://") + 3;
  return id.substr(start, id.rfind(':') - start);
}

int WaitForSignal(const sigset_t& set, meshcache::Node& node) {
  timespec tick{0, 200 * 1000 * 1000};
  while (node.running()) {
    int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) return sig;
  }
  return 0;
}

int Main(int argc, char** argv) {
#ifdef M_MMAP_THRESHOLD
  // glibc's malloc serves blocks of 128 KiB and more with mmap, but raises
  // that threshold (up to 32 MiB) to the size of every such block freed: after
  // one large request or reply, blocks of that size come from the arenas (the
  // engine's, libzmq's I/O thread's, the loaders'), which keep most of what is
  // freed in them resident. Setting the threshold turns the raising off. In
  // test_flood (issue 11: a 10 s flood leaves a node less than 64 MiB above
  // where it started), a node's median growth went from 17.6 to 8.1 MiB, and
  // from 10.2 to 7.7 MiB with the machine loaded (10 runs each, the flood's
  // duplicate routing ids left out: see test_flood). Capping the arenas
  // (M_ARENA_MAX 1, 2 or 4) or a lower threshold (32 or 64 KiB) made no
  // further difference there. A malloc setting in the environment is the
  // user's: then glibc's choice stands.
  {
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    bool user_set = tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr;
    for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                             "MALLOC_MMAP_MAX_", "MALLOC_ARENA_MAX", "MALLOC_ARENA_TEST"}) {
      user_set = user_set || std::getenv(name) != nullptr;
    }
    if (!user_set) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  }
#endif
  CLI::App app("meshcached: a peer-to-peer cache node", "meshcached");
  Flags f;
  Define(app, f);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForVersion&) {
    std::cout << "meshcached " << meshcache::kVersion << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "meshcached: %s\n", e.what());
    return 2;
  }
  if (f.keygen->parsed()) return Keygen(f.keygen_out);
  for (const std::string& why : {CheckTogether(f.o), ReadKeys(f)}) {
    if (why.empty()) continue;
    std::fprintf(stderr, "meshcached: %s\n", why.c_str());
    return 2;
  }
  f.o.memory_bytes = *ParseSize(f.memory);
  f.o.hot_bytes = *ParseSize(f.hot_memory);
  SetUpLogging(f);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts

  auto node = meshcache::Node::Start(f.o);
  if (!node.ok()) {
    std::fprintf(stderr, "meshcached: %s\n", node.status().ToString().c_str());
    return 2;
  }
  std::unique_ptr<meshcache::tools::HttpEndpoint> http;
  if (f.http_port != 0) {
    auto started = meshcache::tools::HttpEndpoint::Start(
        **node, HttpHost(f.o, (*node)->id()), f.http_port, !f.o.join.empty(), f.o.vnodes);
    if (!started.ok()) {
      std::fprintf(stderr, "meshcached: %s\n", started.status().ToString().c_str());
      (*node)->Stop();
      return 2;
    }
    http = std::move(*started);
  }
  int sig = WaitForSignal(set, **node);
  if (sig != 0) spdlog::get("meshcached")->info("signal {}: stopping", sig);
  http.reset();  // no more HTTP requests into a stopping node
  (*node)->Stop();
  return sig != 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // What nothing nearer catches (CLI11 set-up, memory, a library) ends the
  // daemon with its message and the start-up failure code, not with
  // std::terminate.
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "meshcached: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "meshcached: unknown error\n");
  }
  return 2;
}
