// meshcache-cli: talk to a meshcache mesh from a shell or a script.
//
//   meshcache-cli [--node tcp://HOST:PORT]... [--json] get KEY
//   meshcache-cli set KEY VALUE [--ttl-ms N] | del KEY | mget KEY... | ping | stats | ring
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
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
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
    named(name, help)->add_option("node", c.node, "the node (default: the first --node)");
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

int Stats(const Session& s, const Command& c) {
  auto r = s.client->Stats(Target(s, c));
  if (!r.ok()) return Fail(s, r.status());
  json out = json::object();
  size_t width = 0;
  for (const auto& [name, value] : *r) width = std::max(width, name.size());
  for (const auto& [name, value] : *r) {
    if (s.json) {
      std::visit([&out, &n = name](const auto& v) { out[n] = v; }, value);
    } else {
      std::string text = std::visit(
          [](const auto& v) -> std::string {
            if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>)
              return v;
            else
              return std::to_string(v);
          },
          value);
      std::printf("%-*s  %s\n", static_cast<int>(width), name.c_str(), text.c_str());
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

volatile sig_atomic_t g_at_prompt = 0;
volatile sig_atomic_t g_interrupted = 0;

void OnInterrupt(int sig) {
  if (!g_at_prompt) {  // waiting for an answer: Ctrl-C ends the command as it did
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  g_interrupted = 1;
}

// Ctrl-C at the prompt: the read is interrupted (no SA_RESTART), and
// ReadLine starts a fresh line instead of the process ending.
void CatchInterrupt() {
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
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
    g_interrupted = 0;
    g_at_prompt = 1;
    raw = readline("meshcache> ");
    g_at_prompt = 0;
    if (raw != nullptr || !g_interrupted) break;
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
    using_history();
    stifle_history(1000);
    if (!history.empty()) read_history(history.c_str());
    CatchInterrupt();
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
