// chat/jinja_render.h: the evaluator: walks a template's nodes with a scope chain and limits.
// Internal to chat/; builtins receive a Renderer to call back (map, select, macros) and to charge
// their work against the limits.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja.h"
#include "chat/jinja_ast.h"

namespace mnemo::jinja {

class Renderer {
 public:
  Renderer(std::string_view src, const Limits& limits) : src_(src), limits_(limits) {}

  // Renders `nodes` with `globals` (a dict) as the outermost scope.
  Expected<std::string> render(const NodeList& nodes, const Value& globals);

  const Limits& limits() const { return limits_; }
  // Counts `n` steps of work; kOutOfRange once the limit is passed.
  Status charge(uint64_t n);
  // kOutOfRange when a string of `bytes` (or a list of `items`) would pass the limits.
  Status check_bytes(uint64_t bytes) const;
  Status check_items(uint64_t items) const;
  // Python's str() within the output limit.
  Expected<std::string> str(const Value& v) const { return to_str(v, limits_.max_output_bytes); }
  // Calls a function value.
  Expected<Value> call(const Value& fn, const CallArgs& args);
  // Remembers a namespace made during this render; render() empties them all at its end, so
  // that a namespace holding itself ({% set ns.me = ns %}) is not leaked as a reference cycle.
  void track_namespace(const Value& ns) { namespaces_.push_back(ns); }

 private:
  struct Scope {
    Scope* parent = nullptr;
    std::vector<std::pair<std::string, Value>> vars;
    const Value* lookup(std::string_view name) const;
    void set(const std::string& name, Value v);
  };
  enum class Flow { kNormal, kBreak, kContinue };

  Expected<Flow> exec_list(const NodeList& nodes, Scope& s, std::string& out);
  Expected<Flow> exec(const Node& n, Scope& s, std::string& out);
  Expected<Flow> exec_for(const Node& n, Scope& s, std::string& out);
  Status exec_set(const Node& n, Scope& s);
  Status exec_block_value(const Node& n, Scope& s, std::string& out);
  Status append(std::string& out, std::string_view text) const;
  Expected<Value> call_macro(const Node& m, const CallArgs& args);

  Expected<Value> eval(const Expr& e, Scope& s);
  Expected<Value> eval_attr(const Expr& e, Scope& s);
  Expected<Value> eval_item(const Expr& e, Scope& s);
  Expected<Value> eval_slice(const Expr& e, Scope& s);
  Expected<Value> eval_call(const Expr& e, Scope& s);
  Expected<Value> eval_filter(const Expr& e, Scope& s);
  Expected<Value> eval_test(const Expr& e, Scope& s);
  Expected<Value> eval_binary(const Expr& e, Scope& s);
  Expected<Value> eval_compare(const Expr& e, Scope& s);
  Expected<CallArgs> eval_args(const Expr& e, size_t first, Scope& s);
  // Prefixes "L:C: " to a message that has no location yet.
  Status located(const Status& st, size_t offset) const;

  std::string_view src_;
  Limits limits_;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
  Scope* root_ = nullptr;
  const std::string* block_value_ = nullptr;  // the body a filter block's filters apply to
  std::vector<Value> namespaces_;
};

// Operations shared by the evaluator and the builtins (Python semantics; messages without a
// location).
Expected<Value> binary_op(Renderer& r, std::string_view op, const Value& a, const Value& b);
Expected<bool> compare_op(std::string_view op, const Value& a, const Value& b);
// The elements a for loop or a filter walks: list items, dict keys, string characters;
// undefined gives none. Other kinds are errors.
Expected<std::vector<Value>> iterate(const Value& v);

}  // namespace mnemo::jinja
