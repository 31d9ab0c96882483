// chat/chat_json.h: JSON text -> jinja::Value (messages, tools, extra variables from a request).
#pragma once

#include <string_view>

#include "chat/jinja_value.h"

namespace mnemo::chat {

// Parses JSON text into a Value (objects keep their key order). Errors name `subject`: invalid
// JSON, nesting deeper than jinja::kMaxNesting, integers beyond int64 (read as floats).
Expected<jinja::Value> parse_json_value(std::string_view text, std::string_view subject);

}  // namespace mnemo::chat
