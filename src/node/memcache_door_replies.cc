// The door's commands: each memcached command is answered at once or
// becomes one native request (docs/protocol.md "Extensions"), and each
// native reply is written back as memcached's text.
#include <unistd.h>

#include <string>

#include "memcache/expiry.h"
#include "memcache/reply.h"
#include "node/memcache_door.h"
#include "node/memcache_door_internal.h"
#include "protocol/codec.h"

namespace meshcache::node {
namespace {

using memcache::Op;
using memcache::Reply;
using protocol::WriteMode;
using protocol::WriteOutcome;

constexpr std::string_view kNonNumeric = "cannot increment or decrement non-numeric value";

// memcached's exptime as the native ttl_ms (0: never expires). An exptime
// already past expires a millisecond later: the native protocol has no
// "expired" ttl, and a store of it must still answer as memcached does.
uint64_t NativeTtlMs(int64_t exptime, int64_t wall_ms) {
  const memcache::Ttl ttl = memcache::TtlFromExptime(exptime, wall_ms / 1000);
  switch (ttl.kind) {
    case memcache::Ttl::kNever:
      return 0;
    case memcache::Ttl::kExpired:
      return 1;
    case memcache::Ttl::kSeconds:
      break;
  }
  return static_cast<uint64_t>(ttl.seconds) * 1000;
}

WriteMode ModeOf(Op op) {
  switch (op) {
    case Op::kAdd:
      return WriteMode::kAdd;
    case Op::kReplace:
      return WriteMode::kReplace;
    case Op::kAppend:
      return WriteMode::kAppend;
    case Op::kPrepend:
      return WriteMode::kPrepend;
    default:
      return WriteMode::kSet;
  }
}

// ms's M flag: E add, A append, P prepend, R replace, S (or none) set.
WriteMode MetaModeOf(char mode) {
  switch (mode) {
    case 'E':
    case 'e':
      return WriteMode::kAdd;
    case 'A':
    case 'a':
      return WriteMode::kAppend;
    case 'P':
    case 'p':
      return WriteMode::kPrepend;
    case 'R':
    case 'r':
      return WriteMode::kReplace;
    default:
      return WriteMode::kSet;
  }
}

Reply WriteReply(WriteOutcome outcome) {
  switch (outcome) {
    case WriteOutcome::kStored:
      return Reply::kStored;
    case WriteOutcome::kNotStored:
      return Reply::kNotStored;
    case WriteOutcome::kExists:
      return Reply::kExists;
    default:
      return Reply::kNotFound;
  }
}

memcache::MetaStatus MetaWriteStatus(WriteOutcome outcome) {
  switch (outcome) {
    case WriteOutcome::kStored:
      return memcache::MetaStatus::kHeader;
    case WriteOutcome::kNotStored:
      return memcache::MetaStatus::kNotStored;
    case WriteOutcome::kExists:
      return memcache::MetaStatus::kExists;
    default:
      return memcache::MetaStatus::kNotFound;
  }
}

// A native error as memcached's SERVER_ERROR line (no CR or LF inside).
void AppendNativeError(const protocol::Reply& r, std::string* out) {
  if (r.error_code == "too_large") {
    memcache::AppendServerError(out, "object too large for cache");
    return;
  }
  std::string message = r.error_code + " " + r.error_message;
  for (char& ch : message) {
    if (ch == '\r' || ch == '\n') ch = ' ';
  }
  memcache::AppendServerError(out, message);
}

// An entry a read found, from a native gets reply or from the store.
struct Found {
  std::string_view value;
  uint32_t flags = 0;
  uint64_t cas = 0;
  uint64_t ttl_left_ms = 0;  // 0: never expires
};

Found FoundOf(const protocol::ValueMeta& e) { return {e.value, e.flags, e.cas, e.ttl_left_ms}; }
Found FoundOf(const HeldEntry& h) { return {h.value.view(), h.flags, h.version, h.ttl_left_ms}; }

// get's and gets's line for a hit.
void AppendFound(std::string* out, Op op, std::string_view key, const Found& f) {
  const bool cas = op == Op::kGets || op == Op::kGats;
  memcache::AppendValue(out, key, f.flags, f.value,
                        cas ? std::optional<uint64_t>(f.cas) : std::nullopt);
}

// mg's reply, for a hit (f) or a miss (null).
void AppendMetaFound(std::string* out, const memcache::MetaFlags& asked, std::string_view key,
                     const Found* f) {
  using memcache::MetaStatus;
  memcache::MetaItem item;
  item.key = key;
  if (f == nullptr) return memcache::AppendMeta(out, Op::kMetaGet, MetaStatus::kMiss, asked, item);
  item.cas = f->cas;
  item.client_flags = f->flags;
  item.ttl = f->ttl_left_ms == 0 ? -1 : static_cast<int64_t>((f->ttl_left_ms + 999) / 1000);
  item.size = f->value.size();
  const MetaStatus status = asked.Has('v') ? MetaStatus::kValue : MetaStatus::kHeader;
  memcache::AppendMeta(out, Op::kMetaGet, status, asked, item, f->value);
}

// Meta flags the mesh cannot honour, refused rather than ignored: N
// (vivify on a miss), R (recache) and E (explicit CAS) of mg; I (invalidate)
// and E of ms; I and E of md; E of ma.
bool Unhonoured(const memcache::Command& cmd) {
  const memcache::MetaFlags& m = cmd.meta;
  switch (cmd.op) {
    case Op::kMetaGet:
      return m.Has('N') || m.Has('R') || m.Has('E');
    case Op::kMetaSet:
    case Op::kMetaDelete:
      return m.Has('I') || m.Has('E');
    default:
      return m.Has('E');
  }
}

// The view v of `from` as the same bytes of `to`, a copy of from's front.
std::string_view Rebase(std::string_view v, const char* from, const std::string& to) {
  if (v.empty() || v.data() < from || v.data() + v.size() > from + to.size()) return {};
  return std::string_view(to.data() + (v.data() - from), v.size());
}

}  // namespace

bool MemcacheDoor::AnswerRead(Conn& c, const memcache::Command& cmd) {
  read_keys_.clear();
  switch (cmd.op) {
    case Op::kGet:
    case Op::kGets:
      read_keys_.assign(cmd.keys.begin(), cmd.keys.end());
      break;
    case Op::kMetaGet:
      if (cmd.meta.ttl || Unhonoured(cmd)) return false;  // a touch, or refused
      read_keys_.push_back(cmd.DecodedKey());
      break;
    default:
      return false;
  }
  if (!read_now_ || !read_now_(read_keys_, &read_entries_)) return false;
  // Nothing owed before it: straight into the output, with no slot.
  std::string* out = &c.out;
  if (!c.queue.empty()) {
    Slot& slot = NewSlot(c);
    slot.ready = true;
    out = &slot.text;
  }
  if (cmd.op == Op::kMetaGet) {
    const std::optional<HeldEntry>& e = read_entries_[0];
    const Found found = e ? FoundOf(*e) : Found{};
    AppendMetaFound(out, cmd.meta, read_keys_[0], e ? &found : nullptr);
  } else {
    for (size_t i = 0; i < read_keys_.size(); ++i) {
      if (read_entries_[i]) AppendFound(out, cmd.op, read_keys_[i], FoundOf(*read_entries_[i]));
    }
    memcache::AppendReply(out, Reply::kEnd);
  }
  read_entries_.clear();  // the store's references go now
  return true;
}

void MemcacheDoor::HandleCommand(Conn& c, const memcache::Command& cmd) {
  if (AnswerRead(c, cmd)) return;
  const int64_t wall = clock_->WallMs();
  Slot& slot = NewSlot(c);
  slot.op = cmd.op;
  slot.noreply = cmd.noreply;
  auto answer = [&slot](std::string text) {
    slot.text = std::move(text);
    slot.ready = true;
  };
  protocol::Request req;
  switch (cmd.op) {
    case Op::kVersion: {
      std::string text;
      memcache::AppendVersion(&text, options_.version);
      return answer(std::move(text));
    }
    case Op::kVerbosity: {
      std::string text;
      if (!cmd.noreply) memcache::AppendReply(&text, Reply::kOk);
      return answer(std::move(text));
    }
    case Op::kQuit:
      slot.close_after = true;
      c.closing = true;
      return answer({});
    case Op::kMetaNoop: {
      std::string text;
      memcache::AppendReply(&text, Reply::kMetaNoop);
      return answer(std::move(text));
    }
    case Op::kGat:
    case Op::kGats:
      if (cmd.keys.empty()) {
        std::string text;
        memcache::AppendReply(&text, Reply::kEnd);
        return answer(std::move(text));
      }
      req.ttl_ms = NativeTtlMs(cmd.exptime, wall);
      [[fallthrough]];
    case Op::kGet:
    case Op::kGets:
      req.op = protocol::Op::kGets;
      for (std::string_view key : cmd.keys) {
        slot.keys.emplace_back(key);
        req.keys.emplace_back(key);
      }
      break;
    case Op::kSet:
    case Op::kAdd:
    case Op::kReplace:
    case Op::kAppend:
    case Op::kPrepend:
    case Op::kCas:
      req.op = protocol::Op::kSetx;
      req.keys.emplace_back(cmd.key);
      req.value = std::string(cmd.data);
      req.flags = cmd.client_flags;
      req.mode = ModeOf(cmd.op);
      req.cas = cmd.op == Op::kCas ? cmd.cas : 0;
      req.ttl_ms = NativeTtlMs(cmd.exptime, wall);
      break;
    case Op::kDelete:
      req.op = protocol::Op::kDel;
      req.keys.emplace_back(cmd.key);
      break;
    case Op::kIncr:
    case Op::kDecr:
      req.op = protocol::Op::kIncr;
      req.keys.emplace_back(cmd.key);
      req.delta = cmd.delta;
      req.decr = cmd.op == Op::kDecr;
      break;
    case Op::kTouch:
      req.op = protocol::Op::kTouch;
      req.keys.emplace_back(cmd.key);
      req.ttl_ms = NativeTtlMs(cmd.exptime, wall);
      break;
    case Op::kStats:
      if (!cmd.args.empty()) {
        std::string text;  // stats subcommands: memcached's state, not the mesh's
        memcache::AppendReply(&text, Reply::kError);
        return answer(std::move(text));
      }
      req.op = protocol::Op::kStats;
      break;
    case Op::kMetaGet:
    case Op::kMetaSet:
    case Op::kMetaDelete:
    case Op::kMetaArithmetic: {
      if (Unhonoured(cmd)) {
        std::string text;
        memcache::AppendClientError(&text, "invalid flag");
        return answer(std::move(text));
      }
      // The flags view the connection's buffer, which moves on before the
      // reply comes: keep the line and view that instead.
      const std::string_view rest = c.Unparsed();
      slot.line = std::string(rest.substr(0, rest.find('\n') + 1));
      slot.meta = cmd.meta;
      for (size_t i = 0; i < slot.meta.count; ++i) {
        slot.meta.list[i].token = Rebase(cmd.meta.list[i].token, c.line_base, slot.line);
      }
      slot.keys.emplace_back(cmd.DecodedKey());
      req.keys.emplace_back(cmd.DecodedKey());
      const memcache::MetaFlags& m = cmd.meta;
      if (cmd.op == Op::kMetaGet) {
        req.op = protocol::Op::kGets;
        if (m.ttl) req.ttl_ms = NativeTtlMs(*m.ttl, wall);
      } else if (cmd.op == Op::kMetaSet) {
        req.op = protocol::Op::kSetx;
        req.value = std::string(cmd.data);
        req.flags = m.client_flags.value_or(0);
        req.mode = MetaModeOf(m.mode);
        req.cas = m.compare_cas.value_or(0);
        req.ttl_ms = NativeTtlMs(m.ttl.value_or(0), wall);
      } else if (cmd.op == Op::kMetaDelete && m.compare_cas) {
        req.op = protocol::Op::kSetx;  // a delete checked against the cas at the owner
        req.mode = WriteMode::kDelete;
        req.cas = *m.compare_cas;
      } else if (cmd.op == Op::kMetaDelete) {
        req.op = protocol::Op::kDel;
      } else {
        req.op = protocol::Op::kIncr;
        req.delta = m.delta.value_or(1);
        req.decr = m.mode == 'D' || m.mode == 'd' || m.mode == '-';
        if (m.vivify_ttl) {
          req.initial = m.initial.value_or(0);
          req.ttl_ms = NativeTtlMs(*m.vivify_ttl, wall);
        }
      }
      break;
    }
    case Op::kFlushAll:
    case Op::kMetaDebug:
    default: {
      // No mesh-wide counterpart: memcached's answer to a command it lacks.
      std::string text;
      memcache::AppendReply(&text, Reply::kError);
      return answer(std::move(text));
    }
  }
  SubmitNative(c, slot, std::move(req));
}

void MemcacheDoor::FormatReply(const Slot& slot, std::string_view body, std::string* out) const {
  Result<protocol::Reply> r = protocol::DecodeReply(body, slot.native, reply_limits_);
  if (!r.ok()) {
    if (!slot.noreply) memcache::AppendServerError(out, "bad reply from the mesh");
    return;
  }
  if (r->status == protocol::ReplyStatus::kErr) {
    if (!slot.noreply) AppendNativeError(*r, out);
    return;
  }
  if (memcache::IsMeta(slot.op)) return FormatMeta(slot, *r, out);
  if (!slot.noreply) FormatNative(slot, *r, out);
}

void MemcacheDoor::FormatNative(const Slot& slot, const protocol::Reply& r,
                                std::string* out) const {
  const bool miss = r.status == protocol::ReplyStatus::kMiss;
  switch (slot.op) {
    case Op::kGet:
    case Op::kGets:
    case Op::kGat:
    case Op::kGats: {
      for (size_t i = 0; i < slot.keys.size() && i < r.entries.size(); ++i) {
        if (r.entries[i]) AppendFound(out, slot.op, slot.keys[i], FoundOf(*r.entries[i]));
      }
      return memcache::AppendReply(out, Reply::kEnd);
    }
    case Op::kDelete:
      return memcache::AppendReply(out, !miss && r.existed ? Reply::kDeleted : Reply::kNotFound);
    case Op::kTouch:
      return memcache::AppendReply(out, !miss && r.existed ? Reply::kTouched : Reply::kNotFound);
    case Op::kIncr:
    case Op::kDecr:
      if (!miss && r.outcome == WriteOutcome::kStored) return memcache::AppendNumber(out, r.number);
      if (!miss && r.outcome == WriteOutcome::kNonNumeric) {
        return memcache::AppendClientError(out, kNonNumeric);
      }
      return memcache::AppendReply(out, Reply::kNotFound);
    case Op::kStats:
      return AppendStats(r.stats, out);
    default:  // set ... cas
      return memcache::AppendReply(out, miss ? Reply::kNotFound : WriteReply(r.outcome));
  }
}

void MemcacheDoor::FormatMeta(const Slot& slot, const protocol::Reply& r, std::string* out) const {
  using memcache::MetaStatus;
  const bool miss = r.status == protocol::ReplyStatus::kMiss;
  memcache::MetaItem item;
  item.key = slot.keys[0];
  switch (slot.op) {
    case Op::kMetaGet: {
      const bool hit = !miss && !r.entries.empty() && r.entries[0].has_value();
      if (!hit) return AppendMetaFound(out, slot.meta, slot.keys[0], nullptr);
      const Found found = FoundOf(*r.entries[0]);
      return AppendMetaFound(out, slot.meta, slot.keys[0], &found);
    }
    case Op::kMetaSet:
      item.cas = r.cas;
      return memcache::AppendMeta(
          out, slot.op, miss ? MetaStatus::kNotFound : MetaWriteStatus(r.outcome), slot.meta, item);
    case Op::kMetaDelete: {
      MetaStatus status = !miss && r.existed ? MetaStatus::kHeader : MetaStatus::kNotFound;
      if (slot.native == protocol::Op::kSetx && !miss) {
        // C: a newer write than the cas, or one that got there first, is EX.
        status = r.outcome == WriteOutcome::kNotStored ? MetaStatus::kExists
                                                       : MetaWriteStatus(r.outcome);
      }
      return memcache::AppendMeta(out, slot.op, status, slot.meta, item);
    }
    default: {  // ma
      if (!miss && r.outcome == WriteOutcome::kNonNumeric) {
        return memcache::AppendClientError(out, kNonNumeric);
      }
      if (miss || r.outcome != WriteOutcome::kStored) {
        return memcache::AppendMeta(out, slot.op, MetaWriteStatus(r.outcome), slot.meta, item);
      }
      item.cas = r.cas;
      const std::string number = std::to_string(r.number);
      const bool value = slot.meta.Has('v');
      item.size = number.size();
      return memcache::AppendMeta(out, slot.op, value ? MetaStatus::kValue : MetaStatus::kHeader,
                                  slot.meta, item, number);
    }
  }
}

void MemcacheDoor::AppendStats(const protocol::StatList& native, std::string* out) const {
  // memcached's names for what the mesh counts alike, then every native
  // stat as meshcache_<name> (the door's own counters among them).
  static const std::pair<std::string_view, std::string_view> kNames[] = {
      {"uptime_s", "uptime"},
      {"version", "version"},
      {"gets", "cmd_get"},
      {"sets", "cmd_set"},
      {"hits", "get_hits"},
      {"misses", "get_misses"},
      {"items", "curr_items"},
      {"bytes", "bytes"},
      {"limit_bytes", "limit_maxbytes"},
      {"evictions", "evictions"},
      {"expired", "expired_unfetched"},
  };
  const auto text = protocol::StatsAsText(native);
  memcache::AppendStat(out, "pid", static_cast<uint64_t>(::getpid()));
  memcache::AppendStat(out, "time", static_cast<uint64_t>(clock_->WallMs() / 1000));
  for (const auto& [from, to] : kNames) {
    for (const auto& [name, value] : text) {
      if (name == from) memcache::AppendStat(out, to, value);
    }
  }
  memcache::AppendStat(out, "curr_connections", stats_.curr_connections);
  memcache::AppendStat(out, "total_connections", stats_.connections);
  memcache::AppendStat(out, "rejected_connections", stats_.refused);
  memcache::AppendStat(out, "threads", uint64_t{1});
  std::string name;
  for (const auto& [native_name, value] : text) {
    if (value.find_first_of(" \r\n") != std::string::npos) continue;  // one token per STAT
    name = "meshcache_";
    name += native_name;
    memcache::AppendStat(out, name, value);
  }
  memcache::AppendReply(out, Reply::kEnd);
}

}  // namespace meshcache::node
