// Fakes for the node's seams: FakePeers (the Peers interface) records what a
// node sends and publishes and can refuse endpoints; FakeLoadRunner (the
// LoadRunner interface) queues loader calls that a test completes by hand.
// Header-only, for tests/unit/node_*_test.cc.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "node/loads.h"
#include "node/peers.h"
#include "protocol/codec.h"

namespace meshcache::testing {

class FakePeers final : public node::Peers {
 public:
  struct Sent {
    std::string endpoint;
    uint64_t id = 0;
    protocol::Request request;  // decoded from the body that was sent
  };

  bool Send(const std::string& endpoint, uint64_t id, std::string body) override {
    if (unreachable.count(endpoint)) return false;
    protocol::DecodedRequest d = protocol::DecodeRequest(body, protocol::Limits{});
    sent.push_back({endpoint, id, std::move(d.request)});
    return true;
  }
  void Cancel(const std::string& endpoint, uint64_t id) override {
    cancelled.emplace_back(endpoint, id);
  }
  void Publish(std::string_view body) override {
    auto g = protocol::DecodeGossip(body, protocol::Limits{});
    if (g.ok()) published.push_back(std::move(*g));
  }
  void Follow(const std::vector<MemberInfo>& members) override { followed = members; }
  void Listen(const std::vector<std::string>& ids) override { listened = ids; }
  void Refresh(const std::string& id) override { refreshed.push_back(id); }

  // What was sent to endpoint, oldest first.
  std::vector<Sent> SentTo(const std::string& endpoint) const {
    std::vector<Sent> out;
    for (const Sent& s : sent) {
      if (s.endpoint == endpoint) out.push_back(s);
    }
    return out;
  }

  std::vector<Sent> sent;
  std::vector<std::pair<std::string, uint64_t>> cancelled;
  std::vector<protocol::Gossip> published;
  std::vector<MemberInfo> followed;
  std::vector<std::string> listened;   // the last Listen: whose heartbeats are heard
  std::vector<std::string> refreshed;  // every Refresh, in order
  std::set<std::string> unreachable;   // Send to these returns false
};

class FakeLoadRunner final : public node::LoadRunner {
 public:
  bool Submit(std::string key, uint64_t token) override {
    if (full) return false;
    submitted.emplace_back(std::move(key), token);
    return true;
  }
  std::vector<node::LoadDone> TakeResults() override {
    std::vector<node::LoadDone> out;
    out.swap(done);
    return out;
  }
  // Finishes the oldest submitted call for key with result.
  void Finish(const std::string& key, Result<std::optional<Loaded>> result) {
    for (auto it = submitted.begin(); it != submitted.end(); ++it) {
      if (it->first != key) continue;
      done.push_back({key, it->second, std::move(result)});
      submitted.erase(it);
      return;
    }
  }

  std::vector<std::pair<std::string, uint64_t>> submitted;  // (key, token), not yet finished
  std::vector<node::LoadDone> done;
  bool full = false;  // Submit refuses while set
};

}  // namespace meshcache::testing
