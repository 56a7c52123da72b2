#include "tools/http_endpoint.h"

#include <httplib.h>

#include <array>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "tools/status_page.h"

namespace meshcache::tools {
namespace {

// Stats that go up and down; every other number only grows (a counter).
const std::set<std::string>& Gauges() {
  static const std::set<std::string> gauges = {"items",           "bytes",       "limit_bytes",
                                               "hot_items",       "tombstones",  "pending_requests",
                                               "loads_in_flight", "peers_alive", "ring_epoch",
                                               "uptime_s"};
  return gauges;
}

// Stats exported under the names the memcached and Redis exporters use for
// the same thing; the others become meshcache_<stat> (+ _total for a counter).
struct Renamed {
  const char* stat;
  const char* metric;
  const char* labels;  // without braces; may be empty
  const char* help;
};
constexpr std::array<Renamed, 5> kRenamed = {{
    {"hits", "meshcache_commands_total", R"(command="get",status="hit")",
     "Requests by command; gets by whether the node's own store had the key."},
    {"misses", "meshcache_commands_total", R"(command="get",status="miss")", nullptr},
    {"sets", "meshcache_commands_total", R"(command="set",status="ok")", nullptr},
    {"dels", "meshcache_commands_total", R"(command="del",status="ok")", nullptr},
    {"uptime_s", "meshcache_uptime_seconds", "", "Seconds since the node started."},
}};

// A label value as the text format wants it: \, " and newline escaped.
std::string Escaped(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out;
}

// Collects samples per metric family, then writes each family once with
// its HELP and TYPE lines.
class Families {
 public:
  // suffix: of the sample's name (a histogram's _bucket, _sum, _count).
  void Add(const std::string& name, const std::string& type, const std::string& help,
           const std::string& labels, const std::string& value, const std::string& suffix = "") {
    Family& f = families_[name];
    if (f.type.empty()) {
      f.type = type;
      order_.push_back(name);
    }
    if (f.help.empty()) f.help = help;
    f.samples.push_back(name + suffix + (labels.empty() ? "" : "{" + labels + "}") + " " + value);
  }
  std::string Text() const {
    std::string out;
    for (const std::string& name : order_) {
      const Family& f = families_.at(name);
      out.append("# HELP ").append(name).append(" ").append(f.help);
      out.append("\n# TYPE ").append(name).append(" ").append(f.type).append("\n");
      for (const std::string& sample : f.samples) out.append(sample).append("\n");
    }
    return out;
  }

 private:
  struct Family {
    std::string type, help;
    std::vector<std::string> samples;
  };
  std::map<std::string, Family> families_;
  std::vector<std::string> order_;
};

const Renamed* RenamedOf(const std::string& stat) {
  for (const Renamed& r : kRenamed) {
    if (stat == r.stat) return &r;
  }
  return nullptr;
}

std::string StatOf(const StatList& stats, const std::string& name) {
  for (const auto& [stat, value] : stats) {
    if (stat == name) return value;
  }
  return {};
}

// Microseconds as seconds, without trailing zeros ("0.000025", "5").
std::string Seconds(uint64_t us) {
  std::string s =
      std::to_string(us / 1'000'000) + "." + std::to_string(1'000'000 + us % 1'000'000).substr(1);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// The node's latency histograms come as stats <what>_us_le_<bound>,
// <what>_us_count and <what>_us_sum (docs/protocol.md); each becomes a
// Prometheus histogram meshcache_<what>_duration_seconds. Returns false for
// any other stat.
bool AddHistogramStat(Families& out, const std::string& stat, const std::string& value) {
  const size_t at = stat.find("_us_");
  if (at == std::string::npos || at == 0) return false;
  const std::string part = stat.substr(at + 4);
  const std::string name = "meshcache_" + stat.substr(0, at) + "_duration_seconds";
  const std::string help =
      "How long the node took over each " + stat.substr(0, at) + ", in seconds.";
  if (part.rfind("le_", 0) == 0) {
    const std::optional<int64_t> bound = StatNumber(part.substr(3));
    if (!bound || *bound < 0) return false;
    out.Add(name, "histogram", help, "le=\"" + Seconds(static_cast<uint64_t>(*bound)) + "\"", value,
            "_bucket");
  } else if (part == "count") {
    out.Add(name, "histogram", help, R"(le="+Inf")", value, "_bucket");
    out.Add(name, "histogram", help, "", value, "_count");
  } else if (part == "sum") {
    const std::optional<int64_t> us = StatNumber(value);
    out.Add(name, "histogram", help, "", Seconds(us && *us > 0 ? static_cast<uint64_t>(*us) : 0),
            "_sum");
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string PrometheusText(const StatList& stats, const MemberList& members) {
  Families out;
  out.Add("meshcache_up", "gauge", "1: the node answered.", "", "1");
  out.Add("meshcache_info", "gauge", "The node's id and version, as labels.",
          "node=\"" + Escaped(StatOf(stats, "node")) + "\",version=\"" +
              Escaped(StatOf(stats, "version")) + "\"",
          "1");
  for (const auto& [stat, value] : stats) {
    if (!StatNumber(value)) continue;  // node and version: in meshcache_info
    if (AddHistogramStat(out, stat, value)) continue;
    const bool gauge = Gauges().count(stat) > 0;
    if (const Renamed* r = RenamedOf(stat)) {
      out.Add(r->metric, gauge ? "gauge" : "counter", r->help ? r->help : "", r->labels, value);
      continue;
    }
    const std::string name = "meshcache_" + stat + (gauge ? "" : "_total");
    out.Add(name, gauge ? "gauge" : "counter", "The node's stat " + stat + ".", "", value);
  }
  const std::string self = StatOf(stats, "node");
  std::map<std::string, int> by_state = {{"alive", 0}, {"suspect", 0}, {"dead", 0}, {"left", 0}};
  for (const auto& [id, state] : members) {
    if (id != self) ++by_state[state];
  }
  for (const auto& [state, count] : by_state) {
    out.Add("meshcache_peers", "gauge", "Other members in this node's table, by state.",
            "state=\"" + Escaped(state) + "\"", std::to_string(count));
  }
  return out.Text();
}

std::string NotReadyReason(bool running, const std::string& self, const MemberList& members,
                           bool joining) {
  if (!running) return "the node has stopped";
  bool self_alive = false, other_alive = false;
  for (const auto& [id, state] : members) {
    if (id == self) self_alive = state == "alive";
    if (id != self && state == "alive") other_alive = true;
  }
  if (!self_alive) return "this node is not alive on its own table (leaving, or refuting)";
  if (joining && !other_alive) return "not joined yet: no other member is alive";
  return {};
}

namespace {

// Answers with render(stats, members) of the node's current view, or 503
// with the reason when the node cannot give it.
template <typename Render>
void AnswerFromView(Node& node, httplib::Response& res, const char* content_type,
                    const Render& render) {
  auto stats = node.Stats();
  auto members = node.Members();
  if (!stats.ok() || !members.ok()) {
    res.status = 503;
    res.set_content((stats.ok() ? members.status() : stats.status()).ToString() + "\n",
                    "text/plain");
    return;
  }
  res.set_content(render(*stats, *members), content_type);
}

}  // namespace

struct HttpEndpoint::Impl {
  httplib::Server server;
  std::thread thread;
};

HttpEndpoint::HttpEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpEndpoint::~HttpEndpoint() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(Node& node, const std::string& host,
                                                          int port, bool joining, uint32_t vnodes) {
  auto impl = std::make_unique<Impl>();
  httplib::Server& svr = impl->server;
  // SO_REUSEADDR alone: cpp-httplib's default adds SO_REUSEPORT, with which
  // a second meshcached given the same --http-port binds it too and the
  // kernel splits the scrapes between the two nodes.
  svr.set_socket_options([](int sock) {
    int yes = 1;
    (void)setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  svr.Get("/metrics", [&node](const httplib::Request&, httplib::Response& res) {
    AnswerFromView(node, res, "text/plain; version=0.0.4; charset=utf-8",
                   [](const StatList& stats, const MemberList& members) {
                     return PrometheusText(stats, members);
                   });
  });
  svr.Get("/healthz", [&node](const httplib::Request&, httplib::Response& res) {
    const bool up = node.running();
    res.status = up ? 200 : 503;
    res.set_content(up ? "ok\n" : "stopped\n", "text/plain");
  });
  svr.Get("/readyz", [&node, joining](const httplib::Request&, httplib::Response& res) {
    auto members = node.Members();
    std::string why = members.ok() ? NotReadyReason(node.running(), node.id(), *members, joining)
                                   : members.status().ToString();
    res.status = why.empty() ? 200 : 503;
    res.set_content(why.empty() ? "ready\n" : why + "\n", "text/plain");
  });
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(StatusPageHtml()), "text/html; charset=utf-8");
  });
  svr.Get("/status.json", [&node, vnodes](const httplib::Request&, httplib::Response& res) {
    AnswerFromView(node, res, "application/json",
                   [vnodes](const StatList& stats, const MemberList& members) {
                     return StatusJson(stats, members, vnodes);
                   });
  });
  if (!svr.bind_to_port(host, port)) {
    return Status::Error(Code::kIoError,
                         "cannot bind the HTTP port " + host + ":" + std::to_string(port));
  }
  impl->thread = std::thread([&svr] { svr.listen_after_bind(); });
  return std::unique_ptr<HttpEndpoint>(new HttpEndpoint(std::move(impl)));
}

}  // namespace meshcache::tools
