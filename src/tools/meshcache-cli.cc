// meshcache-cli: talk to a meshcache mesh from a shell or a script.
//
//   meshcache-cli [--node tcp://HOST:PORT]... [--json] get KEY
//   meshcache-cli set KEY VALUE [--ttl-ms N] | del KEY | mget KEY... | ping | ring
//   meshcache-cli stats [--mesh]        # --mesh: every node side by side, with totals
//   meshcache-cli                       # an interactive prompt
//
// Exit status: 0 found or done, 1 a miss (get, a del of a missing key, an
// mget with any miss), 2 a usage error or a failed request (one line on
// stderr; with --json also {"error": {...}} on stdout). With no command it
// reads commands line by line: with history (~/.meshcache_history) and tab
// completion (libedit) on a terminal, where Ctrl-C clears the line; plainly
// from a pipe. A line's error is reported and the session goes on; at end of
// input or `quit` it exits 2 if any line failed (a usage error or a failed
// request), else 0 (misses are answers, not failures).
#include <editline/readline.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "meshcache/client.hpp"
#include "meshcache/curve.hpp"
#include "util/base64.h"
#include "util/version.h"

namespace {

using json = nlohmann::json;
using meshcache::Client;
using meshcache::Status;

constexpr int kFound = 0;
constexpr int kMiss = 1;
constexpr int kError = 2;

constexpr const char* kCommands[] = {"get",   "set",  "del",  "mget", "ping",
                                     "stats", "ring", "help", "quit", "exit"};

// One parsed command.
struct Command {
  std::string name;               // empty: none given
  std::string key;                // get, set, del
  std::vector<std::string> keys;  // mget
  std::string value;
  int64_t ttl_ms = -1;  // -1: the node's default
  std::string node;     // ping, stats, ring: empty means the first --node
  bool mesh = false;    // stats: every node of the ring
};

struct Session {
  Client* client;
  bool json;
  std::string default_node;
};

void AddCommands(CLI::App& app, Command& c) {
  auto named = [&app, &c](const char* name, const char* help) {
    CLI::App* sub = app.add_subcommand(name, help);
    sub->callback([&c, name] { c.name = name; });
    return sub;
  };
  named("get", "print the value of KEY (exit 1 on a miss)")
      ->add_option("key", c.key, "the key")
      ->required();
  CLI::App* set = named("set", "store VALUE under KEY");
  set->add_option("key", c.key, "the key")->required();
  set->add_option("value", c.value, "the value")->required();
  set->add_option("--ttl-ms", c.ttl_ms, "expiry in ms, 0 = never (default: the node's)")
      ->check(CLI::NonNegativeNumber);
  named("del", "delete KEY (exit 1 if it did not exist)")
      ->add_option("key", c.key, "the key")
      ->required();
  named("mget", "print the values of KEYs (exit 1 if any is missing)")
      ->add_option("keys", c.keys, "the keys")
      ->required();
  for (const auto& [name, help] : {std::pair{"ping", "ask a node for its id and version"},
                                   std::pair{"stats", "print a node's counters"},
                                   std::pair{"ring", "print the ring as a node sees it"}}) {
    CLI::App* sub = named(name, help);
    sub->add_option("node", c.node, "the node (default: the first --node)");
    if (std::string_view(name) == "stats") {
      sub->add_flag("--mesh", c.mesh,
                    "every node on the ring (as the node asked sees it) side by side, with "
                    "totals and the hit ratio");
    }
  }
}

// ---- output -----------------------------------------------------------------

bool IsUtf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

// j[name] = bytes when they are UTF-8 text, else j[name + "_base64"].
void PutBytes(json& j, const std::string& name, const std::string& bytes) {
  if (IsUtf8(bytes)) {
    j[name] = bytes;
  } else {
    std::string encoded;
    meshcache::AppendBase64(&encoded, bytes);
    j[name + "_base64"] = encoded;
  }
}

// {"key": k, "found": bool, "value": v}
json KeyJson(const std::string& key, const std::optional<std::string>& value) {
  json j = json::object();
  PutBytes(j, "key", key);
  j["found"] = value.has_value();
  if (value) PutBytes(j, "value", *value);
  return j;
}

void Print(const json& j) { std::cout << j.dump() << std::endl; }

int Fail(const Session& s, const Status& status) {
  std::cerr << "meshcache-cli: " << status.ToString() << std::endl;
  if (s.json) {
    Print({{"error", {{"code", CodeName(status.code())}, {"message", status.message()}}}});
  }
  return kError;
}

// ---- commands ---------------------------------------------------------------

int Get(const Session& s, const Command& c) {
  auto r = s.client->Get(c.key);
  if (!r.ok()) return Fail(s, r.status());
  if (s.json) {
    Print(KeyJson(c.key, *r));
  } else {
    std::cout << (*r ? **r : "(miss)") << std::endl;
  }
  return *r ? kFound : kMiss;
}

int Set(const Session& s, const Command& c) {
  std::optional<uint64_t> ttl;
  if (c.ttl_ms >= 0) ttl = static_cast<uint64_t>(c.ttl_ms);
  if (Status st = s.client->Set(c.key, c.value, ttl); !st.ok()) return Fail(s, st);
  if (s.json) {
    Print({{"ok", true}});
  } else {
    std::cout << "OK" << std::endl;
  }
  return kFound;
}

int Del(const Session& s, const Command& c) {
  auto r = s.client->Del(c.key);
  if (!r.ok()) return Fail(s, r.status());
  if (s.json) {
    Print({{"existed", *r}});
  } else {
    std::cout << (*r ? "(deleted)" : "(not found)") << std::endl;
  }
  return *r ? kFound : kMiss;
}

int MGet(const Session& s, const Command& c) {
  auto r = s.client->MGet(c.keys);
  if (!r.ok()) return Fail(s, r.status());
  bool all = true;
  json out = json::array();
  for (size_t i = 0; i < c.keys.size(); ++i) {
    const std::optional<std::string>& v = (*r)[i];
    all = all && v.has_value();
    if (s.json) {
      out.push_back(KeyJson(c.keys[i], v));
    } else {
      std::cout << c.keys[i] << ": " << (v ? *v : "(miss)") << "\n";
    }
  }
  if (s.json) Print(out);
  std::cout.flush();
  return all ? kFound : kMiss;
}

const std::string& Target(const Session& s, const Command& c) {
  return c.node.empty() ? s.default_node : c.node;
}

int Ping(const Session& s, const Command& c) {
  auto start = std::chrono::steady_clock::now();
  auto r = s.client->Ping(Target(s, c));
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!r.ok()) return Fail(s, r.status());
  if (s.json) {
    Print({{"node", r->node}, {"version", r->version}, {"proto", r->proto}, {"rtt_ms", ms}});
  } else {
    std::printf("PONG from %s (meshcache %s, protocol %lld) in %.2f ms\n", r->node.c_str(),
                r->version.c_str(), static_cast<long long>(r->proto), ms);
    std::fflush(stdout);
  }
  return kFound;
}

std::string StatText(const Client::StatValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>)
          return v;
        else
          return std::to_string(v);
      },
      value);
}

// Counters that do not add up across nodes.
bool Additive(const std::string& name) {
  return name != "ring_epoch" && name != "uptime_s" && name != "peers_alive";
}

// hits / (hits + misses) in percent, or nullopt with no lookups.
std::optional<double> HitRatio(const std::map<std::string, int64_t>& counters) {
  const auto at = [&counters](const char* name) {
    auto it = counters.find(name);
    return it == counters.end() ? int64_t{0} : it->second;
  };
  const int64_t lookups = at("hits") + at("misses");
  if (lookups <= 0) return std::nullopt;
  return 100.0 * static_cast<double>(at("hits")) / static_cast<double>(lookups);
}

// One node's stats as the mesh view holds them.
struct NodeStats {
  std::string id;
  std::optional<Status> error;
  std::vector<std::pair<std::string, Client::StatValue>> stats;
  std::map<std::string, int64_t> counters;
};

void PrintMeshTable(const std::vector<NodeStats>& nodes, const std::vector<std::string>& names,
                    const std::map<std::string, int64_t>& total) {
  std::vector<std::vector<std::string>> rows = {{"stat"}};
  for (const NodeStats& n : nodes) rows[0].push_back(n.id.substr(n.id.find("://") + 3));
  rows[0].emplace_back("total");
  const auto ratio = [](std::optional<double> r) {
    char text[32];
    if (!r) return std::string("-");
    std::snprintf(text, sizeof text, "%.1f%%", *r);
    return std::string(text);
  };
  for (const std::string& name : names) {
    std::vector<std::string> row = {name};
    for (const NodeStats& n : nodes) {
      std::string cell = n.error ? "-" : "";
      for (const auto& [stat, value] : n.stats) {
        if (stat == name) cell = StatText(value);
      }
      row.push_back(cell);
    }
    auto t = total.find(name);
    row.push_back(t == total.end() ? "-" : std::to_string(t->second));
    rows.push_back(std::move(row));
  }
  std::vector<std::string> hit = {"hit_ratio"};
  for (const NodeStats& n : nodes) hit.push_back(ratio(HitRatio(n.counters)));
  hit.push_back(ratio(HitRatio(total)));
  rows.push_back(std::move(hit));
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string pad(width[i] - row[i].size(), ' ');
      line += i == 0 ? row[i] + pad : "  " + pad + row[i];  // numbers to the right
    }
    std::printf("%s\n", line.c_str());
  }
  for (const NodeStats& n : nodes) {
    if (n.error) std::printf("%s: %s\n", n.id.c_str(), n.error->ToString().c_str());
  }
}

// stats --mesh: every alive or suspect node of the ring the node asked
// returns, side by side; exit 2 if any could not be asked.
int MeshStats(const Session& s, const Command& c) {
  auto ring = s.client->RingInfo(Target(s, c));
  if (!ring.ok()) return Fail(s, ring.status());
  std::vector<NodeStats> nodes;
  std::vector<std::string> names;
  std::map<std::string, int64_t> total;
  for (const meshcache::RingMember& m : ring->members) {
    if (m.state != "alive" && m.state != "suspect") continue;
    NodeStats n{m.id, std::nullopt, {}, {}};
    auto r = s.client->Stats(m.service);
    if (!r.ok()) {
      n.error = r.status();
      nodes.push_back(std::move(n));
      continue;
    }
    n.stats = std::move(*r);
    for (const auto& [name, value] : n.stats) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      if (const int64_t* v = std::get_if<int64_t>(&value)) {
        n.counters[name] = *v;
        if (Additive(name)) total[name] += *v;
      }
    }
    nodes.push_back(std::move(n));
  }
  const bool failed = std::any_of(nodes.begin(), nodes.end(),
                                  [](const NodeStats& n) { return n.error.has_value(); });
  if (!s.json) {
    PrintMeshTable(nodes, names, total);
    std::fflush(stdout);
    return failed ? kError : kFound;
  }
  json out = {{"nodes", json::array()}, {"total", total}, {"hit_ratio", json::object()}};
  for (const NodeStats& n : nodes) {
    json node = {{"id", n.id}};
    if (n.error) {
      node["error"] = {{"code", CodeName(n.error->code())}, {"message", n.error->message()}};
    } else {
      node["stats"] = json::object();
      for (const auto& [name, value] : n.stats) {
        std::visit([&node, &name = name](const auto& v) { node["stats"][name] = v; }, value);
      }
    }
    out["nodes"].push_back(std::move(node));
    const std::optional<double> r = HitRatio(n.counters);
    out["hit_ratio"][n.id] = r ? json(*r) : json(nullptr);
  }
  const std::optional<double> r = HitRatio(total);
  out["hit_ratio"]["total"] = r ? json(*r) : json(nullptr);
  Print(out);
  return failed ? kError : kFound;
}

int Stats(const Session& s, const Command& c) {
  if (c.mesh) return MeshStats(s, c);
  auto r = s.client->Stats(Target(s, c));
  if (!r.ok()) return Fail(s, r.status());
  json out = json::object();
  size_t width = 0;
  for (const auto& [name, value] : *r) width = std::max(width, name.size());
  for (const auto& [name, value] : *r) {
    if (s.json) {
      std::visit([&out, &n = name](const auto& v) { out[n] = v; }, value);
    } else {
      std::printf("%-*s  %s\n", static_cast<int>(width), name.c_str(), StatText(value).c_str());
    }
  }
  if (s.json) Print(out);
  std::fflush(stdout);
  return kFound;
}

int Ring(const Session& s, const Command& c) {
  auto r = s.client->RingInfo(Target(s, c));
  if (!r.ok()) return Fail(s, r.status());
  json nodes = json::array();
  if (!s.json) {
    std::printf("epoch %llu  hash %s  vnodes %u  replicas %u\n",
                static_cast<unsigned long long>(r->epoch), r->hash.c_str(), r->vnodes, r->replicas);
  }
  for (const auto& m : r->members) {
    if (s.json) {
      nodes.push_back(
          {{"id", m.id}, {"service", m.service}, {"gossip", m.gossip}, {"state", m.state}});
    } else {
      std::printf("%-24s %-8s gossip %s\n", m.id.c_str(), m.state.c_str(), m.gossip.c_str());
    }
  }
  if (s.json) {
    Print({{"epoch", r->epoch},
           {"hash", r->hash},
           {"vnodes", r->vnodes},
           {"replicas", r->replicas},
           {"nodes", nodes}});
  }
  std::fflush(stdout);
  return kFound;
}

int Run(const Session& s, const Command& c) {
  static const std::pair<const char*, int (*)(const Session&, const Command&)> kTable[] = {
      {"get", Get},   {"set", Set},     {"del", Del},  {"mget", MGet},
      {"ping", Ping}, {"stats", Stats}, {"ring", Ring}};
  for (const auto& [name, fn] : kTable) {
    if (c.name == name) return fn(s, c);
  }
  return kError;
}

// ---- the interactive prompt -------------------------------------------------

char* CommandNames(const char* text, int state) {
  static size_t next;
  if (state == 0) next = 0;
  const size_t n = std::strlen(text);
  while (next < std::size(kCommands)) {
    const char* name = kCommands[next++];
    if (std::strncmp(name, text, n) == 0) return strdup(name);
  }
  return nullptr;
}

// Completes the first word with a command name; arguments are keys, which
// the prompt cannot know, so nothing is offered for them.
char** Complete(const char* text, int start, int /*end*/) {
  rl_attempted_completion_over = 1;
  if (start != 0) return nullptr;
  return rl_completion_matches(text, CommandNames);
}

// Ctrl-C at the prompt drops the line. The handler writes a byte to a pipe
// (the self-pipe trick) that PromptGetc, which reads every key for libedit,
// waits on beside the terminal: the byte ends the read as end of input,
// which ends readline, and ReadLine starts a fresh line. No signal can fall
// between a check and a wait. Elsewhere (waiting for an answer) Ctrl-C ends
// the program as it always did.
volatile sig_atomic_t g_at_prompt = 0;
int g_interrupt_pipe[2] = {-1, -1};

void OnInterrupt(int sig) {
  if (!g_at_prompt) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  const int saved = errno;
  const char byte = 1;
  (void)!write(g_interrupt_pipe[1], &byte, 1);
  errno = saved;
}

// Takes what the handler wrote; true if it had written anything.
bool TakeInterrupt() {
  char bytes[16];
  bool any = false;
  while (read(g_interrupt_pipe[0], bytes, sizeof bytes) > 0) any = true;
  return any;
}

int PromptGetc(FILE* in) {
  const int fd = fileno(in);
  for (;;) {
    pollfd wait[2] = {{fd, POLLIN, 0}, {g_interrupt_pipe[0], POLLIN, 0}};
    if (poll(wait, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return EOF;
    }
    if (wait[1].revents != 0) return EOF;  // Ctrl-C: TakeInterrupt tells ReadLine
    unsigned char ch = 0;
    const ssize_t n = read(fd, &ch, 1);
    if (n == 1) return ch;
    if (n < 0 && errno == EINTR) continue;
    return EOF;
  }
}

// False when the pipe cannot be made: Ctrl-C then ends the program.
bool CatchInterrupt() {
  if (pipe2(g_interrupt_pipe, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  rl_getc_function = PromptGetc;
  return true;
}

// The next line: through libedit on a terminal, plainly from a pipe.
std::optional<std::string> ReadLine(bool tty) {
  if (!tty) {
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    return line;
  }
  char* raw = nullptr;
  for (;;) {
    g_at_prompt = 1;
    raw = readline("meshcache> ");
    g_at_prompt = 0;
    const bool interrupted = g_interrupt_pipe[0] >= 0 && TakeInterrupt();
    if (raw != nullptr || !interrupted) break;
    std::fputs("^C\n", stdout);  // the line is dropped; a fresh prompt follows
    std::fflush(stdout);
  }
  if (!raw) return std::nullopt;
  std::string line(raw);
  std::free(raw);
  if (line.find_first_not_of(" \t") != std::string::npos) add_history(line.c_str());
  return line;
}

std::string HistoryPath() {
  const char* home = std::getenv("HOME");
  return home ? std::string(home) + "/.meshcache_history" : std::string();
}

// Parses and runs one line; false at quit. *failed is set when the line
// fails (a usage error or a failed request).
bool RunLine(const Session& s, const std::string& line, bool* failed) {
  const auto first = line.find_first_not_of(" \t");
  if (first == std::string::npos) return true;
  CLI::App app(
      "commands: get KEY | set KEY VALUE [--ttl-ms N] | del KEY | mget KEY... | ping | "
      "stats | ring | help | quit");
  Command c;
  AddCommands(app, c);
  app.require_subcommand(1, 1);
  std::string word = line.substr(first, line.find_first_of(" \t", first) - first);
  if (word == "quit" || word == "exit") return false;
  if (std::find(std::begin(kCommands), std::end(kCommands), word) == std::end(kCommands)) {
    *failed = true;
    Fail(s, Status::Error(meshcache::Code::kInvalidArgument,
                          "unknown command \"" + word + "\" (try help)"));
    return true;
  }
  if (word == "help") {
    std::cout << app.help() << std::flush;
    return true;
  }
  try {
    app.parse(line, false);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help() << std::flush;
    return true;
  } catch (const CLI::ParseError& e) {
    *failed = true;
    Fail(s, Status::Error(meshcache::Code::kInvalidArgument, e.what()));
    return true;
  }
  if (Run(s, c) == kError) *failed = true;
  return true;
}

int Interactive(const Session& s) {
  const bool tty = isatty(STDIN_FILENO);
  const std::string history = HistoryPath();
  if (tty) {
    rl_readline_name = "meshcache";
    rl_attempted_completion_function = Complete;
    // Before using_history: it starts libedit (rl_initialize), which takes
    // rl_getc_function only if it is set by then. Set later, it is never
    // called, and Ctrl-C drops the line only when it happens to interrupt
    // libedit's own read(2): a Ctrl-C between two reads (keys typed ahead,
    // a busy machine) was lost and the prompt hung.
    (void)CatchInterrupt();
    using_history();
    stifle_history(1000);
    if (!history.empty()) read_history(history.c_str());
  }
  bool failed = false;
  while (auto line = ReadLine(tty)) {
    if (!RunLine(s, *line, &failed)) break;
  }
  if (tty && !history.empty()) write_history(history.c_str());
  return failed ? kError : kFound;
}

// The client's CURVE keys from the flags; an error message, or empty.
std::string CurveOptions(const std::string& server_key, const std::string& key_file,
                         meshcache::ClientOptions& options) {
  if (server_key.empty() && key_file.empty()) return {};
  if (server_key.empty() || key_file.empty()) return "CURVE needs both --server-key and --key-file";
  auto pair = meshcache::ReadCurveSecretFile(key_file);
  if (!pair.ok()) return pair.status().message();
  options.curve_server_key = server_key;
  options.curve_public_key = pair->public_key;
  options.curve_secret_key = pair->secret_key;
  return {};
}

int Main(int argc, char** argv) {
  CLI::App app("meshcache-cli: talk to a meshcache mesh (no command: an interactive prompt)",
               "meshcache-cli");
  std::vector<std::string> nodes = {"tcp://127.0.0.1:7400"};
  bool json_out = false;
  bool direct = false;
  int64_t timeout_ms = 1000;
  Command c;
  // One endpoint per --node, so that the word after it is the command.
  app.add_option("--node", nodes, "service endpoint of a node (repeatable)")
      ->capture_default_str()
      ->allow_extra_args(false);
  app.add_flag("--json", json_out, "machine-readable output, one JSON document per command");
  app.add_flag("--direct", direct, "send everything to --node instead of each key's owner");
  app.add_option("--timeout-ms", timeout_ms, "deadline of each request (default 1000)")
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}));
  std::string server_key, key_file;
  app.add_option("--server-key", server_key, "the mesh's CURVE public key (Z85), with --key-file");
  app.add_option("--key-file", key_file,
                 "file holding this client's CURVE secret key (meshcached keygen --out)")
      ->check(CLI::ExistingFile);
  app.set_version_flag("--version", std::string("meshcache-cli ") + meshcache::kVersion);
  AddCommands(app, c);
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError&) {
    // The first word that is neither an option nor a command.
    const std::vector<std::string> extra = app.remaining();
    std::cerr << "meshcache-cli: unknown command \"" << (extra.empty() ? "" : extra.front())
              << "\" (try --help)" << std::endl;
    return kError;
  } catch (const CLI::ParseError& e) {
    std::cerr << "meshcache-cli: " << e.what() << " (try --help)" << std::endl;
    return kError;
  }

  meshcache::ClientOptions options;
  options.seeds = nodes;
  options.timeout_ms = timeout_ms;
  options.smart_routing = !direct;
  if (std::string why = CurveOptions(server_key, key_file, options); !why.empty()) {
    std::cerr << "meshcache-cli: " << why << std::endl;
    return kError;
  }
  auto client = Client::Connect(options);
  if (!client.ok()) {
    std::cerr << "meshcache-cli: " << client.status().ToString() << std::endl;
    return kError;
  }
  Session session{client->get(), json_out, nodes.front()};
  if (c.name.empty()) return Interactive(session);
  return Run(session, c);
}

}  // namespace

int main(int argc, char** argv) {
  // What nothing nearer catches (CLI11 set-up, memory, a library) ends the
  // command with its message and kError, not with std::terminate.
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "meshcache-cli: " << e.what() << std::endl;
  } catch (...) {
    std::cerr << "meshcache-cli: unknown error" << std::endl;
  }
  return kError;
}
