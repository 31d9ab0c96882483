#include "net/json_limits.h"

#include "base/strings.h"

namespace mnemo::net {

int json_nesting_depth(std::string_view text, int stop_after) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > deepest) deepest = depth;
        if (deepest > stop_after) return deepest;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return deepest;
}

Status check_json_depth(std::string_view text, const std::string& subject, int max_depth) {
  if (json_nesting_depth(text, max_depth) > max_depth)
    return invalid_argument(str_printf("%s: expected JSON nested at most %d levels deep, got more", subject.c_str(),
                                       max_depth));
  return Status::ok();
}

}  // namespace mnemo::net
