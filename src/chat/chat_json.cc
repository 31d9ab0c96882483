// chat/chat_json.cc: JSON -> Value through nlohmann::ordered_json (parsed without exceptions).
#include "chat/chat_json.h"

#include <nlohmann/json.hpp>

#include "base/strings.h"

namespace mnemo::chat {
namespace {

using json = nlohmann::ordered_json;
using jinja::Value;

Expected<Value> convert(const json& j, int depth, std::string_view subject) {
  if (depth > jinja::kMaxNesting) {
    return invalid_argument(std::string(subject) + str_printf(": expected JSON nested at most %d deep, found deeper",
                                                              jinja::kMaxNesting));
  }
  switch (j.type()) {
    case json::value_t::null: return Value::none();
    case json::value_t::boolean: return Value(j.get<bool>());
    case json::value_t::number_integer: return Value(j.get<int64_t>());
    case json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case json::value_t::number_float: return Value(j.get<double>());
    case json::value_t::string: return Value(j.get<std::string>());
    case json::value_t::array: {
      std::vector<Value> items;
      for (const auto& x : j) {
        MNEMO_ASSIGN_OR_RETURN(Value v, convert(x, depth + 1, subject));
        items.push_back(std::move(v));
      }
      return Value::list(std::move(items));
    }
    case json::value_t::object: {
      Value d = Value::dict();
      for (const auto& [k, x] : j.items()) {
        MNEMO_ASSIGN_OR_RETURN(Value v, convert(x, depth + 1, subject));
        d.set(Value(k), std::move(v));
      }
      return d;
    }
    default: return invalid_argument(std::string(subject) + ": expected JSON values, found binary data");
  }
}

}  // namespace

Expected<Value> parse_json_value(std::string_view text, std::string_view subject) {
  // Depth is checked on the tokens first: nlohmann's own recursion (and destruction) stays shallow.
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > jinja::kMaxNesting) {
        return invalid_argument(std::string(subject) + str_printf(": expected JSON nested at most %d deep, found deeper",
                                                                  jinja::kMaxNesting));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument(std::string(subject) + ": expected valid JSON, found a syntax error");
  return convert(j, 0, subject);
}

}  // namespace mnemo::chat
