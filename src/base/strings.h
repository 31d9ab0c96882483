// base/strings.h: printf-style formatting and small string helpers (no std::format on clang-14).
#pragma once

#include <cstdarg>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/util.h"  // str_printf, format_bytes

namespace mnemo {

std::string str_vprintf(const char* fmt, va_list ap);

// Escapes control and non-ASCII bytes as \xNN, for quoting untrusted strings in messages.
// At most max_len input bytes are shown, then "...".
std::string quote_bytes(std::string_view s, size_t max_len = 64);

std::vector<std::string> split(std::string_view s, char sep);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);

// Parses a whole decimal integer; false on junk, overflow or empty input.
bool parse_int64(std::string_view s, int64_t* out);

}  // namespace mnemo
