#include "mesh_flags.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>
#include <vector>

namespace examples {
namespace {

std::set<std::string> LongNames(const CLI::App& app) {
  std::set<std::string> names;
  for (const CLI::Option* opt : app.get_options()) {
    for (const std::string& name : opt->get_lnames()) names.insert(name);
  }
  return names;
}

// "-port" / "-port=9000" -> "--port" / "--port=9000" when --port exists.
// CLI11 reserves a single dash for one-letter names, hence the rewrite.
std::vector<std::string> DoubleDashed(const CLI::App& app, int argc, char** argv) {
  const std::set<std::string> names = LongNames(app);
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 3 || a[0] != '-' || a[1] == '-') continue;
    if (names.count(a.substr(1, a.find('=') - 1))) args[i].insert(0, "-");
  }
  return args;
}

meshcache::LogFn StderrLog(const std::string& name, const std::string& level) {
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_level(spdlog::level::from_str(level));
  logger->set_pattern("%H:%M:%S.%e %n %^%l%$ %v");
  return [logger](meshcache::LogLevel lvl, const std::string& msg) {
    static constexpr spdlog::level::level_enum kMap[] = {spdlog::level::debug, spdlog::level::info,
                                                         spdlog::level::warn, spdlog::level::err};
    logger->log(kMap[static_cast<int>(lvl)], msg);
  };
}

}  // namespace

std::string PortRule() {
  return "Port rule: -port P puts this node's meshcache service on port P+" +
         std::to_string(kServiceOffset) + " and its gossip on P+" + std::to_string(kGossipOffset) +
         "; -regport R joins tcp://REGIP:(R+" + std::to_string(kServiceOffset) + ").";
}

void AddMeshFlags(CLI::App& app, MeshFlags& flags, const std::string& port_help) {
  app.add_option("--ip", flags.ip, "address to bind and advertise (default 127.0.0.1)");
  app.add_option("--port", flags.port, port_help)->required()->check(CLI::Range(1, kMaxPort));
  app.add_option("--regport", flags.regport,
                 "the -port of any running node, to register with; absent: start a new mesh")
      ->check(CLI::Range(1, kMaxPort));
  app.add_option("--regip", flags.regip, "address of the -regport node (default: -ip)");
  app.add_option("--log-level", flags.log_level,
                 "debug, info, warn or error (default " + flags.log_level + ")")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.footer(PortRule() + "\nSingle-dash long names (-port 9001) work as well as --port 9001.");
}

std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args = DoubleDashed(app, argc, argv);
  std::vector<char*> ptrs;
  for (std::string& a : args) ptrs.push_back(a.data());
  try {
    app.parse(static_cast<int>(ptrs.size()), ptrs.data());
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", app.get_name().c_str(), e.what());
    return 2;
  }
  return std::nullopt;
}

meshcache::NodeOptions NodeOptionsFor(const MeshFlags& flags, const std::string& name) {
  meshcache::NodeOptions o;
  o.bind = flags.ip;
  o.port = static_cast<uint16_t>(flags.port + kServiceOffset);
  o.gossip_port = static_cast<uint16_t>(flags.port + kGossipOffset);
  if (flags.regport != 0) {
    const std::string& host = flags.regip.empty() ? flags.ip : flags.regip;
    o.join = {"tcp://" + host + ":" + std::to_string(flags.regport + kServiceOffset)};
  }
  o.log = StderrLog(name, flags.log_level);
  return o;
}

sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int WaitForStopSignal(const sigset_t& set, const std::function<bool()>& keep_waiting) {
  timespec tick{0, 50 * 1000 * 1000};
  while (keep_waiting()) {
    int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) return sig;
  }
  return 0;
}

}  // namespace examples
