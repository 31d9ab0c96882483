// chat/jinja_ast.h: the parsed form of a template: expressions and statement nodes.
//
// Nodes own their children. Offsets point into the template's normalized source, for messages.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace mnemo::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Op {
    kLiteral,   // literal
    kName,      // name
    kList,      // args: items (name "tuple": a parenthesized tuple)
    kDict,      // args: key0, value0, key1, value1, ...
    kAttr,      // args[0].name (a[0].5 reads item 5)
    kItem,      // args[0][args[1]]
    kSlice,     // args[0][args[1]:args[2]:args[3]], absent parts null
    kCall,      // args[0](args[1:], kwargs)
    kFilter,    // args[0] | name(args[1:], kwargs); args[0] null: the body of a filter/set block
    kTest,      // args[0] is [not] name(args[1:], kwargs)
    kNeg,       // -args[0]
    kPos,       // +args[0]
    kNot,       // not args[0]
    kBinary,    // args[0] name args[1]: + - * / // % ** ~
    kAnd,       // args[0] and args[1]
    kOr,        // args[0] or args[1]
    kCond,      // args[0] if args[1] else args[2] (args[2] null: undefined)
    kCompare,   // args[0] ops[0] args[1] ops[1] args[2] ...: == != < <= > >= in notin
  };
  Op op = Op::kLiteral;
  size_t offset = 0;
  Value literal;
  std::string name;
  std::vector<std::string> ops;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;  // kTest: "is not"
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    kText,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches: (condition, body)...; a null condition is the else branch
    kFor,          // for targets in expr [if cond] body [else else_body]
    kSet,          // set targets = expr; set ns_name.attr = expr
    kSetBlock,     // set targets[0] [| filter] body endset (filter: expr, or null)
    kMacro,        // macro name(params) body
    kFilterBlock,  // filter expr body endfilter
    kBreak,
    kContinue,
  };
  Kind kind = Kind::kText;
  size_t offset = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr cond;  // kFor: the loop filter
  std::vector<std::pair<ExprPtr, NodeList>> branches;
  std::vector<std::string> targets;
  std::string ns_name, attr;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro: name, default (or null)
  NodeList body, else_body;
};

}  // namespace mnemo::jinja
