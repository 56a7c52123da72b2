// Status and Result: errors as values at every module boundary.
//
// A Status is either ok or carries a Code and a message. The codes mirror the
// wire protocol's error codes (docs/protocol.md) plus a few local ones, so a
// Status can travel to a client unchanged. A miss is never an error: APIs that
// can miss return an empty std::optional inside an ok Result.
//
// Thread safety: values; copy freely.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace meshcache {

enum class Code {
  kOk = 0,
  kBadRequest,       // wire: bad_request
  kTooLarge,         // wire: too_large
  kUnavailable,      // wire: unavailable
  kTimeout,          // wire: timeout
  kLoadFailed,       // wire: load_failed
  kOverloaded,       // wire: overloaded
  kInvalidArgument,  // local: a bad option or argument given through the API
  kIoError,          // local: a socket could not be bound or reached
  kInternal,         // local: a broken invariant
};

// The wire name of a code ("bad_request", ...); local codes have names too.
const char* CodeName(Code code);
// Inverse of CodeName; an unknown name gives kInternal.
Code CodeFromName(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(Code code, std::string message) { return Status(code, std::move(message)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ok" or "<code name>: <message>".
  std::string ToString() const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result needs a value or an error");
  }

  bool ok() const { return v_.index() == 0; }
  // REQUIRES: ok()
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  // Ok when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace meshcache
