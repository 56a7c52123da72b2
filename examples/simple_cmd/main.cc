// simple_cmd: an interactive meshcache node.
//
//   simple_cmd -port 9100                   # the first node
//   simple_cmd -port 9101 -regport 9100     # joins through the first
//   > set user alice 60000
//   > get user
//
// Ports follow the rule of simple_http (examples/README.md), so a simple_cmd
// can also join a mesh of simple_http gateways with -regport 9000.
// On a terminal the prompt has line editing and history (libedit); with
// stdin piped, lines are read as they come and nothing but the answers is
// printed, one command's answer after another. A node that joins through
// -regport reads its first line once it has joined (or after 10 s, with a
// warning), so that piped commands see the mesh. `quit`, end of input, SIGINT
// or SIGTERM stop the node gracefully and exit 0.
#include <editline/readline.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/mesh_flags.h"
#include "meshcache/node.hpp"

namespace {

using Args = std::vector<std::string>;

// Splits a line at blanks; 'single' or "double" quotes keep blanks (and the
// other kind of quote) in one word, so `set k '{"a": 1}'` stores JSON.
std::optional<Args> Split(const std::string& line) {
  Args words;
  std::string word;
  char quote = 0;
  bool in_word = false;
  for (char c : line) {
    if (quote == 0 && (c == '\'' || c == '"')) {
      quote = c;
    } else if (c == quote) {
      quote = 0;
    } else if (quote == 0 && (c == ' ' || c == '\t')) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    } else {
      word += c;
    }
    in_word = true;
  }
  if (quote != 0) return std::nullopt;
  if (in_word) words.push_back(std::move(word));
  return words;
}

void PrintError(const std::string& message) { std::cout << "error: " << message << "\n"; }

// A header with the count, then one indented line per item.
void PrintList(const std::vector<std::pair<std::string, std::string>>& items, const char* noun,
               const std::string& self = "") {
  std::cout << noun << " (" << items.size() << "):\n";
  for (const auto& [name, value] : items) {
    std::cout << "  " << name << " " << value << (name == self ? " (this node)" : "") << "\n";
  }
}

// Handlers get the words after the command's name; false means exit.
using Handler = bool (*)(meshcache::Node&, const Args&);

bool Set(meshcache::Node& node, const Args& a) {
  std::optional<uint64_t> ttl_ms;
  if (a.size() == 3) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(a[2].data(), a[2].data() + a[2].size(), n);
    if (ec != std::errc() || end != a[2].data() + a[2].size()) {
      PrintError("TTL_MS must be a whole number of milliseconds, not '" + a[2] + "'");
      return true;
    }
    ttl_ms = n;
  }
  if (meshcache::Status s = node.Set(a[0], a[1], ttl_ms); !s.ok()) {
    PrintError(s.ToString());
  } else {
    std::cout << "OK\n";
  }
  return true;
}

// Prints show(value) for an ok result, else the error.
template <typename T, typename Show>
void Print(const meshcache::Result<T>& result, Show show) {
  if (!result.ok()) return PrintError(result.status().ToString());
  std::cout << show(*result) << "\n";
}

bool Get(meshcache::Node& node, const Args& a) {
  Print(node.Get(a[0]), [](const auto& value) { return value ? *value : "(miss)"; });
  return true;
}

bool Del(meshcache::Node& node, const Args& a) {
  Print(node.Del(a[0]), [](bool existed) { return existed ? "deleted" : "(not found)"; });
  return true;
}

bool Nodes(meshcache::Node& node, const Args&) {
  auto members = node.Members();
  members.ok() ? PrintList(*members, "members", node.id())
               : PrintError(members.status().ToString());
  return true;
}

bool Stats(meshcache::Node& node, const Args&) {
  auto stats = node.Stats();
  stats.ok() ? PrintList(*stats, "counters") : PrintError(stats.status().ToString());
  return true;
}

bool Help(meshcache::Node&, const Args&);
bool Quit(meshcache::Node&, const Args&) { return false; }

struct Command {
  const char* name;
  const char* args;
  size_t min_args, max_args;
  Handler run;
  const char* help;
};

constexpr Command kCommands[] = {
    {"set", "KEY VALUE [TTL_MS]", 2, 3, Set, "store VALUE under KEY ('a b' keeps blanks)"},
    {"get", "KEY", 1, 1, Get, "print KEY's value, or (miss)"},
    {"del", "KEY", 1, 1, Del, "remove KEY"},
    {"nodes", "", 0, 0, Nodes, "the members this node sees and their states"},
    {"stats", "", 0, 0, Stats, "this node's counters"},
    {"help", "", 0, 0, Help, "this list"},
    {"quit", "", 0, 0, Quit, "leave the mesh and exit (also: exit, end of input)"},
    {"exit", "", 0, 0, Quit, nullptr},
};

bool Help(meshcache::Node&, const Args&) {
  for (const Command& c : kCommands) {
    if (c.help == nullptr) continue;
    std::string usage = std::string(c.name) + (*c.args ? " " : "") + c.args;
    std::cout << "  " << std::left << std::setw(26) << usage << " " << c.help << "\n";
  }
  return true;
}

// Runs one line; false when the shell should exit.
bool Execute(meshcache::Node& node, const std::string& line) {
  std::optional<Args> words = Split(line);
  if (!words) {
    PrintError(std::string("unterminated quote in: ") + line);
    return true;
  }
  if (words->empty()) return true;
  const std::string name = words->front();
  words->erase(words->begin());
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    if (words->size() < c.min_args || words->size() > c.max_args) {
      PrintError(std::string("usage: ") + c.name + " " + c.args);
      return true;
    }
    return c.run(node, *words);
  }
  PrintError("unknown command '" + name + "' (try help)");
  return true;
}

// The next line: from libedit with a prompt and history on a terminal, else
// plain. nullopt at end of input.
std::optional<std::string> ReadLine(bool interactive, const std::string& prompt) {
  if (!interactive) {
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    return line;
  }
  char* raw = readline(prompt.c_str());
  if (raw == nullptr) return std::nullopt;
  std::string line(raw);
  std::free(raw);
  if (line.find_first_not_of(" \t") != std::string::npos) add_history(line.c_str());
  return line;
}

// SIGINT/SIGTERM arrive here, whatever the main thread is blocked in: the
// node leaves the mesh, the terminal gets its settings back, the process
// ends. The thread returns once `done` is set.
std::thread StopOnSignal(const sigset_t& signals, meshcache::Node& node, std::optional<termios> tty,
                         const std::atomic<bool>& done) {
  return std::thread([signals, &node, tty, &done] {
    if (examples::WaitForStopSignal(signals, [&done] { return !done; }) == 0) return;
    node.Stop();
    if (tty) {
      tcsetattr(STDIN_FILENO, TCSANOW, &*tty);
      std::fputs("\n", stdout);
      std::fflush(stdout);
    }
    std::_Exit(0);
  });
}

// Waits until the node lists another member alive (the seed it joined
// through), or for `bound`; false when the bound passed first.
bool WaitForJoin(meshcache::Node& node, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    auto members = node.Members();
    if (members.ok()) {
      for (const auto& [id, state] : *members) {
        if (id != node.id() && state == "alive") return true;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polls the node's table
  }
}

std::optional<termios> TerminalSettings() {
  termios t;
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t) != 0) return std::nullopt;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("simple_cmd: an interactive meshcache node", "simple_cmd");
  examples::MeshFlags flags;
  flags.log_level = "warn";  // keeps the prompt readable; info shows joins and leaves
  examples::AddMeshFlags(app, flags, "this node's port; its mesh ports follow from it");
  if (auto code = examples::ParseFlags(app, argc, argv)) return *code;

  const sigset_t stop_signals = examples::BlockStopSignals();  // before any thread starts
  auto node = meshcache::Node::Start(examples::NodeOptionsFor(flags, "simple_cmd"));
  if (!node.ok()) {
    std::fprintf(stderr, "simple_cmd: cannot start the node: %s (%s)\n",
                 node.status().ToString().c_str(), examples::PortRule().c_str());
    return 2;
  }
  const std::optional<termios> tty = TerminalSettings();
  std::atomic<bool> done{false};
  std::thread watcher = StopOnSignal(stop_signals, **node, tty, done);
  if (flags.regport != 0 && !WaitForJoin(**node, std::chrono::seconds(10))) {
    std::fprintf(stderr,
                 "simple_cmd: not joined through port %d after 10 s; going on alone until it "
                 "answers\n",
                 flags.regport);
  }
  std::cout << std::unitbuf;  // a piped reader sees each answer at once
  if (tty) std::cout << "node " << (*node)->id() << " up; type help\n";

  const std::string prompt = "simple_cmd:" + std::to_string(flags.port) + "> ";
  while (auto line = ReadLine(tty.has_value(), prompt)) {
    if (!Execute(**node, *line)) break;
  }
  done = true;
  watcher.join();
  (*node)->Stop();
  return 0;
}
