#include "node/jobs.h"

#include <algorithm>

#include "protocol/codec.h"

namespace meshcache::node {

using protocol::Op;

uint64_t JobTable::Add(net::Frames envelope, Op op, uint64_t client_id, size_t slots,
                       size_t outstanding, bool forwarded) {
  uint64_t id = next_id_++;
  auto [it, fresh] = jobs_.try_emplace(id);
  Job& job = it->second;
  job.envelope = std::move(envelope);
  job.op = op;
  job.client_id = client_id;
  job.slots.resize(slots);
  if (op == Op::kGets) job.metas.resize(slots);
  job.outstanding = outstanding;
  job.forwarded = forwarded;
  if (clock_ != nullptr) job.started_us = clock_->NowUs();
  if (outstanding == 0) Finish(it);
  return id;
}

void JobTable::Fill(uint64_t id, size_t slot, std::optional<Value> value, int64_t ttl_left_ms) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  if (slot < it->second.slots.size()) it->second.slots[slot] = std::move(value);
  if (slot == 0) it->second.ttl_left_ms = ttl_left_ms;
  Settle(id, 1);
}

void JobTable::Fill(uint64_t id, size_t slot, std::optional<Value> value, const EntryMeta& meta) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  Job& job = it->second;
  if (slot < job.metas.size()) job.metas[slot] = meta;
  if (slot < job.slots.size()) job.slots[slot] = std::move(value);
  if (slot == 0) job.ttl_left_ms = meta.ttl_left_ms;
  Settle(id, 1);
}

void JobTable::Fail(uint64_t id, Status status, size_t count) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  if (it->second.error.ok()) it->second.error = std::move(status);
  Settle(id, count);
}

void JobTable::Existed(uint64_t id, bool existed) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  it->second.existed = existed;
  Settle(id, 1);
}

void JobTable::Written(uint64_t id, protocol::WriteOutcome outcome, uint64_t cas, uint64_t number) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  it->second.outcome = outcome;
  it->second.cas = cas;
  it->second.number = number;
  Settle(id, 1);
}

void JobTable::Settle(uint64_t id, size_t count) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  Job& job = it->second;
  job.outstanding -= std::min(job.outstanding, count);
  if (job.outstanding == 0) Finish(it);
}

void JobTable::FailAll(const Status& status) {
  for (auto& [id, job] : jobs_) {
    reply_(job.envelope, protocol::EncodeError(job.client_id, status.code(), status.message()));
  }
  jobs_.clear();
}

void JobTable::Finish(std::unordered_map<uint64_t, Job>::iterator it) {
  Job job = std::move(it->second);
  jobs_.erase(it);
  if (lookups_ != nullptr && clock_ != nullptr && (job.op == Op::kGet || job.op == Op::kMget)) {
    lookups_->Record(clock_->NowUs() - job.started_us);
  }
  reply_(job.envelope, ReplyBody(job));
}

std::string JobTable::ReplyBody(const Job& job) {
  if (!job.error.ok()) {
    return protocol::EncodeError(job.client_id, job.error.code(), job.error.message());
  }
  switch (job.op) {
    case Op::kGet: {
      std::optional<uint64_t> ttl;
      if (job.forwarded && job.ttl_left_ms >= 0) ttl = static_cast<uint64_t>(job.ttl_left_ms);
      return job.slots[0] ? protocol::EncodeValue(job.client_id, job.slots[0]->view(), ttl)
                          : protocol::EncodeMiss(job.client_id);
    }
    case Op::kMget: {
      std::vector<std::optional<std::string_view>> values;
      values.reserve(job.slots.size());
      for (const auto& v : job.slots) {
        values.push_back(v ? std::optional<std::string_view>(v->view()) : std::nullopt);
      }
      return protocol::EncodeValues(job.client_id, values);
    }
    case Op::kDel:
    case Op::kTouch:
      return protocol::EncodeExisted(job.client_id, job.existed);
    case Op::kGets:
      return EntriesBody(job);
    case Op::kSetx:
      return protocol::EncodeWritten(job.client_id, job.outcome, job.cas);
    case Op::kIncr:
      return protocol::EncodeWritten(job.client_id, job.outcome, job.cas, job.number);
    default:
      return protocol::EncodeOk(job.client_id);
  }
}

std::string JobTable::EntriesBody(const Job& job) {
  std::vector<std::optional<protocol::ValueMeta>> entries(job.slots.size());
  for (size_t i = 0; i < job.slots.size(); ++i) {
    if (!job.slots[i]) continue;
    const EntryMeta& m = job.metas[i];
    const uint64_t ttl = m.ttl_left_ms > 0 ? static_cast<uint64_t>(m.ttl_left_ms) : 0;
    entries[i] = protocol::ValueMeta{std::string(job.slots[i]->view()), m.flags, m.version, ttl};
  }
  return protocol::EncodeEntries(job.client_id, entries);
}

}  // namespace meshcache::node
