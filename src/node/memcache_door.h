// MemcacheDoor: memcached's text and meta protocols on plain TCP, served
// from the engine's poll loop (--memcache-port). It owns a listening socket
// and its connections; each parsed command (memcache/parser.h) is answered
// at once (version, verbosity, mn, errors, and reads that the node answers
// from its store as it stands: ReadNow) or becomes one native request
// (protocol/messages.h: gets, setx, del, incr, touch, stats) that it hands to
// the Service like any client's, so keys owned by other nodes are forwarded
// exactly as native requests are.
//
// A native request carries an envelope [door id, empty] whose first frame no
// ZeroMQ peer can send (DoorId below); the engine's reply function gives the
// replies with that frame to OnReply instead of the ROUTER. Replies are
// written in request order per connection, once per poll round.
//
// Bounds, each counted in DoorStats when it bites:
//  - input: a connection holds at most one command's bytes
//    (memcache::Limits::max_request()); the parser never needs more;
//  - output: a connection with max_output_bytes of replies unsent is not
//    read or parsed further; one that stays that far behind for kStuckMs,
//    its socket taking nothing (a client that sends without reading), is
//    closed;
//  - pending: a connection with kMaxPendingReplies replies not yet answered
//    by the service is not read until some are;
//  - connections: past max_connections a new one is accepted and closed.
//
// Not thread-safe: owned and called by the engine's thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "memcache/command.h"
#include "memcache/parser.h"
#include "meshcache/options.hpp"
#include "meshcache/status.hpp"
#include "net/sockets.h"
#include "node/held_entry.h"
#include "protocol/messages.h"
#include "util/clock.h"

namespace meshcache::node {

// An owned file descriptor, closed on destruction. -1: none.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int Release();
  void Reset();

 private:
  int fd_ = -1;
};

// A non-blocking TCP listening socket on host:port (an IPv4 or IPv6
// address, SO_REUSEADDR). Errors name the address.
Result<UniqueFd> ListenTcp(const std::string& host, uint16_t port);

struct DoorOptions {
  memcache::Limits limits;
  size_t max_connections = 1024;
  size_t max_output_bytes = size_t{64} << 20;
  std::string version;  // VERSION's answer
};
// The door's options for a node's: its key and value limits, and the
// connection bound.
DoorOptions MakeDoorOptions(const NodeOptions& options);

struct DoorStats {
  uint64_t connections = 0;       // accepted and served, in all
  uint64_t curr_connections = 0;  // open now
  uint64_t refused = 0;           // closed at once: max_connections open
  uint64_t overflow_closed = 0;   // closed: unsent replies over max_output_bytes
  uint64_t protocol_errors = 0;   // commands the parser refused (answered or closed)
  uint64_t commands = 0;          // commands parsed
};

// The first frame of a door request's envelope: a zero byte, 'M', the
// connection and the sequence number (big-endian). libzmq's routing ids
// start with a zero byte only when it made them itself, and then are 5
// bytes long, so no peer can send one of these.
inline constexpr size_t kDoorIdBytes = 18;
bool IsDoorId(const zmq::message_t& frame);

class MemcacheDoor {
 public:
  // Hands a request [door id, empty, body] to the service, whose reply comes
  // back through OnReply (possibly before Submit returns).
  using Submit = std::function<void(net::Frames& frames)>;
  // Answers a read (get, gets, mg) at once, as Service::ReadOwnedNow does;
  // false: the read goes to Submit as a native gets. May be empty.
  using ReadNow = std::function<bool(std::span<const std::string_view> keys,
                                     std::vector<std::optional<HeldEntry>>* out)>;
  // How many replies a connection may wait for before it is not read.
  static constexpr size_t kMaxPendingReplies = 1024;
  // How long a connection may stay max_output_bytes behind before it is cut.
  static constexpr int64_t kStuckMs = 5000;

  // REQUIRES: listener is a listening socket (ListenTcp); clock outlives this.
  MemcacheDoor(UniqueFd listener, DoorOptions options, Submit submit, ReadNow read_now,
               const Clock* clock);
  ~MemcacheDoor();

  // Appends this round's items (fd items: socket null) with recheck 0, and
  // remembers which connection each is for.
  void AddPollItems(std::vector<zmq::pollitem_t>& items, std::vector<char>& recheck);
  // Handles the revents of the items AddPollItems appended, starting at items.
  void Dispatch(const zmq::pollitem_t* items);
  // A service reply to the request whose envelope started with id.
  void OnReply(const zmq::message_t& id, const std::string& body);
  // Writes what replies arrived since the last flush, one write per
  // connection, and cuts off stuck ones. The engine calls it once per poll
  // round.
  void Flush();
  // Stopping: accepts and reads no more; pending replies are still written.
  void StopListening();
  // No connection waits for a reply or has output left.
  bool Drained() const;
  const DoorStats& stats() const { return stats_; }
  // The door's counters as native stats (memcache_connections, ...).
  void AppendNativeStats(protocol::StatList& list) const;
  // memcached's stats for a native stats reply (memcached's names).
  void AppendStats(const protocol::StatList& native, std::string* out) const;

 private:
  struct Slot;
  struct Conn;

  void Accept();
  void OnReadable(Conn& c);
  void OnWritable(Conn& c);
  // c may read and parse more: not closing, fewer than kMaxPendingReplies
  // replies pending, less than max_output_bytes of output unsent.
  bool CanTakeMore(const Conn& c) const;
  // Parses and handles the commands in c's input while CanTakeMore(c).
  void Handle(Conn& c);
  // Writes c's replies (FlushConn) and handles the commands a bound held
  // back once it no longer does, until c needs its socket again. False: c
  // was closed.
  bool Pump(Conn& c);
  void HandleCommand(Conn& c, const memcache::Command& cmd);
  // A get, gets or mg that read_now_ answers: its reply is written (in
  // order) with no native request. False: nothing was done.
  bool AnswerRead(Conn& c, const memcache::Command& cmd);
  // The slot for a command's reply, in order at the end of c's queue.
  Slot& NewSlot(Conn& c);
  void SubmitNative(Conn& c, Slot& slot, protocol::Request req);
  // Moves the answered replies at the front of c's queue into its output
  // and writes it; closes c when that is due. False: c was closed.
  bool FlushConn(Conn& c);
  // Closes (and counts) the connections stuck behind the output bound for
  // kStuckMs.
  void CloseStuck();
  void Close(uint64_t id);
  // The text of a native reply for slot (memcache_door_replies.cc).
  void FormatReply(const Slot& slot, std::string_view body, std::string* out) const;
  void FormatNative(const Slot& slot, const protocol::Reply& r, std::string* out) const;
  void FormatMeta(const Slot& slot, const protocol::Reply& r, std::string* out) const;

  UniqueFd listener_;
  DoorOptions options_;
  Submit submit_;
  ReadNow read_now_;
  const Clock* clock_;
  protocol::Limits reply_limits_;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t next_conn_ = 1;
  bool listening_ = true;
  // What the last AddPollItems asked about: the listener first (when
  // listening), then these connections.
  bool polled_listener_ = false;
  std::vector<uint64_t> polled_;
  std::vector<uint64_t> dirty_;  // connections with replies to flush
  DoorStats stats_;
  std::string io_;                                      // read buffer, reused
  std::vector<std::string_view> read_keys_;             // AnswerRead's, reused
  std::vector<std::optional<HeldEntry>> read_entries_;  // AnswerRead's, reused
};

}  // namespace meshcache::node
