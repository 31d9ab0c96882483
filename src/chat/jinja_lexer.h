// chat/jinja_lexer.h: a Jinja template cut into text and tags, and a tag's expression into tokens.
//
// Whitespace control follows Jinja2 as Hugging Face's apply_chat_template configures it
// (trim_blocks and lstrip_blocks on, keep_trailing_newline off):
//  - "{{-", "{%-", "{#-" strip all whitespace before the tag; "-}}", "-%}", "-#}" all after it;
//  - trim_blocks: the first newline after a block or comment tag is removed ("+%}" keeps it);
//  - lstrip_blocks: spaces and tabs from the start of a line to a block or comment tag are removed
//    ("{%+" keeps them); not before "{{" (minja, llama.cpp's engine, also strips those);
//  - one trailing newline of the template is dropped; "\r\n" and "\r" read as "\n".
// "{% raw %}...{% endraw %}" is text. Comments are dropped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::jinja {

struct Options {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

struct Segment {
  enum class Kind { kText, kExpr, kStmt };
  Kind kind = Kind::kText;
  std::string text;   // kText: the text after whitespace control; else the tag's inside
  size_t offset = 0;  // where `text` starts in the (normalized) source
};

// "\r\n" and "\r" as "\n"; without keep_trailing_newline one final "\n" dropped.
std::string normalize_source(std::string_view src, const Options& options);

// Cuts a normalized source into segments. Errors: a tag that is never closed, an unterminated
// raw block (message "L:C: ...", see location()).
Expected<std::vector<Segment>> split_template(std::string_view src, const Options& options);

enum class TokKind { kName, kString, kInt, kFloat, kOp, kEnd };

struct Token {
  TokKind kind = TokKind::kEnd;
  std::string text;   // names and operators as written; a string literal's value (unescaped)
  int64_t i = 0;      // kInt
  double f = 0;       // kFloat
  size_t offset = 0;  // in the source
};

// Tokens of src[begin, end), ending with a kEnd token at `end`. Errors: an unknown character, an
// unterminated string, a number too large for int64.
Expected<std::vector<Token>> tokenize(std::string_view src, size_t begin, size_t end);

// `s` for messages: in single quotes, control and non-ASCII bytes as \xNN, cut after max_len.
std::string show(std::string_view s, size_t max_len = 32);

// "line:col" (1-based, col in bytes) of `offset` in `src`.
std::string location(std::string_view src, size_t offset);

}  // namespace mnemo::jinja
