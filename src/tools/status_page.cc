#include "tools/status_page.h"

#include <charconv>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "ring/ring.h"
#include "util/node_state.h"

namespace meshcache::tools {
namespace {

constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>meshcache</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; margin-bottom: 0.2em; }
#summary { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.box { border: 1px solid #ccc; border-radius: 6px; padding: 0.6em 1em; min-width: 9em; }
.box b { display: block; font-size: 1.4em; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 0.3em 1em 0.3em 0; border-bottom: 1px solid #eee; }
td.num { text-align: right; }
.alive { color: #070; } .suspect { color: #a60; } .dead { color: #b00; } .left { color: #777; }
#error { color: #b00; }
</style>
</head>
<body>
<h1>meshcache <span id="node"></span></h1>
<div id="meta"></div>
<div id="error"></div>
<div id="summary">
  <div class="box">hit ratio<b id="hit_ratio">-</b></div>
  <div class="box">requests/s<b id="rate">-</b></div>
  <div class="box">memory<b id="memory">-</b></div>
  <div class="box">items<b id="items">-</b></div>
</div>
<h2>Members, as this node sees them</h2>
<table>
<thead><tr><th>node</th><th>state</th><th>share of the ring</th></tr></thead>
<tbody id="members"></tbody>
</table>
<script>
"use strict";
let last = null;
function mib(bytes) { return (bytes / 1048576).toFixed(1) + " MiB"; }
function show(s) {
  document.getElementById("error").textContent = "";
  document.getElementById("node").textContent = s.node;
  document.getElementById("meta").textContent =
      "version " + s.version + ", up " + s.stats.uptime_s + " s, ring epoch " + s.stats.ring_epoch;
  document.getElementById("hit_ratio").textContent =
      s.hit_ratio === null ? "-" : s.hit_ratio.toFixed(1) + "%";
  document.getElementById("memory").textContent =
      mib(s.stats.bytes) + " of " + mib(s.stats.limit_bytes);
  document.getElementById("items").textContent = s.stats.items;
  const now = Date.now();
  const requests = s.stats.gets + s.stats.sets + s.stats.dels;
  if (last !== null && now > last.at) {
    const rate = (requests - last.requests) * 1000 / (now - last.at);
    document.getElementById("rate").textContent = Math.max(0, rate).toFixed(1);
  }
  last = { at: now, requests: requests };
  const rows = document.getElementById("members");
  rows.textContent = "";
  for (const m of s.members) {
    const tr = document.createElement("tr");
    tr.dataset.id = m.id;
    const cells = [m.id + (m.self ? " (this node)" : ""), m.state,
                   (m.share * 100).toFixed(1) + "%"];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 1) td.className = m.state;
      if (i === 2) td.className = "num";
      tr.appendChild(td);
    });
    rows.appendChild(tr);
  }
}
async function refresh() {
  try {
    const r = await fetch("/status.json", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    show(await r.json());
  } catch (e) {
    document.getElementById("error").textContent = "node unreachable: " + e.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";

}  // namespace

std::string_view StatusPageHtml() { return kPage; }

std::optional<int64_t> StatNumber(std::string_view text) {
  int64_t n = 0;
  const char* end = text.data() + text.size();
  const auto [at, error] = std::from_chars(text.data(), end, n);
  if (text.empty() || error != std::errc() || at != end) return std::nullopt;
  return n;
}

std::string StatusJson(const std::vector<std::pair<std::string, std::string>>& stats,
                       const std::vector<std::pair<std::string, std::string>>& members,
                       uint32_t vnodes) {
  nlohmann::json out = {{"stats", nlohmann::json::object()}, {"members", nlohmann::json::array()}};
  std::map<std::string, int64_t> numbers;
  for (const auto& [name, value] : stats) {
    if (const std::optional<int64_t> n = StatNumber(value)) {
      out["stats"][name] = *n;
      numbers[name] = *n;
    } else {  // node, version
      out["stats"][name] = value;
    }
  }
  out["node"] = out["stats"].value("node", "");
  out["version"] = out["stats"].value("version", "");
  const int64_t lookups = numbers["hits"] + numbers["misses"];
  out["hit_ratio"] = lookups > 0 ? nlohmann::json(100.0 * static_cast<double>(numbers["hits"]) /
                                                  static_cast<double>(lookups))
                                 : nlohmann::json(nullptr);
  std::vector<MemberInfo> infos;
  for (const auto& [id, state] : members) {
    MemberInfo m;
    m.id = id;
    m.service = id;
    m.state = ParseNodeState(state).value_or(NodeState::kDead);
    infos.push_back(std::move(m));
  }
  RingParams params;
  params.vnodes = vnodes;
  std::map<std::string, double> shares;
  for (const auto& [id, share] : Ring::Build(infos, params)->Shares()) shares[id] = share;
  for (const auto& [id, state] : members) {
    out["members"].push_back({{"id", id},
                              {"state", state},
                              {"share", shares.count(id) ? shares[id] : 0.0},
                              {"self", id == out["node"]}});
  }
  return out.dump();
}

}  // namespace meshcache::tools
