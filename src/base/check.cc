#include "base/check.h"

#include "mnemo/status.h"

namespace mnemo {

namespace detail {
void check_failed(const char* file, int line, const char* expr, const char* msg) {
  std::fprintf(stderr, "mnemo: internal error: %s:%d: check failed: %s%s%s\n", file, line, expr,
               msg ? ": " : "", msg ? msg : "");
  std::fflush(stderr);
  std::abort();
}
}  // namespace detail

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kCorrupt: return "corrupt";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kOutOfRange: return "out of range";
    case StatusCode::kResourceExhausted: return "resource exhausted";
    case StatusCode::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace mnemo
