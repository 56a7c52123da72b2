// The fuzz targets' seams of a node, as tests/unit/fakes/ has them for unit
// tests, but bounded (a fuzzing process runs millions of inputs) and
// checking: whatever a node sends its peers must be something its own
// decoder takes with its own limits, or the peer would refuse it.
//
// Fail() reports a broken check and traps, which libFuzzer records as a crash
// with the input that caused it.
#pragma once

#include <cstdio>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "node/loads.h"
#include "node/peers.h"
#include "protocol/codec.h"

namespace meshcache::fuzz {

[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz check failed: %s\n", what.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

// Up to 96 bytes of s, printable ASCII as it is and the rest as \xNN.
inline std::string Escape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 96; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (s.size() > 96) out += "...";
  return out;
}

// node::Peers that keeps the last few requests sent, for a harness to answer.
class FuzzPeers final : public node::Peers {
 public:
  struct Sent {
    std::string endpoint;
    uint64_t id = 0;
    protocol::Request request;  // decoded from the body that was sent
  };
  static constexpr size_t kKept = 16;

  explicit FuzzPeers(const protocol::Limits& limits) : limits_(limits) {}

  bool Send(const std::string& endpoint, uint64_t id, std::string body) override {
    // ZmqPeers refuses what libzmq cannot connect to; every tcp:// endpoint
    // is taken (a host that does not resolve just never answers).
    if (endpoint.rfind("tcp://", 0) != 0) return false;
    protocol::DecodedRequest d = protocol::DecodeRequest(body, limits_);
    if (!d.status.ok()) Fail("node sent a request its own decoder refuses: " + d.status.message());
    if (d.request.id != id) Fail("node sent a request whose wire id is not the one it gave");
    if (trace) std::fprintf(stderr, "  sent %s: %s\n", endpoint.c_str(), Escape(body).c_str());
    sent.push_back({endpoint, id, std::move(d.request)});
    if (sent.size() > kKept) sent.pop_front();
    ++sends;
    return true;
  }
  void Cancel(const std::string&, uint64_t) override {}
  void Publish(std::string_view body) override {
    auto g = protocol::DecodeGossip(body, limits_);
    if (!g.ok()) Fail("node published gossip its own decoder refuses: " + g.status().message());
    if (trace) std::fprintf(stderr, "  published: %s\n", Escape(body).c_str());
    ++published;
  }
  void Follow(const std::vector<MemberInfo>& members) override { followed = members.size(); }
  void Listen(const std::vector<std::string>& ids) override { listened = ids.size(); }
  void Refresh(const std::string&) override {}

  // Takes out the request sent `which` before the last one (modulo how
  // many are kept; 0: the last one); false when none is kept.
  bool Take(size_t which, Sent* out) {
    if (sent.empty()) return false;
    auto it = sent.end() - 1 - static_cast<std::ptrdiff_t>(which % sent.size());
    *out = std::move(*it);
    sent.erase(it);
    return true;
  }

  std::deque<Sent> sent;
  uint64_t sends = 0;
  uint64_t published = 0;
  size_t followed = 0;
  size_t listened = 0;
  bool trace = false;  // prints what is sent and published

 private:
  const protocol::Limits limits_;
};

// node::LoadRunner whose calls a harness finishes; a short queue, so that
// the node's `overloaded` path is reachable.
class FuzzLoader final : public node::LoadRunner {
 public:
  static constexpr size_t kQueue = 8;

  bool Submit(std::string key, uint64_t token) override {
    if (submitted.size() >= kQueue) return false;
    submitted.emplace_back(std::move(key), token);
    return true;
  }
  std::vector<node::LoadDone> TakeResults() override {
    std::vector<node::LoadDone> out;
    out.swap(done);
    return out;
  }
  // Finishes the call `which` (modulo how many wait); false when none waits.
  bool Finish(size_t which, Result<std::optional<Loaded>> result) {
    if (submitted.empty()) return false;
    auto it = submitted.begin() + static_cast<std::ptrdiff_t>(which % submitted.size());
    done.push_back({std::move(it->first), it->second, std::move(result)});
    submitted.erase(it);
    return true;
  }

  std::deque<std::pair<std::string, uint64_t>> submitted;  // (key, token)
  std::vector<node::LoadDone> done;
};

}  // namespace meshcache::fuzz
