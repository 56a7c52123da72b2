// libFuzzer target: every decoder the node runs on bytes from the network.
// Any crash, sanitizer report or escaped exception is a bug in the codec.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/codec.h"

using namespace meshcache::protocol;

namespace {

// Small limits reach the limit checks with small inputs; the defaults check
// that real settings behave too.
Limits SmallLimits() {
  Limits l;
  l.max_key_bytes = 16;
  l.max_value_bytes = 64;
  l.max_mget_keys = 4;
  l.max_members = 4;
  l.max_depth = 4;
  return l;
}

// What decodes must re-encode to a body that decodes to the same message.
void CheckRequestRoundTrip(const Request& request, const Limits& limits) {
  std::string once = EncodeRequest(request);
  DecodedRequest again = DecodeRequest(once, limits);
  if (!again.status.ok() || EncodeRequest(again.request) != once) __builtin_trap();
}

void CheckGossipRoundTrip(const Gossip& gossip, const Limits& limits) {
  std::string once = EncodeGossip(gossip);
  auto again = DecodeGossip(once, limits);
  if (!again.ok() || EncodeGossip(again.value()) != once) __builtin_trap();
}

// Where the node's quick get decoder reads a get, the full decoder reads the
// same one.
void CheckQuickGet(std::string_view body, const DecodedRequest& full, const Limits& limits) {
  std::optional<QuickGet> quick = DecodeQuickGet(body, limits);
  if (!quick) return;
  if (!full.status.ok() || full.request.op != Op::kGet || full.request.id != quick->id ||
      full.request.keys.size() != 1 || full.request.keys[0] != quick->key) {
    __builtin_trap();
  }
}

void CheckQuickMget(std::string_view body, const DecodedRequest& full, const Limits& limits) {
  QuickMget quick;
  if (!DecodeQuickMget(body, limits, &quick)) return;
  if (!full.status.ok() || full.request.op != Op::kMget || full.request.id != quick.id ||
      full.request.keys.size() != quick.keys.size()) {
    __builtin_trap();
  }
  for (size_t i = 0; i < quick.keys.size(); ++i) {
    if (full.request.keys[i] != quick.keys[i]) __builtin_trap();
  }
}

void CheckQuickWrite(std::string_view body, const DecodedRequest& full, const Limits& limits) {
  std::optional<QuickWrite> quick = DecodeQuickWrite(body, limits);
  if (!quick) return;
  if (!full.status.ok() || full.request.op != quick->op || full.request.id != quick->id ||
      full.request.keys.size() != 1 || full.request.keys[0] != quick->key ||
      full.request.value != quick->value || full.request.ttl_ms != quick->ttl_ms) {
    __builtin_trap();
  }
}

void DecodeAll(std::string_view body, const Limits& limits) {
  DecodedRequest request = DecodeRequest(body, limits);
  if (request.status.ok()) CheckRequestRoundTrip(request.request, limits);
  CheckQuickGet(body, request, limits);
  CheckQuickMget(body, request, limits);
  CheckQuickWrite(body, request, limits);
  auto gossip = DecodeGossip(body, limits);
  if (gossip.ok()) CheckGossipRoundTrip(gossip.value(), limits);
  // A body PeekReply refuses fails every DecodeReply the same way, so the
  // per-op decoders run only on bodies with a readable reply head.
  if (!PeekReply(body, limits).ok()) return;
  for (int op = 0; op <= static_cast<int>(kLastOp); ++op) {
    (void)DecodeReply(body, static_cast<Op>(op), limits);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  static const Limits kSmall = SmallLimits();
  static const Limits kDefault;
  DecodeAll(body, kSmall);
  DecodeAll(body, kDefault);
  return 0;
}
