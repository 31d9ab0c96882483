// chat/jinja_parser.h: template source -> AST.
//
// Statements: if/elif/else, for (tuple targets, "if" filter, else), set (names, namespace
// attributes, blocks with filters), macro, filter blocks, break/continue, generation (its body
// is kept), raw. Expressions follow Jinja2's grammar and precedence: ternary, or, and, not,
// comparisons (chained; in, not in), + -, ~, * / // %, **, unary - +, then postfix attribute,
// subscript, slice, call, filters (|) and tests (is [not]). Unknown filters and tests, and
// statements outside the subset (include, import, extends, block, call, with, ...), are errors
// at parse time, naming what was found.
#pragma once

#include <string_view>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace mnemo::jinja {

// Nesting bound for blocks and expressions (keeps recursion shallow on hostile input).
inline constexpr int kMaxParseDepth = 96;

Expected<NodeList> parse_template(std::string_view src, const Options& options);

// Parses expressions from the tokens of one tag; used by the statement parser.
class ExprParser {
 public:
  ExprParser(std::string_view src, std::vector<Token> tokens) : src_(src), toks_(std::move(tokens)) {}

  Expected<ExprPtr> expression(bool with_ternary = true);
  // A filter chain after "|" has been consumed, applied to `subject` (null: a block's body).
  Expected<ExprPtr> filter_chain(ExprPtr subject);

  const Token& peek(size_t ahead = 0) const;
  bool at_op(std::string_view op) const;
  bool at_name(std::string_view name) const;
  bool accept_op(std::string_view op);
  bool accept_name(std::string_view name);
  void advance() { if (pos_ + 1 < toks_.size()) ++pos_; }
  Status expect_op(std::string_view op);
  Expected<std::string> expect_identifier(const char* what);
  Status expect_end();
  // "L:C: expected <what>, found <the current token>"
  Status error(const std::string& what) const;

 private:
  Expected<ExprPtr> ternary();
  Expected<ExprPtr> logic_or();
  Expected<ExprPtr> logic_and();
  Expected<ExprPtr> logic_not();
  Expected<ExprPtr> compare();
  Expected<ExprPtr> binary(int level);
  Expected<ExprPtr> unary(bool with_filter);
  Expected<ExprPtr> primary();
  Expected<ExprPtr> sequence(const char* close, Expr::Op op, size_t offset, bool allow_tuple);
  Expected<ExprPtr> dict_literal(size_t offset);
  Expected<ExprPtr> postfix(ExprPtr node);
  Expected<ExprPtr> subscript(ExprPtr node);
  Expected<ExprPtr> filters_and_tests(ExprPtr node);
  Expected<ExprPtr> test(ExprPtr node);
  Status call_args(Expr& call);
  Status enter();
  void leave() { --depth_; }

  std::string_view src_;
  std::vector<Token> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// Shown in messages: "'name'", "the end of the tag".
std::string describe(const Token& t);

}  // namespace mnemo::jinja
