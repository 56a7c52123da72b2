// handler_fuzz's input: a config byte, then records in the frames.h format:
//
//   tag % 8  record                          what follows the tag
//   0, 1     a request on the ROUTER          routing id (byte), count n (byte),
//                                             1 + n % 4 frames
//   2        a reply on a peer's DEALER       n (byte), 1 + n % 3 frames
//   3        a gossip message on the SUB      n (byte), 1 + n % 2 frames
//   4        time passes, timers run          b (byte): the clock moves 2*b*b ms
//   5        a peer answers a request the     which (byte: 0 the last one sent,
//            node sent it                     1 the one before...), how (byte), a
//                                             frame: the reply's content
//                                             (handler_harness.cc's MakeAnswer)
//   6        a loader call finishes           which, how (bytes), a frame: the value
//   7        the liveness check (Check)       nothing
//
// A ROUTER request is exactly what the service socket hands the engine: a
// routing id frame (one of four clients') and then the frames the client
// sent, delimiter or not, as many as it sent. The config byte chooses the
// options of a node made for the input (bit 0: two replicas, 1: hot copies,
// 2: no hand-off, 3: a default TTL, 4: joining through a seed, 5: a loader;
// handler_harness.cc's Config).
//
// Header-only, without the node: make_corpus writes records too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "frames.h"

namespace meshcache::fuzz {

enum RecordKind : uint8_t {
  kRequest = 0,
  kPeerReply = 2,
  kGossip = 3,
  kTick = 4,
  kAnswer = 5,
  kLoadDone = 6,
  kCheck = 7,
};

// One record read from an input: its frames view the input.
struct Record {
  RecordKind kind = kCheck;
  uint8_t a = 0;  // routing id (request); which (answer, load); b (tick)
  uint8_t b = 0;  // how (answer, load)
  std::vector<std::string_view> frames;
};

// Reads the next record; REQUIRES: !in.done().
inline Record ReadRecord(Reader& in) {
  Record rec;
  size_t frames = 0;
  const uint8_t tag = in.Byte() % 8;
  rec.kind = tag == 1 ? kRequest : static_cast<RecordKind>(tag);
  switch (rec.kind) {
    case kRequest:
      rec.a = in.Byte();
      frames = 1 + in.Byte() % 4;
      break;
    case kPeerReply:
      frames = 1 + in.Byte() % 3;
      break;
    case kGossip:
      frames = 1 + in.Byte() % 2;
      break;
    case kTick:
      rec.a = in.Byte();
      break;
    case kAnswer:
    case kLoadDone:
      rec.a = in.Byte();
      rec.b = in.Byte();
      frames = 1;
      break;
    case kCheck:
      break;
  }
  for (size_t i = 0; i < frames; ++i) rec.frames.push_back(in.Frame());
  return rec;
}

inline void WriteRecord(const Record& rec, Writer& out) {
  out.Byte(rec.kind);
  switch (rec.kind) {
    case kRequest:
      out.Byte(rec.a);
      out.Byte(static_cast<uint8_t>(rec.frames.size() - 1));
      break;
    case kPeerReply:
    case kGossip:
      out.Byte(static_cast<uint8_t>(rec.frames.size() - 1));
      break;
    case kTick:
      out.Byte(rec.a);
      break;
    case kAnswer:
    case kLoadDone:
      out.Byte(rec.a);
      out.Byte(rec.b);
      break;
    case kCheck:
      break;
  }
  for (std::string_view f : rec.frames) out.Frame(f);
}

}  // namespace meshcache::fuzz
