// The request parser of the memcached door: reads one command of
// memcached's text or meta protocol from the front of what a connection has
// buffered, without copying and without state between calls.
//
// Use, per connection (the node's read loop):
//
//   swallow: bytes still to drop from an earlier error (starts at 0)
//   on each read: append to the buffer; drop min(swallow, size) from its
//     front; then while the buffer is not empty and nothing says stop:
//       ParseResult r = Parse(buffer, limits);
//       kCommand:  handle r.command (its views point into buffer), then drop
//                  r.consumed bytes. A text command with noreply gets no
//                  reply at all; quit closes; meta q is AppendMeta's (reply.h)
//       kNeedMore: stop until the next read. r.needed > 0 says how big the
//                  buffer must grow (a data block is on its way)
//       kError:    send r.reply (may be empty: noreply), drop r.consumed
//                  bytes, swallow = r.swallow; if r.close, close the
//                  connection once the replies before it are written
//   write all replies of the read in one batch.
//
// Bounds: a command never needs more than limits.max_request() bytes at the
// front of the buffer, and the parser never answers kNeedMore when it has
// that many: a longer line is an error that closes, a larger value an error
// whose data is swallowed, never buffered. The caller's own buffer bound
// must be at least max_request().
//
// Errors and their replies follow memcached 1.6.18 (Debian 12's, which the
// integration tests run beside) byte for byte; the tests hold its answers.
// Where this parser differs, it is on purpose:
//  - after a storage line (set ... cas, ms) whose length token is readable,
//    any error swallows its data block, as memcached master does, rather
//    than reading the value's bytes as commands (1.6.18 does so after a bad
//    key, flags or exptime);
//  - numbers are strict (numbers.h): 1.6.18 took "+1" and truncated 2^32;
//  - bounds memcached lacks (it grows a get line without limit and closes a
//    longer other line at 2 KiB in silence): a line over max_line is
//    answered "CLIENT_ERROR request too long" (memcached's proxy's words)
//    and closes; a get with more than max_keys keys is answered the same
//    and does not close;
//  - a command starting with the binary protocol's magic byte 0x80 is
//    answered, once its 24-byte header is in, with a binary "Unknown
//    command" response that echoes its opcode and opaque, and closes (this
//    door serves only the text protocols);
//  - every command word is matched exactly: an unknown word is "ERROR", or,
//    as memcached master has it, a silent close when the line has two
//    tokens or more and the last starts with "HTTP/".
// What the parser reads but memcached answers from its state (stats
// subcommands, flush_all, me, verbosity) the node answers; Command says
// what each op carries.
//
// Cost: a call scans the front line once (memchr for its newline, a byte
// loop for its tokens); a line still without its newline is scanned again
// on the next call, so the work per line is bounded by max_line per read.
// Thread safety: a pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "memcache/command.h"

namespace meshcache::memcache {

struct Limits {
  // Longest key, as sent (memcached's KEY_MAX_LENGTH); a longer one: CLIENT_ERROR
  // bad command line format. REQUIRES: <= 250 (a b key decodes into kMaxDecodedKey).
  size_t max_key = 250;
  // Largest data block of a storage command (memcached's -I, 1 MiB by
  // default): a larger one is "SERVER_ERROR object too large for cache" and
  // its data is swallowed. The node sets its own value limit here.
  size_t max_value = size_t{1} << 20;
  // Longest command line, its \r\n included. Longer: an error that closes.
  // Bounds the bytes a connection may hold without a newline.
  // REQUIRES: >= 32 (a binary request's header is 24 bytes).
  size_t max_line = 64 * 1024;
  // Most keys in one get, gets, gat or gats (the mesh's own mget bound).
  size_t max_keys = 4096;

  // The most bytes one command occupies at the front of the buffer.
  size_t max_request() const { return max_line + max_value + 2; }
};

struct ParseResult {
  enum Kind : uint8_t {
    kCommand,   // command holds the first command, of consumed bytes
    kNeedMore,  // no whole command at the front yet
    kError,     // the front is no command: reply, drop, maybe close
  };
  Kind kind = kNeedMore;
  // kCommand: the command's bytes (<= input.size()). kError: the bytes to
  // drop now (<= input.size()).
  size_t consumed = 0;
  // kError: bytes to drop as they arrive after the consumed ones: the rest
  // of a data block the error swallows (memcached's conn_swallow).
  size_t swallow = 0;
  // kNeedMore: the buffer size at which the front command is whole, when
  // known (its line is in, its data is not); 0 while its line is not in.
  size_t needed = 0;
  // kError: memcached's reply, "\r\n" included; empty when memcached sends
  // none (a text command with noreply, or a silent close).
  std::string reply;
  // kError: close the connection after sending reply.
  bool close = false;
  Command command;
};

// Parses the command at the front of input. Never reads past input, never
// throws, never allocates but for an error's reply.
ParseResult Parse(std::string_view input, const Limits& limits);

}  // namespace meshcache::memcache
