// The peer messages that carry versions: a replica fwd's version and the
// handoff op.
#include <catch2/catch.hpp>
#include <memory>
#include <msgpack.hpp>
#include <string>
#include <vector>

#include "protocol/codec.h"

using namespace meshcache;
using namespace meshcache::protocol;

TEST_CASE("a replica fwd carries the owner's version as a 6th element", "[protocol]") {
  auto inner = std::make_shared<Request>(
      Request{.op = Op::kSet, .id = 1, .keys = {"k"}, .value = "v", .ttl_ms = 0});
  const Request fwd{
      .op = Op::kFwd, .id = 2, .from = "a", .inner = inner, .replica = true, .version = 1234};
  DecodedRequest d = DecodeRequest(EncodeRequest(fwd), Limits{});
  REQUIRE(d.status.ok());
  CHECK(d.request.replica);
  CHECK(d.request.version == 1234);
  CHECK(d.request.inner->value == "v");
  // Without a version the fwd keeps its old five-element form.
  const Request plain{.op = Op::kFwd, .id = 3, .from = "a", .inner = inner, .replica = true};
  DecodedRequest p = DecodeRequest(EncodeRequest(plain), Limits{});
  REQUIRE(p.status.ok());
  CHECK(p.request.version == 0);
}

TEST_CASE("handoff entries round-trip with their ttl and version", "[protocol]") {
  const Request r{.op = Op::kHandoff,
                  .id = 9,
                  .from = "tcp://a:1",
                  .entries = {{"k1", "v1", 1500, 77}, {"k2", std::string(3, '\0'), 0, 78}}};
  DecodedRequest d = DecodeRequest(EncodeRequest(r), Limits{});
  REQUIRE(d.status.ok());
  CHECK(d.request.op == Op::kHandoff);
  CHECK(d.request.from == "tcp://a:1");
  CHECK(d.request.entries == r.entries);
  auto reply = DecodeReply(EncodeOk(9), Op::kHandoff, Limits{});
  REQUIRE(reply.ok());
  CHECK(reply->id == 9);
}

TEST_CASE("handoff refuses bad entries and too many of them", "[protocol]") {
  Limits small;
  small.max_mget_keys = 2;
  const Request three{.op = Op::kHandoff,
                      .id = 4,
                      .from = "a",
                      .entries = {{"a", "1", 0, 1}, {"b", "2", 0, 2}, {"c", "3", 0, 3}}};
  DecodedRequest d = DecodeRequest(EncodeRequest(three), small);
  CHECK(d.status.code() == Code::kTooLarge);
  CHECK(d.request.id == 4);
  Limits tiny_values;
  tiny_values.max_value_bytes = 1;
  const Request big{.op = Op::kHandoff, .id = 5, .from = "a", .entries = {{"a", "12", 0, 1}}};
  CHECK(DecodeRequest(EncodeRequest(big), tiny_values).status.code() == Code::kTooLarge);
  // A handoff cannot ride inside a fwd.
  auto inner = std::make_shared<Request>(big);
  const Request fwd{.op = Op::kFwd, .id = 6, .from = "a", .inner = inner};
  CHECK(DecodeRequest(EncodeRequest(fwd), Limits{}).status.code() == Code::kBadRequest);
}

TEST_CASE("a handed-off delete travels as a nil value", "[protocol]") {
  const Request r{.op = Op::kHandoff,
                  .id = 7,
                  .from = "a",
                  .entries = {{"gone", "", 0, 42, /*deleted=*/true}, {"kept", "v", 0, 43}}};
  DecodedRequest d = DecodeRequest(EncodeRequest(r), Limits{});
  REQUIRE(d.status.ok());
  REQUIRE(d.request.entries.size() == 2);
  CHECK(d.request.entries[0].deleted);
  CHECK(d.request.entries[0].version == 42);
  CHECK_FALSE(d.request.entries[1].deleted);
  CHECK(d.request.entries == r.entries);
}

TEST_CASE("a relayed handoff carries a 5th element, and without it the message is as before",
          "[protocol]") {
  Request r{.op = Op::kHandoff, .id = 8, .from = "a", .entries = {{"k", "v", 0, 5}}};
  DecodedRequest plain = DecodeRequest(EncodeRequest(r), Limits{});
  REQUIRE(plain.status.ok());
  CHECK_FALSE(plain.request.relayed);
  const std::string four = EncodeRequest(r);
  r.relayed = true;
  const std::string five = EncodeRequest(r);
  CHECK(five.size() == four.size() + 1);  // one more element: true
  DecodedRequest d = DecodeRequest(five, Limits{});
  REQUIRE(d.status.ok());
  CHECK(d.request.relayed);
  CHECK(d.request.entries == r.entries);
}

TEST_CASE("a handoff entry carries the client's flags as a 5th element when not 0",
          "[protocol][extensions]") {
  HandoffEntry flagged{"k1", "v1", 1500, 77, /*deleted=*/false, 0xDEADBEEF};
  HandoffEntry plain{"k2", "v2", 0, 78};
  const Request r{.op = Op::kHandoff, .id = 9, .from = "tcp://a:1", .entries = {flagged, plain}};
  const std::string wire = EncodeRequest(r);
  DecodedRequest d = DecodeRequest(wire, Limits{});
  REQUIRE(d.status.ok());
  CHECK(d.request.entries == r.entries);
  // ["handoff", id, from, [entry, ...]]: without flags an entry keeps its
  // four elements, as nodes before the flags read it.
  msgpack::object_handle h = msgpack::unpack(wire.data(), wire.size());
  const msgpack::object& entries = h.get().via.array.ptr[3];
  CHECK(entries.via.array.ptr[0].via.array.size == 5);
  CHECK(entries.via.array.ptr[1].via.array.size == 4);
}
