// Values are shared, immutable byte strings: a store hit hands out a handle
// instead of copying under the shard lock, and a value fetched once can be
// sent to many waiters.
//
// A Value is an intrusive, atomically reference-counted handle. The bytes
// live in one heap block that starts with a Value::Block header; the block
// is freed (::operator delete) when its last reference goes. A standalone
// value from MakeValue is one allocation: the header, then the bytes. An
// owner such as the store may put the header at the start of a larger block
// of its own (everything in it trivially destructible) and hand out handles
// to bytes inside it, which keep the whole block alive.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace meshcache {

class Value {
 public:
  // Starts every block a Value refers to.
  struct Block {
    std::atomic<uint32_t> refs;
    uint32_t size;  // of the value's bytes
  };

  Value() = default;
  Value(std::nullptr_t) {}  // NOLINT: null converts implicitly, as it did for shared_ptr
  Value(const Value& other) : block_(other.block_), data_(other.data_) { Ref(block_); }
  Value(Value&& other) noexcept : block_(other.block_), data_(other.data_) {
    other.block_ = nullptr;
    other.data_ = nullptr;
  }
  Value& operator=(Value other) noexcept {
    std::swap(block_, other.block_);
    std::swap(data_, other.data_);
    return *this;
  }
  // NOLINTNEXTLINE(clang-analyzer-cplusplus.NewDelete): analyzer destroys optional<Value> twice
  ~Value() { Unref(block_); }

  // A new reference to `size` bytes at `data`, inside the block that starts
  // with `block`. REQUIRES: the caller holds a reference while this runs.
  static Value Share(Block* block, const char* data) {
    Ref(block);
    return Value(block, data);
  }
  // Drops one reference; frees the block when it was the last.
  static void Unref(Block* block) {
    if (block != nullptr && block->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      ::operator delete(block);
    }
  }

  size_t size() const { return block_ ? block_->size : 0; }
  const char* data() const { return data_; }
  std::string_view view() const { return {data_, size()}; }
  explicit operator bool() const { return block_ != nullptr; }
  friend bool operator==(const Value& v, std::nullptr_t) { return v.block_ == nullptr; }

 private:
  friend Value MakeValue(std::string_view bytes);
  Value(Block* block, const char* data) : block_(block), data_(data) {}
  static void Ref(Block* block) {
    if (block != nullptr) block->refs.fetch_add(1, std::memory_order_relaxed);
  }

  Block* block_ = nullptr;
  const char* data_ = nullptr;
};

// A standalone value: one allocation holding the header and a copy of bytes.
// REQUIRES: bytes.size() < 2^32.
inline Value MakeValue(std::string_view bytes) {
  void* mem = ::operator new(sizeof(Value::Block) + bytes.size());
  auto* block = new (mem) Value::Block{{1}, static_cast<uint32_t>(bytes.size())};
  char* data = reinterpret_cast<char*>(block + 1);
  if (!bytes.empty()) std::memcpy(data, bytes.data(), bytes.size());
  return Value(block, data);
}

}  // namespace meshcache
