// chat/chat_builtin.h: the built-in chat formats, as Jinja template text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mnemo::chat {

// The template text of built-in format `name`, or nullptr.
const char* builtin_source(std::string_view name);
std::vector<std::string> builtin_template_names();

}  // namespace mnemo::chat
