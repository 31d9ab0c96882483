// chat/jinja_strings.h: Python's str methods over UTF-8 (case changes are ASCII-only; lengths,
// indices and strip sets count code points).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_value.h"

namespace mnemo::jinja {

using StringMethod = Expected<Value> (*)(Renderer&, const Value& self, const CallArgs& args);

// The method `name` of str, or nullptr.
const StringMethod* find_string_method(std::string_view name);

// str.strip/lstrip/rstrip: `chars` empty strips whitespace, else any of its code points.
std::string strip(std::string_view s, std::string_view chars, bool left, bool right);
// Jinja2's escape(): & < > " ' as &amp; &lt; &gt; &#34; &#39;.
std::string html_escape(std::string_view s);
std::string ascii_lower(std::string_view s);
std::string ascii_upper(std::string_view s);
std::string title_case(std::string_view s);   // str.title()
std::string capitalize(std::string_view s);   // str.capitalize()
// str.replace(old, new, count) (count < 0: all); kOutOfRange past max_bytes.
Expected<std::string> replace(std::string_view s, std::string_view from, std::string_view to, int64_t count,
                              uint64_t max_bytes);
// str.split(sep, maxsplit): sep empty splits on whitespace runs and drops empty parts.
std::vector<std::string> split(std::string_view s, std::string_view sep, int64_t maxsplit);

}  // namespace mnemo::jinja
