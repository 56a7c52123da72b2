#include "membership/membership.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <utility>

#include "util/hash.h"

namespace meshcache {

namespace {

bool Final(NodeState s) { return s == NodeState::kDead || s == NodeState::kLeft; }

// Merge precedence at equal incarnation, from NodeState's order except that
// dead and left rank equal, so the one held first stays.
int Rank(NodeState s) { return Final(s) ? 2 : static_cast<int>(s); }

void Append(std::vector<MemberChange>& out, std::vector<MemberChange> more) {
  for (auto& c : more) out.push_back(std::move(c));
}

}  // namespace

Membership::Membership(MemberInfo self, const MembershipOptions& options, const Clock* clock)
    : self_id_(self.id), options_(options), clock_(clock) {
  assert(self.state == NodeState::kAlive);
  self.incarnation = std::min(self.incarnation, kMaxIncarnation);
  const int64_t now = clock_->NowMs();
  members_.emplace(self_id_, MemberEntry{std::move(self), now, now});
}

std::vector<MemberChange> Membership::Merge(const MemberInfo& entry, std::string_view from) {
  return Apply(entry, Source::kGossip, from);
}

std::vector<MemberChange> Membership::MergeAll(const std::vector<MemberInfo>& entries,
                                               std::string_view from) {
  std::vector<MemberChange> out;
  for (const MemberInfo& e : entries) Append(out, Merge(e, from));
  return out;
}

std::vector<MemberChange> Membership::HeardFrom(const MemberInfo& sender) {
  return Apply(sender, Source::kHeartbeat);
}

std::vector<MemberChange> Membership::Answered(const MemberInfo& member) {
  return Apply(member, Source::kAnswer);
}

std::vector<MemberChange> Membership::Apply(const MemberInfo& entry, Source source,
                                            std::string_view from) {
  const bool heard = source != Source::kGossip;
  const bool heartbeat = source == Source::kHeartbeat;
  std::vector<MemberChange> out;
  if (!Plausible(entry)) {
    ++refused_;
    return out;
  }
  if (entry.id == self_id_) {
    AboutSelf(entry);
    return out;
  }
  auto it = members_.find(entry.id);
  if (it == members_.end()) {
    // A member nobody lists any more would come back as a zombie.
    if (Final(entry.state)) return out;
    if (members_.size() >= options_.max_members) {
      ++refused_;
      return out;
    }
    Add(entry, out);
    if (heartbeat && !out.empty()) members_.at(entry.id).last_direct_ms = clock_->NowMs();
    return out;
  }
  MemberEntry& e = it->second;
  if (entry.incarnation < e.info.incarnation) return out;  // stale
  if (entry.incarnation > e.info.incarnation) {
    TakeNewer(e, entry, out);
  } else if (!heard && Hearsay(e, entry)) {
    return out;
  } else if (Rank(entry.state) > Rank(e.info.state)) {
    SetState(e, entry.state, out);
  }
  if (!heard && e.info.state == NodeState::kSuspect && entry.state != NodeState::kAlive &&
      entry.incarnation == e.info.incarnation) {
    Accused(e, from);
  }
  if (heard) e.last_heard_ms = clock_->NowMs();
  if (heartbeat) e.last_direct_ms = e.last_heard_ms;
  return out;
}

bool Membership::Plausible(const MemberInfo& entry) {
  if (entry.incarnation > kMaxIncarnation) return false;
  return entry.state == NodeState::kAlive || entry.incarnation < kMaxIncarnation;
}

bool Membership::Hearsay(const MemberEntry& e, const MemberInfo& entry) const {
  const bool accusation = entry.state == NodeState::kSuspect || entry.state == NodeState::kDead;
  return accusation && e.info.state == NodeState::kAlive &&
         clock_->NowMs() - e.last_direct_ms < options_.suspect_ms;
}

void Membership::AboutSelf(const MemberInfo& entry) {
  MemberInfo& me = members_.at(self_id_).info;
  if (me.state == NodeState::kLeft) return;
  digest_.reset();
  if (entry.state != NodeState::kAlive && entry.incarnation >= me.incarnation) {
    me.incarnation = entry.incarnation + 1;
    if (entry.state == NodeState::kDead) ++deaths_refuted_;
  } else if (entry.incarnation > me.incarnation) {
    // The mesh holds us alive at an incarnation we forgot (a restart with a
    // slow clock): catch up, or our heartbeats would all look stale.
    me.incarnation = entry.incarnation;
  }
}

void Membership::Accused(MemberEntry& e, std::string_view by) {
  if (by.empty() || by == self_id_ || by == e.info.id) return;
  if (e.accusers.size() >= kConfirmations) return;
  if (std::find(e.accusers.begin(), e.accusers.end(), by) != e.accusers.end()) return;
  e.accusers.emplace_back(by);
}

int64_t Membership::DeadAfterMs(size_t accusers) const {
  const auto window = static_cast<double>(options_.dead_ms - options_.suspect_ms);
  const double longest = window * std::max(1.0, std::log10(static_cast<double>(members_.size())));
  const double confirmed = std::log(static_cast<double>(std::min(accusers, kConfirmations)) + 1) /
                           std::log(static_cast<double>(kConfirmations) + 1);
  const double stretched = std::max(window, longest - (longest - window) * confirmed);
  return options_.suspect_ms + static_cast<int64_t>(std::ceil(stretched));
}

void Membership::Add(const MemberInfo& entry, std::vector<MemberChange>& out) {
  const int64_t now = clock_->NowMs();
  MemberEntry& e = members_.emplace(entry.id, MemberEntry{entry, now, now}).first->second;
  e.watched = watch_all_;
  digest_.reset();
  out.push_back({entry.id, std::nullopt, entry.state});
  ++epoch_;
}

void Membership::TakeNewer(MemberEntry& e, const MemberInfo& entry,
                           std::vector<MemberChange>& out) {
  const NodeState before = e.info.state;
  // New endpoints, or a new key (a restart with another key pair): peers
  // must connect afresh.
  const bool moved = e.info.service != entry.service || e.info.gossip != entry.gossip ||
                     e.info.curve_key != entry.curve_key;
  const int64_t now = clock_->NowMs();
  // Only the member raises its incarnation, so a higher one is news from it.
  e.last_heard_ms = now;
  if (entry.state != before) e.state_since_ms = now;
  e.info = entry;
  e.accusers.clear();  // a new incarnation: old accusations are void
  digest_.reset();
  if (moved || entry.state != before) {
    out.push_back({entry.id, before, entry.state});
    ++epoch_;
  }
}

void Membership::SetState(MemberEntry& e, NodeState s, std::vector<MemberChange>& out) {
  out.push_back({e.info.id, e.info.state, s});
  if (s != NodeState::kSuspect) e.accusers.clear();
  e.info.state = s;
  digest_.reset();
  e.state_since_ms = clock_->NowMs();
  ++epoch_;
}

void Membership::Watch(const std::vector<std::string>& ids) {
  const int64_t now = clock_->NowMs();
  for (auto& [id, e] : members_) {
    const bool watched = std::find(ids.begin(), ids.end(), id) != ids.end();
    if (watched && !e.watched) e.last_heard_ms = std::max(e.last_heard_ms, now);
    e.watched = watched;
  }
  watch_all_ = false;
}

void Membership::RestartTimers() {
  const int64_t now = clock_->NowMs();
  for (auto& [id, e] : members_) e.last_heard_ms = std::max(e.last_heard_ms, now);
}

std::vector<MemberChange> Membership::Tick() {
  std::vector<MemberChange> out;
  const int64_t now = clock_->NowMs();
  for (auto it = members_.begin(); it != members_.end();) {
    MemberEntry& e = it->second;
    const bool other = it->first != self_id_;  // a node never judges itself
    if (other && Final(e.info.state)) {
      if (now - e.state_since_ms >= options_.forget_ms) {
        out.push_back({it->first, e.info.state, std::nullopt});
        ++epoch_;
        digest_.reset();
        it = members_.erase(it);
        continue;
      }
    } else if (other && e.watched) {
      const int64_t silent = now - e.last_heard_ms;
      if (silent >= DeadAfterMs(e.accusers.size())) {
        SetState(e, NodeState::kDead, out);
      } else if (silent >= options_.suspect_ms && e.info.state == NodeState::kAlive) {
        SetState(e, NodeState::kSuspect, out);
      }
    }
    ++it;
  }
  return out;
}

std::vector<MemberChange> Membership::Leave() {
  std::vector<MemberChange> out;
  MemberEntry& me = members_.at(self_id_);
  if (me.info.state != NodeState::kLeft) SetState(me, NodeState::kLeft, out);
  return out;
}

const MemberInfo& Membership::self() const { return members_.at(self_id_).info; }

std::vector<MemberInfo> Membership::Snapshot() const {
  std::vector<MemberInfo> out;
  out.reserve(members_.size());
  for (const auto& [id, e] : members_) out.push_back(e.info);
  return out;
}

const MemberEntry* Membership::Find(std::string_view id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

uint32_t Membership::Digest() const {
  if (digest_) return *digest_;
  std::string bytes;
  for (const auto& [id, e] : members_) {
    bytes.append(id);
    bytes.push_back('\0');
    for (int shift = 0; shift < 64; shift += 8) {
      bytes.push_back(static_cast<char>((e.info.incarnation >> shift) & 0xff));
    }
    bytes.push_back(static_cast<char>(e.info.state));
  }
  digest_ = Xxh32(bytes);
  return *digest_;
}

size_t Membership::AlivePeers() const {
  size_t n = 0;
  for (const auto& [id, e] : members_) n += id != self_id_ && e.info.state == NodeState::kAlive;
  return n;
}

}  // namespace meshcache
