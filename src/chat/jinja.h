// chat/jinja.h: a Jinja template interpreter for the subset that chat templates use.
//
//   auto t = jinja::Template::parse(source, "tokenizer.chat_template");
//   Value globals = Value::dict(); globals.set("messages", ...);
//   auto text = t->render(globals);
//
// Semantics are Jinja2's as Hugging Face's apply_chat_template runs it (trim_blocks and
// lstrip_blocks on, Python values, tojson without key sorting, loop controls); see
// jinja_lexer.h, jinja_parser.h and jinja_builtins.h for what the subset holds. Every error, at
// parse or render time, is a Status whose message reads "<name>:<line>:<col>: expected ..., found
// ..."; no input crashes, and Limits bound the work, the output and the recursion of a render.
// Codes: kCorrupt for a template that breaks the grammar, kUnsupported for one outside the subset
// (include, recursive loops, unknown filters are kCorrupt: Jinja2 rejects those too), at render
// kInvalidArgument (raise_exception, a type error: the variables do not suit the template) or
// kOutOfRange (a limit).
//
// Thread-safety: a Template is immutable after parse(); render() may run concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "chat/jinja_lexer.h"
#include "chat/jinja_value.h"

namespace mnemo::jinja {

struct Node;

struct Limits {
  uint64_t max_output_bytes = 16ull << 20;  // the rendered text, and any one string built on the way
  uint64_t max_items = 1ull << 20;          // elements of any one list built (range, *, +)
  uint64_t max_steps = 20'000'000;          // expression evaluations and loop iterations
  int max_call_depth = 48;                  // nested macro calls
};

class Template {
 public:
  // Parses `source`; `name` prefixes every message (a file path, "tokenizer.chat_template").
  static Expected<Template> parse(std::string_view source, std::string name, const Options& options = {});

  // Renders with `globals`, a dict of the variables the template sees. Builtins (range,
  // namespace, dict, raise_exception) are added unless globals defines the same names.
  Expected<std::string> render(const Value& globals, const Limits& limits = {}) const;

  const std::string& name() const { return name_; }
  const std::string& source() const { return *source_; }  // normalized

 private:
  struct Parsed;
  std::string name_;
  std::shared_ptr<const std::string> source_;
  std::shared_ptr<const Parsed> parsed_;
};

}  // namespace mnemo::jinja
