// base/check.h: assertions for internal invariants (never for untrusted input: use Status).
//
// MNEMO_CHECK is always on and aborts with file:line; MNEMO_DCHECK compiles out under NDEBUG and is
// the one to use in hot loops.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace mnemo::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const char* msg);
}  // namespace mnemo::detail

#define MNEMO_CHECK(cond)                                                   \
  do {                                                                      \
    if (!(cond)) ::mnemo::detail::check_failed(__FILE__, __LINE__, #cond, nullptr); \
  } while (0)

#define MNEMO_CHECK_MSG(cond, msg)                                          \
  do {                                                                      \
    if (!(cond)) ::mnemo::detail::check_failed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

#ifdef NDEBUG
#define MNEMO_DCHECK(cond) \
  do {                     \
  } while (false && (cond))
#else
#define MNEMO_DCHECK(cond) MNEMO_CHECK(cond)
#endif
