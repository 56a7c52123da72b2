// The status page of meshcached's HTTP port: `/` is a page for people that
// shows this node's view of the mesh and refreshes itself every 2 s from
// `/status.json`, which StatusJson writes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace meshcache::tools {

// A stat's text as a number, or nullopt for the text ones (node, version).
std::optional<int64_t> StatNumber(std::string_view text);

// The page: static HTML with a script that fetches /status.json and draws
// the members (state and share of the ring), the hit ratio, memory, items
// and requests per second (from the change between two fetches).
std::string_view StatusPageHtml();

// /status.json from the node's stats (name, value as text), its members
// (id, state) and its ring's vnodes: {"node", "version", "stats": {...},
// "members": [{"id", "state", "share", "self"}], "hit_ratio": percent or
// null}. share: the part of the ring the member owns as this node's ring
// places it (0 off the ring).
std::string StatusJson(const std::vector<std::pair<std::string, std::string>>& stats,
                       const std::vector<std::pair<std::string, std::string>>& members,
                       uint32_t vnodes);

}  // namespace meshcache::tools
