// What the two seed examples, simple_http and simple_cmd, share: the seed's
// single-dash flags (-ip, -port, -regport), the rule that derives a node's
// mesh ports from its -port, logging to stderr, and the signals that stop a
// node. Only the public API (include/meshcache) is used.
#pragma once

#include <CLI/CLI.hpp>
#include <csignal>
#include <functional>
#include <optional>
#include <string>

#include "meshcache/options.hpp"

namespace examples {

// The port rule. An example started with -port P runs its meshcache node on
// service port P+1000 and gossip port P+2000, so examples on adjacent ports
// (9000, 9001, ...) never collide; -regport R joins the node whose service
// endpoint is tcp://REGIP:(R+1000).
inline constexpr int kServiceOffset = 1000;
inline constexpr int kGossipOffset = 2000;
inline constexpr int kMaxPort = 65535 - kGossipOffset;

struct MeshFlags {
  std::string ip = "127.0.0.1";  // binds the node (and the HTTP server); peers reach it here
  int port = 0;                  // the example's own port, see the rule above
  int regport = 0;               // 0: this node starts a mesh
  std::string regip;             // empty: the same as ip
  std::string log_level;         // debug, info, warn or error; the caller sets the default
};

// The rule above as one line, for --help and logs.
std::string PortRule();

// Adds -ip, -port (required, described by port_help), -regport, -regip and
// -log-level to app, and the port rule to its footer.
void AddMeshFlags(CLI::App& app, MeshFlags& flags, const std::string& port_help);

// Parses argv, accepting -name (and -name=value) for every long option
// --name of app, as the seed's command lines spell them. Returns the exit
// code when the program should exit at once (after --help: 0, after a bad
// flag: 2, with the message on stderr), nullopt when it should go on.
std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv);

// Node options for the flags: bind and advertise ip, ports by the rule,
// joining through regport if given, logging to stderr through an spdlog
// logger called `name`. Call once per process.
meshcache::NodeOptions NodeOptionsFor(const MeshFlags& flags, const std::string& name);

// Blocks SIGINT and SIGTERM in the calling thread and in every thread it
// starts afterwards (so call it before starting any); returns the set for
// WaitForStopSignal.
sigset_t BlockStopSignals();

// Waits for a signal of `set` and returns it, or returns 0 as soon as
// keep_waiting() turns false (checked every 50 ms).
int WaitForStopSignal(const sigset_t& set, const std::function<bool()>& keep_waiting);

}  // namespace examples
