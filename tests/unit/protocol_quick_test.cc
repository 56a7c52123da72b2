// The node's fast path for a plain get: DecodeQuickGet reads exactly the
// gets DecodeRequest reads, the same way, and leaves every other body to it;
// EncodeValueTo writes EncodeValue's bytes.
#include <catch2/catch.hpp>
#include <cstdint>
#include <msgpack.hpp>
#include <random>
#include <string>
#include <vector>

#include "protocol/codec.h"

using namespace meshcache;
using namespace meshcache::protocol;

namespace {

struct Sink {
  std::string data;
  void write(const char* b, size_t n) { data.append(b, n); }
};

// ["get", id, key] with the key as str (as a client may send it).
std::string GetWithStrKey(uint64_t id, const std::string& key) {
  Sink s;
  msgpack::packer<Sink> p(s);
  p.pack_array(3);
  p.pack(std::string("get"));
  p.pack(id);
  p.pack(key);
  return s.data;
}

// Checks that both decoders agree on body: where the quick one reads a get,
// the full one reads the same get; returns whether the quick one did.
bool Agree(const std::string& body, const Limits& limits) {
  std::optional<QuickGet> quick = DecodeQuickGet(body, limits);
  if (!quick) return false;
  DecodedRequest full = DecodeRequest(body, limits);
  REQUIRE(full.status.ok());
  REQUIRE(full.request.op == Op::kGet);
  REQUIRE(full.request.id == quick->id);
  REQUIRE(full.request.keys == std::vector<std::string>{std::string(quick->key)});
  return true;
}

}  // namespace

TEST_CASE("the quick decoder reads every plain get as the full decoder does", "[protocol]") {
  Limits limits;
  limits.max_key_bytes = 70'000;
  const std::vector<uint64_t> ids = {0,      1,      127,        128,        255,       256,
                                     65'535, 65'536, UINT32_MAX, 1ull << 32, UINT64_MAX};
  const std::vector<size_t> sizes = {0, 1, 31, 32, 255, 256, 65'535, 65'536};
  for (uint64_t id : ids) {
    for (size_t n : sizes) {
      const std::string key(n, 'k');
      INFO("id " << id << ", key of " << n);
      CHECK(Agree(EncodeRequest({.op = Op::kGet, .id = id, .keys = {key}}), limits));
      CHECK(Agree(GetWithStrKey(id, key), limits));
    }
  }
}

TEST_CASE("the quick decoder leaves every other body to the full decoder", "[protocol]") {
  const Limits limits;
  const std::string get = EncodeRequest({.op = Op::kGet, .id = 7, .keys = {"k"}});
  REQUIRE(Agree(get, limits));
  CHECK_FALSE(DecodeQuickGet(get + "x", limits));                      // trailing byte
  CHECK_FALSE(DecodeQuickGet(get.substr(0, get.size() - 1), limits));  // cut short
  CHECK_FALSE(DecodeQuickGet(EncodeRequest({.op = Op::kMget, .id = 7, .keys = {"k"}}), limits));
  CHECK_FALSE(DecodeQuickGet(EncodeRequest({.op = Op::kDel, .id = 7, .keys = {"k"}}), limits));
  Sink s;
  msgpack::packer<Sink> p(s);
  p.pack_array(3);
  p.pack(std::string("get"));
  p.pack(int64_t{-1});  // a negative id: the full decoder's bad_request
  p.pack(std::string("k"));
  CHECK_FALSE(DecodeQuickGet(s.data, limits));
  CHECK(DecodeRequest(s.data, limits).status.code() == Code::kBadRequest);
  Sink four;
  msgpack::packer<Sink> q(four);
  q.pack_array(4);  // an extra element the node ignores: still a get, but not the quick one's
  q.pack(std::string("get"));
  q.pack(1);
  q.pack(std::string("k"));
  q.pack(1);
  CHECK_FALSE(DecodeQuickGet(four.data, limits));
  Limits small;
  small.max_key_bytes = 4;
  const std::string long_key = EncodeRequest({.op = Op::kGet, .id = 1, .keys = {"12345"}});
  CHECK_FALSE(DecodeQuickGet(long_key, small));  // too_large, with the full decoder's message
  CHECK(DecodeRequest(long_key, small).status.code() == Code::kTooLarge);
  CHECK(Agree(EncodeRequest({.op = Op::kGet, .id = 1, .keys = {"1234"}}), small));
}

TEST_CASE("the quick decoder agrees with the full one on mutated bodies", "[protocol]") {
  Limits limits;
  limits.max_key_bytes = 40;
  std::mt19937_64 rng(42);
  const std::vector<std::string> seeds = {
      EncodeRequest({.op = Op::kGet, .id = 300, .keys = {"key:00000001"}}),
      EncodeRequest({.op = Op::kGet, .id = 1ull << 40, .keys = {std::string(33, 'x')}}),
      GetWithStrKey(5, "str-key")};
  size_t quick = 0;
  for (int i = 0; i < 200'000; ++i) {
    std::string body = seeds[i % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % body.size();
      const std::string byte(1, static_cast<char>(rng()));
      switch (rng() % 3) {
        case 0:
          body = body.substr(0, at) + byte + body.substr(at + 1);
          break;  // replace
        case 1:
          body = body.substr(0, at) + body.substr(at + 1);
          break;  // drop
        default:
          body = body.substr(0, at) + byte + body.substr(at);
          break;  // insert
      }
      if (body.empty()) body = "\x93";
    }
    quick += Agree(body, limits);
  }
  CHECK(quick > 0);  // some mutations still read as gets (ids, key bytes)
}

namespace {

// As Agree, for mgets.
bool AgreeMget(const std::string& body, const Limits& limits) {
  QuickMget quick;
  if (!DecodeQuickMget(body, limits, &quick)) return false;
  DecodedRequest full = DecodeRequest(body, limits);
  REQUIRE(full.status.ok());
  REQUIRE(full.request.op == Op::kMget);
  REQUIRE(full.request.id == quick.id);
  REQUIRE(std::vector<std::string>(quick.keys.begin(), quick.keys.end()) == full.request.keys);
  return true;
}

std::vector<std::string> Keys(size_t n, size_t size) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < n; ++i) keys.push_back(std::string(size, static_cast<char>('a' + i % 26)));
  return keys;
}

}  // namespace

TEST_CASE("the quick mget decoder reads mgets as the full decoder does, and no more",
          "[protocol]") {
  Limits limits;
  limits.max_mget_keys = 20'000;
  for (size_t n : std::vector<size_t>{1, 15, 16, 17, 65'535 / 4, 20'000}) {
    for (size_t size : std::vector<size_t>{0, 12, 40}) {
      INFO(n << " keys of " << size);
      CHECK(AgreeMget(EncodeRequest({.op = Op::kMget, .id = 9, .keys = Keys(n, size)}), limits));
    }
  }
  const std::string mget = EncodeRequest({.op = Op::kMget, .id = 9, .keys = Keys(3, 5)});
  QuickMget q;
  CHECK_FALSE(DecodeQuickMget(mget + "x", limits, &q));
  CHECK_FALSE(DecodeQuickMget(mget.substr(0, mget.size() - 1), limits, &q));
  CHECK_FALSE(DecodeQuickMget(EncodeRequest({.op = Op::kMget, .id = 9, .keys = {}}), limits, &q));
  Limits two;
  two.max_mget_keys = 2;
  CHECK_FALSE(DecodeQuickMget(mget, two, &q));  // the full decoder's too_large
  CHECK(DecodeRequest(mget, two).status.code() == Code::kTooLarge);
  std::mt19937_64 rng(7);
  size_t quick = 0;
  for (int i = 0; i < 100'000; ++i) {
    std::string body = mget;
    const size_t at = rng() % body.size();
    body = body.substr(0, at) + std::string(1, static_cast<char>(rng())) + body.substr(at + 1);
    quick += AgreeMget(body, limits);
  }
  CHECK(quick > 0);
}

TEST_CASE("EncodeValueTo writes EncodeValue's bytes and reuses its buffer", "[protocol]") {
  std::string out;
  for (uint64_t id : std::vector<uint64_t>{0, 127, 128, 200, 255, 256, 65'535, 65'536, 70000,
                                           UINT32_MAX, 1ull << 32, UINT64_MAX}) {
    for (size_t n : std::vector<size_t>{0, 10, 255, 256, 300, 65'535, 65'536, 70000}) {
      const std::string value(n, 'v');
      EncodeValueTo(&out, id, value);
      CHECK(out == EncodeValue(id, value));
    }
  }
  EncodeValueTo(&out, 1, std::string(1000, 'a'));
  const size_t capacity = out.capacity();
  const char* data = out.data();
  EncodeValueTo(&out, 2, std::string(900, 'b'));
  CHECK(out.capacity() == capacity);
  CHECK(out.data() == data);
  CHECK(out == EncodeValue(2, std::string(900, 'b')));
}

namespace {

// As Agree, for sets and dels.
bool AgreeWrite(const std::string& body, const Limits& limits) {
  std::optional<QuickWrite> quick = DecodeQuickWrite(body, limits);
  if (!quick) return false;
  DecodedRequest full = DecodeRequest(body, limits);
  REQUIRE(full.status.ok());
  REQUIRE(full.request.op == quick->op);
  REQUIRE(full.request.id == quick->id);
  REQUIRE(full.request.keys == std::vector<std::string>{std::string(quick->key)});
  REQUIRE(full.request.value == quick->value);
  REQUIRE(full.request.ttl_ms == quick->ttl_ms);
  return true;
}

// ["set", id, key, value, ttl] with the key and value as str and a nil ttl.
std::string SetWithStrsAndNilTtl(uint64_t id, const std::string& key, const std::string& value) {
  Sink s;
  msgpack::packer<Sink> p(s);
  p.pack_array(5);
  p.pack(std::string("set"));
  p.pack(id);
  p.pack(key);
  p.pack(value);
  p.pack_nil();
  return s.data;
}

}  // namespace

TEST_CASE("the quick write decoder reads sets and dels as the full decoder does", "[protocol]") {
  Limits limits;
  limits.max_key_bytes = 300;
  limits.max_value_bytes = 70'000;
  const std::vector<std::optional<uint64_t>> ttls = {std::nullopt, 0,      1,         127,
                                                     128,          65'536, UINT64_MAX};
  for (uint64_t id : std::vector<uint64_t>{0, 127, 128, 70'000, UINT64_MAX}) {
    for (size_t n : std::vector<size_t>{0, 1, 31, 32, 255, 256, 65'536, 70'000}) {
      const std::string key(std::min<size_t>(n, 300), 'k');
      const std::string value(n, 'v');
      INFO("id " << id << ", value of " << n);
      for (const auto& ttl : ttls) {
        CHECK(AgreeWrite(
            EncodeRequest({.op = Op::kSet, .id = id, .keys = {key}, .value = value, .ttl_ms = ttl}),
            limits));
      }
      CHECK(AgreeWrite(SetWithStrsAndNilTtl(id, key, value), limits));
      CHECK(AgreeWrite(EncodeRequest({.op = Op::kDel, .id = id, .keys = {key}}), limits));
    }
  }
}

TEST_CASE("the quick write decoder leaves every other body to the full decoder", "[protocol]") {
  Limits limits;
  limits.max_key_bytes = 4;
  limits.max_value_bytes = 8;
  const std::string set =
      EncodeRequest({.op = Op::kSet, .id = 3, .keys = {"k"}, .value = "v", .ttl_ms = 5});
  REQUIRE(AgreeWrite(set, limits));
  CHECK_FALSE(DecodeQuickWrite(set + "x", limits));
  CHECK_FALSE(DecodeQuickWrite(set.substr(0, set.size() - 1), limits));
  CHECK_FALSE(DecodeQuickWrite(EncodeRequest({.op = Op::kGet, .id = 3, .keys = {"k"}}), limits));
  const std::string long_value =
      EncodeRequest({.op = Op::kSet, .id = 3, .keys = {"k"}, .value = "123456789"});
  CHECK_FALSE(DecodeQuickWrite(long_value, limits));  // too_large, the full decoder's message
  CHECK(DecodeRequest(long_value, limits).status.code() == Code::kTooLarge);
  const std::string long_key = EncodeRequest({.op = Op::kDel, .id = 3, .keys = {"12345"}});
  CHECK_FALSE(DecodeQuickWrite(long_key, limits));
  CHECK(DecodeRequest(long_key, limits).status.code() == Code::kTooLarge);
  Sink s;
  msgpack::packer<Sink> p(s);
  p.pack_array(5);
  p.pack(std::string("set"));
  p.pack(1);
  p.pack(std::string("k"));
  p.pack(std::string("v"));
  p.pack(int64_t{-5});  // a negative ttl: the full decoder's bad_request
  CHECK_FALSE(DecodeQuickWrite(s.data, limits));
  CHECK(DecodeRequest(s.data, limits).status.code() == Code::kBadRequest);
  std::mt19937_64 rng(11);
  const std::vector<std::string> seeds = {
      set, EncodeRequest({.op = Op::kSet, .id = 1ull << 33, .keys = {"abcd"}, .value = "12345678"}),
      EncodeRequest({.op = Op::kDel, .id = 300, .keys = {"key"}}),
      SetWithStrsAndNilTtl(9, "kk", "vv")};
  size_t quick = 0;
  for (int i = 0; i < 200'000; ++i) {
    std::string body = seeds[i % seeds.size()];
    const size_t at = rng() % body.size();
    const std::string byte(1, static_cast<char>(rng()));
    body = rng() % 2 ? body.substr(0, at) + byte + body.substr(at + 1)
                     : body.substr(0, at) + byte + body.substr(at);
    quick += AgreeWrite(body, limits);
  }
  CHECK(quick > 0);
}

TEST_CASE("EncodeValuesTo writes EncodeValues's bytes and reuses its buffer", "[protocol]") {
  std::string out;
  for (size_t n : std::vector<size_t>{0, 1, 15, 16, 65'535, 65'536, 70'000}) {
    std::vector<std::optional<Value>> values;
    std::vector<std::optional<std::string_view>> views;
    for (size_t i = 0; i < n; ++i) {
      values.push_back(i % 3 == 1 ? std::nullopt
                                  : std::optional(MakeValue(std::string(i % 300, 'v'))));
    }
    for (const auto& v : values) views.push_back(v ? std::optional(v->view()) : std::nullopt);
    INFO(n << " values");
    EncodeValuesTo(&out, n * 1000, values);
    CHECK(out == EncodeValues(n * 1000, views));
  }
  const size_t capacity = out.capacity();
  const char* data = out.data();
  EncodeValuesTo(&out, 1, std::vector<std::optional<Value>>{MakeValue("x"), std::nullopt});
  CHECK(out.capacity() == capacity);
  CHECK(out.data() == data);
}

TEST_CASE("EncodeWrittenTo writes EncodeOk's and EncodeExisted's bytes", "[protocol]") {
  std::string out;
  for (uint64_t id : std::vector<uint64_t>{0, 127, 128, 65'536, UINT64_MAX}) {
    EncodeWrittenTo(&out, id, std::nullopt);
    CHECK(out == EncodeOk(id));
    EncodeWrittenTo(&out, id, true);
    CHECK(out == EncodeExisted(id, true));
    EncodeWrittenTo(&out, id, false);
    CHECK(out == EncodeExisted(id, false));
  }
}
