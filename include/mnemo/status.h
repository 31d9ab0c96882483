// mnemo/status.h: how mnemo reports errors that come from outside the program.
//
// Untrusted input (files, command lines, network requests, a full disk) yields a Status or an
// Expected<T>; internal invariants use MNEMO_CHECK (base/check.h) and abort. Messages follow one
// convention so that the CLI can print them unchanged after "mnemo: error: ":
//
//     "<subject>: <what was expected>, <what was found>"
//
// where <subject> is a file path (with the field when there is one), a flag or a URL.
// No std::expected (C++23) and no std::format: this header must build with clang-14/libstdc++ 12.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace mnemo {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // a caller's argument or option is wrong (CLI exit code 2)
  kNotFound,         // a file, key or id does not exist
  kIoError,          // the OS refused a read, write, map or sync
  kCorrupt,          // a file or message breaks its format
  kUnsupported,      // well-formed but not handled (a tensor type, an architecture)
  kOutOfRange,       // a count, length or position beyond a limit
  kResourceExhausted,  // memory or disk budget exceeded
  kInternal,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<prefix>: <message>".
  Status with_context(const std::string& prefix) const {
    if (is_ok()) return *this;
    return Status(code_, prefix + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status out_of_range(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or the Status that explains its absence.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).is_ok() && "Expected built from an ok Status");
  }

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; an ok Status when a value is held.
  Status status() const { return has_value() ? Status() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mnemo

#define MNEMO_STATUS_CONCAT_INNER(a, b) a##b
#define MNEMO_STATUS_CONCAT(a, b) MNEMO_STATUS_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` is not ok.
#define MNEMO_RETURN_IF_ERROR(expr)                       \
  do {                                                    \
    ::mnemo::Status mnemo_status_ = (expr);               \
    if (!mnemo_status_.is_ok()) return mnemo_status_;     \
  } while (0)

// MNEMO_ASSIGN_OR_RETURN(auto x, expected_expr): binds the value or returns the error.
#define MNEMO_ASSIGN_OR_RETURN(lhs, expr) \
  MNEMO_ASSIGN_OR_RETURN_IMPL(MNEMO_STATUS_CONCAT(mnemo_expected_, __LINE__), lhs, expr)
#define MNEMO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.has_value()) return tmp.status();        \
  lhs = std::move(tmp).value()
