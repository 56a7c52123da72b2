// The door's per-connection state, shared by memcache_door.cc (sockets) and
// memcache_door_replies.cc (commands and replies). Not part of the door's
// interface.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "memcache/command.h"
#include "node/memcache_door.h"
#include "protocol/messages.h"

namespace meshcache::node {

// One reply a connection owes, in request order.
struct MemcacheDoor::Slot {
  uint64_t seq = 0;
  bool ready = false;        // text holds the whole reply
  bool close_after = false;  // close the connection once text is written
  std::string text;
  // For a native request: what its reply is formatted from.
  memcache::Op op = memcache::Op::kMetaNoop;
  protocol::Op native = protocol::Op::kPing;
  bool noreply = false;
  std::vector<std::string> keys;  // get family: as sent; meta: the decoded key
  // Meta commands: a copy of the command line, and the flags with their
  // tokens viewing it (the connection's buffer moves on meanwhile).
  std::string line;
  memcache::MetaFlags meta;
};

struct MemcacheDoor::Conn {
  uint64_t id = 0;
  UniqueFd fd;
  std::string in;  // bytes read, not yet parsed from pos on
  size_t pos = 0;
  // The bytes read and not yet parsed.
  std::string_view Unparsed() const { return std::string_view{in}.substr(pos); }
  size_t swallow = 0;               // bytes still to drop (memcache/parser.h)
  const char* line_base = nullptr;  // the front of the command being handled
  std::string out;                  // replies to write, from sent on
  size_t sent = 0;
  std::deque<Slot> queue;  // never reallocates its elements: slots stay put
  uint64_t next_seq = 0;
  bool closing = false;  // read no more; close once queue and out are empty
  bool read_eof = false;
  // Since when max_output_bytes or more stayed unsent after every write
  // (the client reads nothing); -1: it is not so.
  int64_t stuck_since_ms = -1;
  bool dirty = false;  // on the door's dirty_ list
};

}  // namespace meshcache::node
