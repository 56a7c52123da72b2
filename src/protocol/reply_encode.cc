// Reply encoders: [status, id, results...], values always as bin.
#include <variant>

#include "protocol/codec.h"
#include "protocol/wire.h"

namespace meshcache::protocol {
namespace {

using wire::Packer;

void PackNamed(Packer& p, std::string_view name, std::string_view value) {
  wire::PackStr(p, name);
  wire::PackStr(p, value);
}

void PackNamed(Packer& p, std::string_view name, uint64_t value) {
  wire::PackStr(p, name);
  p.pack(value);
}

// {"id", "service", "gossip", "state"} and, under CURVE, "key": the
// client-facing form of a member.
void PackRingNode(Packer& p, const MemberInfo& m) {
  p.pack_map(m.curve_key.empty() ? 4 : 5);
  PackNamed(p, field::kId, m.id);
  PackNamed(p, field::kService, m.service);
  PackNamed(p, field::kGossip, m.gossip);
  PackNamed(p, field::kState, NodeStateName(m.state));
  if (!m.curve_key.empty()) PackNamed(p, field::kKey, m.curve_key);
}

void PackStat(Packer& p, const StatValue& value) {
  if (const int64_t* n = std::get_if<int64_t>(&value)) {
    p.pack(*n);
  } else {
    wire::PackStr(p, std::get<std::string>(value));
  }
}

}  // namespace

std::string EncodeOk(uint64_t id) {
  return wire::Build([&](Packer& p) { wire::PackReplyHead(p, ReplyStatus::kOk, id, 0); });
}

std::string EncodeMiss(uint64_t id) {
  return wire::Build([&](Packer& p) { wire::PackReplyHead(p, ReplyStatus::kMiss, id, 0); });
}

std::string EncodeError(uint64_t id, Code code, std::string_view message) {
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kErr, id, 2);
    wire::PackStr(p, CodeName(code));
    wire::PackStr(p, message);
  });
}

std::string EncodeValue(uint64_t id, std::string_view value, std::optional<uint64_t> ttl_left_ms,
                        std::optional<uint64_t> version, uint32_t flags) {
  if (flags != 0 && !version) version = 0;  // the flags come after a version
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kOk, id,
                        flags != 0    ? 4
                        : version     ? 3
                        : ttl_left_ms ? 2
                                      : 1);
    wire::PackBin(p, value);
    if (ttl_left_ms || version) p.pack(ttl_left_ms.value_or(0));
    if (version) p.pack(*version);
    if (flags != 0) p.pack(flags);
  });
}

std::string EncodeValues(uint64_t id, const std::vector<const std::string*>& values) {
  std::vector<std::optional<std::string_view>> views;
  views.reserve(values.size());
  for (const std::string* v : values) {
    views.push_back(v ? std::optional<std::string_view>(*v) : std::nullopt);
  }
  return EncodeValues(id, views);
}

std::string EncodeValues(uint64_t id, const std::vector<std::optional<std::string_view>>& values) {
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kOk, id, 1);
    p.pack_array(static_cast<uint32_t>(values.size()));
    for (const std::optional<std::string_view>& v : values) {
      if (v) {
        wire::PackBin(p, *v);
      } else {
        p.pack_nil();
      }
    }
  });
}

std::string EncodeExisted(uint64_t id, bool existed) {
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kOk, id, 1);
    p.pack(existed);
  });
}

std::string EncodePing(uint64_t id, const PingInfo& info) {
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kOk, id, 1);
    p.pack_map(3);
    PackNamed(p, field::kNode, info.node);
    PackNamed(p, field::kVersion, info.version);
    wire::PackStr(p, field::kProto);
    p.pack(info.proto);
  });
}

std::string EncodeRing(uint64_t id, const RingInfo& ring) {
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kOk, id, 1);
    p.pack_map(5);
    PackNamed(p, field::kEpoch, ring.epoch);
    PackNamed(p, field::kHash, ring.hash);
    PackNamed(p, field::kVnodes, ring.vnodes);
    PackNamed(p, field::kReplicas, ring.replicas);
    wire::PackStr(p, field::kNodes);
    p.pack_array(static_cast<uint32_t>(ring.nodes.size()));
    for (const MemberInfo& m : ring.nodes) PackRingNode(p, m);
  });
}

std::string EncodeStats(uint64_t id, const StatList& stats) {
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kOk, id, 1);
    p.pack_map(static_cast<uint32_t>(stats.size()));
    for (const auto& [name, value] : stats) {
      wire::PackStr(p, name);
      PackStat(p, value);
    }
  });
}

std::string EncodeMembers(uint64_t id, const std::vector<MemberInfo>& members) {
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kOk, id, 1);
    wire::PackMembers(p, members);
  });
}

std::string EncodeLoaded(uint64_t id, std::string_view value, uint64_t ttl_ms) {
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kOk, id, 2);
    wire::PackBin(p, value);
    p.pack(ttl_ms);
  });
}

std::string EncodeEntries(uint64_t id, const std::vector<std::optional<ValueMeta>>& entries) {
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kOk, id, 1);
    p.pack_array(static_cast<uint32_t>(entries.size()));
    for (const std::optional<ValueMeta>& e : entries) {
      if (!e) {
        p.pack_nil();
        continue;
      }
      p.pack_array(4);
      wire::PackBin(p, e->value);
      p.pack(e->flags);
      p.pack(e->cas);
      p.pack(e->ttl_left_ms);
    }
  });
}

std::string EncodeWritten(uint64_t id, WriteOutcome outcome, uint64_t cas,
                          std::optional<uint64_t> number) {
  return wire::Build([&](Packer& p) {
    wire::PackReplyHead(p, ReplyStatus::kOk, id, number ? 3 : 2);
    wire::PackStr(p, WriteOutcomeName(outcome));
    p.pack(cas);
    if (number) p.pack(*number);
  });
}

}  // namespace meshcache::protocol
