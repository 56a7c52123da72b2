// JobTable alone: replies are caught by the reply function and decoded.
#include <algorithm>
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "node/jobs.h"
#include "protocol/codec.h"

using namespace meshcache;
using node::JobTable;
using protocol::Op;
using protocol::ReplyStatus;

namespace {

struct Answer {
  std::string envelope;  // the envelope's frames joined with '|'
  std::string body;
};

// A job table whose replies are recorded in order.
struct Table {
  std::vector<Answer> answers;
  JobTable jobs{[this](net::Frames& envelope, const std::string& body) {
    std::string joined;
    for (const auto& f : envelope)
      joined += (joined.empty() ? "" : "|") + std::string(net::View(f));
    answers.push_back({joined, body});
  }};

  uint64_t Add(const std::string& client, Op op, uint64_t client_id, size_t slots,
               size_t outstanding, bool forwarded = false) {
    net::Frames envelope;
    envelope.push_back(net::Frame(client));
    envelope.emplace_back();
    return jobs.Add(std::move(envelope), op, client_id, slots, outstanding, forwarded);
  }
  protocol::Reply Decoded(size_t i, Op op) const {
    auto r = protocol::DecodeReply(answers.at(i).body, op, protocol::Limits{});
    REQUIRE(r.ok());
    return *r;
  }
};

std::optional<Value> V(std::string_view s) { return MakeValue(s); }

}  // namespace

TEST_CASE("jobs answer an mget in request order when slots fill out of order", "[node][jobs]") {
  Table t;
  uint64_t id = t.Add("client-a", Op::kMget, 42, 3, 3);
  t.jobs.Fill(id, 2, V("third"));
  t.jobs.Fill(id, 0, V("first"));
  CHECK(t.answers.empty());
  t.jobs.Fill(id, 1, std::nullopt);
  REQUIRE(t.answers.size() == 1);
  CHECK(t.answers[0].envelope == "client-a|");
  protocol::Reply r = t.Decoded(0, Op::kMget);
  CHECK(r.status == ReplyStatus::kOk);
  CHECK(r.id == 42);
  REQUIRE(r.values.size() == 3);
  CHECK(r.values[0] == std::optional<std::string>("first"));
  CHECK(r.values[1] == std::nullopt);
  CHECK(r.values[2] == std::optional<std::string>("third"));
  CHECK(t.jobs.empty());
}

TEST_CASE("jobs answer the first error, once", "[node][jobs]") {
  Table t;
  uint64_t id = t.Add("c", Op::kMget, 7, 3, 3);
  t.jobs.Fail(id, Status::Error(Code::kTimeout, "first failure"), 1);
  t.jobs.Fail(id, Status::Error(Code::kUnavailable, "second failure"), 1);
  CHECK(t.answers.empty());  // one slot still outstanding
  t.jobs.Fill(id, 2, V("late but fine"));
  REQUIRE(t.answers.size() == 1);
  protocol::Reply r = t.Decoded(0, Op::kMget);
  CHECK(r.status == ReplyStatus::kErr);
  CHECK(r.id == 7);
  CHECK(r.error_code == "timeout");
  CHECK(r.error_message == "first failure");
  t.jobs.Fail(id, Status::Error(Code::kInternal, "after the end"), 1);
  CHECK(t.answers.size() == 1);
}

TEST_CASE("jobs finish exactly when the outstanding count reaches zero", "[node][jobs]") {
  Table t;
  uint64_t id = t.Add("c", Op::kSet, 3, 0, 3);
  t.jobs.Settle(id, 1);
  t.jobs.Settle(id, 1);
  CHECK(t.answers.empty());
  CHECK(t.jobs.size() == 1);
  t.jobs.Settle(id, 1);
  REQUIRE(t.answers.size() == 1);
  CHECK(t.Decoded(0, Op::kSet).status == ReplyStatus::kOk);
  CHECK(t.jobs.empty());

  SECTION("a count past the outstanding one finishes it once") {
    uint64_t id2 = t.Add("c", Op::kSet, 4, 0, 2);
    t.jobs.Settle(id2, 5);
    t.jobs.Settle(id2, 5);
    CHECK(t.answers.size() == 2);
  }
  SECTION("nothing outstanding finishes it at once") {
    t.Add("c", Op::kSet, 5, 0, 0);
    REQUIRE(t.answers.size() == 2);
    CHECK(t.Decoded(1, Op::kSet).id == 5);
    CHECK(t.jobs.empty());
  }
}

TEST_CASE("jobs ignore fills and fails for a finished or unknown id", "[node][jobs]") {
  Table t;
  uint64_t id = t.Add("c", Op::kGet, 1, 1, 1);
  uint64_t other = t.Add("d", Op::kGet, 2, 1, 1);
  CHECK(id != 0);
  CHECK(id != other);
  t.jobs.Fill(id, 0, V("v"));
  REQUIRE(t.answers.size() == 1);
  t.jobs.Fill(id, 0, V("again"));
  t.jobs.Fail(id, Status::Error(Code::kTimeout, "late"), 1);
  t.jobs.Existed(id, true);
  t.jobs.Settle(id, 1);
  t.jobs.Fill(9999, 0, V("nobody"));
  t.jobs.Fail(9999, Status::Error(Code::kTimeout, "nobody"), 1);
  CHECK(t.answers.size() == 1);
  CHECK(t.jobs.size() == 1);  // the other job still waits
  CHECK(t.Decoded(0, Op::kGet).value == "v");
}

TEST_CASE("jobs put ttl_left in a get reply for a forwarded job only", "[node][jobs]") {
  Table t;
  uint64_t fwd = t.Add("peer", Op::kGet, 10, 1, 1, /*forwarded=*/true);
  uint64_t client = t.Add("client", Op::kGet, 11, 1, 1);
  t.jobs.Fill(fwd, 0, V("hot"), 1234);
  t.jobs.Fill(client, 0, V("hot"), 1234);
  REQUIRE(t.answers.size() == 2);
  protocol::Reply to_peer = t.Decoded(0, Op::kGet);
  CHECK(to_peer.value == "hot");
  CHECK(to_peer.ttl_ms == std::optional<uint64_t>(1234));
  protocol::Reply to_client = t.Decoded(1, Op::kGet);
  CHECK(to_client.value == "hot");
  CHECK(to_client.ttl_ms == std::nullopt);

  SECTION("no expiry is sent as 0, an unknown life not at all") {
    uint64_t forever = t.Add("peer", Op::kGet, 12, 1, 1, true);
    uint64_t unknown = t.Add("peer", Op::kGet, 13, 1, 1, true);
    t.jobs.Fill(forever, 0, V("x"), 0);
    t.jobs.Fill(unknown, 0, V("x"));
    CHECK(t.Decoded(2, Op::kGet).ttl_ms == std::optional<uint64_t>(0));
    CHECK(t.Decoded(3, Op::kGet).ttl_ms == std::nullopt);
  }
}

TEST_CASE("jobs answer a get miss as miss", "[node][jobs]") {
  Table t;
  uint64_t id = t.Add("c", Op::kGet, 8, 1, 1, true);
  t.jobs.Fill(id, 0, std::nullopt, 500);
  REQUIRE(t.answers.size() == 1);
  protocol::Reply r = t.Decoded(0, Op::kGet);
  CHECK(r.status == ReplyStatus::kMiss);
  CHECK(r.id == 8);
}

TEST_CASE("jobs settle a del with whether the key existed", "[node][jobs]") {
  Table t;
  uint64_t yes = t.Add("c", Op::kDel, 20, 0, 1);
  uint64_t no = t.Add("c", Op::kDel, 21, 0, 1);
  t.jobs.Existed(yes, true);
  t.jobs.Existed(no, false);
  REQUIRE(t.answers.size() == 2);
  protocol::Reply r0 = t.Decoded(0, Op::kDel);
  protocol::Reply r1 = t.Decoded(1, Op::kDel);
  CHECK(r0.id == 20);
  CHECK(r0.existed);
  CHECK(r1.id == 21);
  CHECK_FALSE(r1.existed);
}

TEST_CASE("jobs FailAll answers every waiting job with the status", "[node][jobs]") {
  Table t;
  t.Add("a", Op::kGet, 1, 1, 1);
  t.Add("b", Op::kMget, 2, 2, 2);
  t.Add("c", Op::kSet, 3, 0, 1);
  t.jobs.FailAll(Status::Error(Code::kUnavailable, "node is stopping"));
  CHECK(t.jobs.empty());
  REQUIRE(t.answers.size() == 3);
  std::vector<std::string> seen;
  for (size_t i = 0; i < t.answers.size(); ++i) {
    auto r = protocol::DecodeReply(t.answers[i].body, Op::kGet, protocol::Limits{});
    REQUIRE(r.ok());
    CHECK(r->status == ReplyStatus::kErr);
    CHECK(r->error_code == "unavailable");
    CHECK(r->error_message == "node is stopping");
    seen.push_back(t.answers[i].envelope + "#" + std::to_string(r->id));
  }
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::string>{"a|#1", "b|#2", "c|#3"});
  t.jobs.FailAll(Status::Error(Code::kUnavailable, "twice"));
  CHECK(t.answers.size() == 3);
}
