// Writes the seed corpus for decode_fuzz: valid bodies of each message kind
// and a few invalid ones. Run once by hand (make_corpus tests/fuzz/corpus);
// the files are committed, so the corpus does not depend on this build.
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "protocol/codec.h"

using namespace meshcache;
using namespace meshcache::protocol;

namespace {

MemberInfo Member(const std::string& id, NodeState state) {
  return MemberInfo{id, id, id + "1", state, 3};
}

std::vector<std::pair<std::string, std::string>> Seeds() {
  auto get = std::make_shared<Request>(Request{.op = Op::kGet, .id = 2, .keys = {"user"}});
  std::string a = "alpha";
  return {
      {"req_get", EncodeRequest(*get)},
      {"req_mget", EncodeRequest(Request{.op = Op::kMget, .id = 3, .keys = {"a", "b"}})},
      {"req_set_ttl",
       EncodeRequest(Request{.op = Op::kSet, .id = 4, .keys = {"k"}, .value = "v", .ttl_ms = 500})},
      {"req_fwd",
       EncodeRequest(Request{.op = Op::kFwd, .id = 5, .from = "tcp://a:1", .inner = get})},
      {"req_join",
       EncodeRequest(
           Request{.op = Op::kJoin, .id = 6, .member = Member("tcp://b:1", NodeState::kAlive)})},
      {"req_fwd_replica", EncodeRequest(Request{.op = Op::kFwd,
                                                .id = 12,
                                                .from = "tcp://a:1",
                                                .inner = get,
                                                .replica = true,
                                                .version = 77})},
      {"req_handoff", EncodeRequest(Request{.op = Op::kHandoff,
                                            .id = 13,
                                            .from = "tcp://a:1",
                                            .entries = {{"k", "v", 1000, 5}, {"k2", "", 0, 6}}})},
      {"req_get_str_key", std::string("\x93\xa3get\x01\xa4user", 11)},
      {"reply_values", EncodeValues(7, {&a, nullptr})},
      {"reply_ring",
       EncodeRing(8, RingInfo{.epoch = 2, .nodes = {Member("tcp://a:1", NodeState::kAlive)}})},
      {"reply_stats", EncodeStats(9, {{"gets", int64_t{1}}, {"node", std::string("a")}})},
      {"reply_err", EncodeError(10, Code::kTimeout, "slow")},
      {"reply_loaded", EncodeLoaded(11, "v", 1000)},
      {"gossip_hb", EncodeGossip(Gossip{.from = "tcp://a:1",
                                        .seq = 1,
                                        .members = {Member("tcp://a:1", NodeState::kSuspect)},
                                        .invals = {"k"}})},
      {"gossip_inv_overflow",
       EncodeGossip(Gossip{
           .kind = Gossip::Kind::kInvalidate, .from = "tcp://a:1", .invals_overflow = true})},
      {"bad_array_bomb", std::string("\xdd\xff\xff\xff\xff", 5)},
      {"bad_deep", std::string(64, '\x91')},
      {"bad_truncated", std::string("\x93\xa3get\x01\xa4us", 9)},
  };
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus DIR\n";
    return 2;
  }
  for (const auto& [name, body] : Seeds()) {
    std::ofstream out(std::string(argv[1]) + "/" + name, std::ios::binary);
    out << body;
    if (!out) {
      std::cerr << "make_corpus: cannot write " << name << "\n";
      return 1;
    }
  }
  return 0;
}
