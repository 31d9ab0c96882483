// chat/jinja_parse_expr.cc: Jinja2's expression grammar, by recursive descent over one tag's tokens.
#include "chat/jinja_builtins.h"
#include "chat/jinja_parser.h"

#include "base/strings.h"

namespace mnemo::jinja {
namespace {

ExprPtr make(Expr::Op op, size_t offset) {
  auto e = std::make_unique<Expr>();
  e->op = op;
  e->offset = offset;
  return e;
}

ExprPtr make2(Expr::Op op, size_t offset, std::string name, ExprPtr a, ExprPtr b) {
  ExprPtr e = make(op, offset);
  e->name = std::move(name);
  e->args.push_back(std::move(a));
  e->args.push_back(std::move(b));
  return e;
}

// Binary operator levels, lowest first: + -, ~, * / // %, **.
const std::vector<std::vector<std::string_view>>& levels() {
  static const std::vector<std::vector<std::string_view>> kLevels = {{"+", "-"}, {"~"}, {"*", "/", "//", "%"}, {"**"}};
  return kLevels;
}

}  // namespace

std::string describe(const Token& t) {
  switch (t.kind) {
    case TokKind::kEnd: return "the end of the tag";
    case TokKind::kString: return "the string " + show(t.text, 24);
    default: return show(t.text, 24);
  }
}

const Token& ExprParser::peek(size_t ahead) const {
  return toks_[std::min(pos_ + ahead, toks_.size() - 1)];
}
bool ExprParser::at_op(std::string_view op) const { return peek().kind == TokKind::kOp && peek().text == op; }
bool ExprParser::at_name(std::string_view name) const { return peek().kind == TokKind::kName && peek().text == name; }
bool ExprParser::accept_op(std::string_view op) {
  if (!at_op(op)) return false;
  advance();
  return true;
}
bool ExprParser::accept_name(std::string_view name) {
  if (!at_name(name)) return false;
  advance();
  return true;
}

Status ExprParser::error(const std::string& what) const {
  return invalid_argument(location(src_, peek().offset) + ": expected " + what + ", found " + describe(peek()));
}

Status ExprParser::expect_op(std::string_view op) {
  if (accept_op(op)) return Status::ok();
  return error("'" + std::string(op) + "'");
}

Expected<std::string> ExprParser::expect_identifier(const char* what) {
  if (peek().kind != TokKind::kName) return error(what);
  std::string s = peek().text;
  advance();
  return s;
}

Status ExprParser::expect_end() {
  if (peek().kind == TokKind::kEnd) return Status::ok();
  return error("the end of the tag");
}

Status ExprParser::enter() {
  if (++depth_ > kMaxParseDepth) {
    return invalid_argument(location(src_, peek().offset) +
                            str_printf(": expected expressions nested at most %d deep, found deeper", kMaxParseDepth));
  }
  return Status::ok();
}

Expected<ExprPtr> ExprParser::expression(bool with_ternary) {
  MNEMO_RETURN_IF_ERROR(enter());
  auto r = with_ternary ? ternary() : logic_or();
  leave();
  return r;
}

Expected<ExprPtr> ExprParser::ternary() {
  MNEMO_ASSIGN_OR_RETURN(ExprPtr e, logic_or());
  while (at_name("if")) {
    const size_t at = peek().offset;
    advance();
    MNEMO_ASSIGN_OR_RETURN(ExprPtr cond, logic_or());
    ExprPtr other;
    if (accept_name("else")) {
      MNEMO_ASSIGN_OR_RETURN(other, expression(true));
    }
    ExprPtr c = make(Expr::Op::kCond, at);
    c->args.push_back(std::move(e));
    c->args.push_back(std::move(cond));
    c->args.push_back(std::move(other));
    e = std::move(c);
  }
  return e;
}

Expected<ExprPtr> ExprParser::logic_or() {
  MNEMO_ASSIGN_OR_RETURN(ExprPtr e, logic_and());
  while (at_name("or")) {
    const size_t at = peek().offset;
    advance();
    MNEMO_ASSIGN_OR_RETURN(ExprPtr r, logic_and());
    e = make2(Expr::Op::kOr, at, "or", std::move(e), std::move(r));
  }
  return e;
}

Expected<ExprPtr> ExprParser::logic_and() {
  MNEMO_ASSIGN_OR_RETURN(ExprPtr e, logic_not());
  while (at_name("and")) {
    const size_t at = peek().offset;
    advance();
    MNEMO_ASSIGN_OR_RETURN(ExprPtr r, logic_not());
    e = make2(Expr::Op::kAnd, at, "and", std::move(e), std::move(r));
  }
  return e;
}

Expected<ExprPtr> ExprParser::logic_not() {
  if (at_name("not")) {
    const size_t at = peek().offset;
    advance();
    MNEMO_RETURN_IF_ERROR(enter());
    auto inner = logic_not();
    leave();
    if (!inner) return inner.status();
    ExprPtr e = make(Expr::Op::kNot, at);
    e->args.push_back(std::move(inner).value());
    return e;
  }
  return compare();
}

Expected<ExprPtr> ExprParser::compare() {
  const size_t at = peek().offset;
  MNEMO_ASSIGN_OR_RETURN(ExprPtr first, binary(0));
  ExprPtr cmp;
  while (true) {
    std::string op;
    if (peek().kind == TokKind::kOp && (peek().text == "==" || peek().text == "!=" || peek().text == "<" ||
                                        peek().text == "<=" || peek().text == ">" || peek().text == ">=")) {
      op = peek().text;
      advance();
    } else if (at_name("in")) {
      op = "in";
      advance();
    } else if (at_name("not") && peek(1).kind == TokKind::kName && peek(1).text == "in") {
      op = "notin";
      advance();
      advance();
    } else {
      break;
    }
    if (!cmp) {
      cmp = make(Expr::Op::kCompare, at);
      cmp->args.push_back(std::move(first));
    }
    MNEMO_ASSIGN_OR_RETURN(ExprPtr r, binary(0));
    cmp->ops.push_back(op);
    cmp->args.push_back(std::move(r));
  }
  return cmp ? std::move(cmp) : std::move(first);
}

Expected<ExprPtr> ExprParser::binary(int level) {
  if (level >= static_cast<int>(levels().size())) return unary(true);
  MNEMO_ASSIGN_OR_RETURN(ExprPtr e, binary(level + 1));
  while (peek().kind == TokKind::kOp) {
    const auto& ops = levels()[static_cast<size_t>(level)];
    if (std::find(ops.begin(), ops.end(), peek().text) == ops.end()) break;
    const std::string op = peek().text;
    const size_t at = peek().offset;
    advance();
    MNEMO_ASSIGN_OR_RETURN(ExprPtr r, binary(level + 1));
    e = make2(Expr::Op::kBinary, at, op, std::move(e), std::move(r));
  }
  return e;
}

Expected<ExprPtr> ExprParser::unary(bool with_filter) {
  if (at_op("-") || at_op("+")) {
    const Expr::Op op = at_op("-") ? Expr::Op::kNeg : Expr::Op::kPos;
    const size_t at = peek().offset;
    advance();
    MNEMO_RETURN_IF_ERROR(enter());
    auto inner = unary(false);
    leave();
    if (!inner) return inner.status();
    ExprPtr e = make(op, at);
    e->args.push_back(std::move(inner).value());
    return with_filter ? filters_and_tests(std::move(e)) : Expected<ExprPtr>(std::move(e));
  }
  MNEMO_ASSIGN_OR_RETURN(ExprPtr e, primary());
  MNEMO_ASSIGN_OR_RETURN(e, postfix(std::move(e)));
  if (with_filter) return filters_and_tests(std::move(e));
  return e;
}

Expected<ExprPtr> ExprParser::primary() {
  const Token t = peek();
  if (t.kind == TokKind::kName) {
    if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False" || t.text == "none" ||
        t.text == "None") {
      advance();
      ExprPtr e = make(Expr::Op::kLiteral, t.offset);
      e->literal = t.text[0] == 'n' || t.text[0] == 'N' ? Value::none() : Value(t.text[0] == 't' || t.text[0] == 'T');
      return e;
    }
    static const char* kReserved[] = {"and", "or", "not", "in", "is", "if", "else"};
    for (const char* r : kReserved) {
      if (t.text == r) return error("an expression");
    }
    advance();
    ExprPtr e = make(Expr::Op::kName, t.offset);
    e->name = t.text;
    return e;
  }
  if (t.kind == TokKind::kString) {
    std::string s;
    while (peek().kind == TokKind::kString) {  // adjacent literals join, as in Python
      s += peek().text;
      advance();
    }
    ExprPtr e = make(Expr::Op::kLiteral, t.offset);
    e->literal = Value(std::move(s));
    return e;
  }
  if (t.kind == TokKind::kInt || t.kind == TokKind::kFloat) {
    advance();
    ExprPtr e = make(Expr::Op::kLiteral, t.offset);
    e->literal = t.kind == TokKind::kInt ? Value(t.i) : Value(t.f);
    return e;
  }
  if (t.kind == TokKind::kOp && (t.text == "(" || t.text == "[" || t.text == "{")) {
    advance();
    MNEMO_RETURN_IF_ERROR(enter());
    auto r = t.text == "(" ? sequence(")", Expr::Op::kList, t.offset, true)
             : t.text == "[" ? sequence("]", Expr::Op::kList, t.offset, false)
                             : dict_literal(t.offset);
    leave();
    return r;
  }
  return error("an expression");
}

// After "(" or "[": items up to `close`. With allow_tuple, "(x)" is x itself and "(x,)" a tuple.
Expected<ExprPtr> ExprParser::sequence(const char* close, Expr::Op op, size_t offset, bool allow_tuple) {
  ExprPtr list = make(op, offset);
  bool trailing_comma = false;
  while (!accept_op(close)) {
    if (!list->args.empty() && !trailing_comma) return error(std::string("',' or '") + close + "'");
    MNEMO_ASSIGN_OR_RETURN(ExprPtr item, expression(true));
    list->args.push_back(std::move(item));
    trailing_comma = accept_op(",");
  }
  if (allow_tuple && list->args.size() == 1 && !trailing_comma) return std::move(list->args[0]);
  if (allow_tuple) list->name = "tuple";
  return list;
}

Expected<ExprPtr> ExprParser::dict_literal(size_t offset) {
  ExprPtr dict = make(Expr::Op::kDict, offset);
  bool trailing_comma = false;
  while (!accept_op("}")) {
    if (!dict->args.empty() && !trailing_comma) return error("',' or '}'");
    MNEMO_ASSIGN_OR_RETURN(ExprPtr key, expression(true));
    MNEMO_RETURN_IF_ERROR(expect_op(":"));
    MNEMO_ASSIGN_OR_RETURN(ExprPtr value, expression(true));
    dict->args.push_back(std::move(key));
    dict->args.push_back(std::move(value));
    trailing_comma = accept_op(",");
  }
  return dict;
}

Expected<ExprPtr> ExprParser::postfix(ExprPtr node) {
  while (true) {
    const size_t at = peek().offset;
    if (accept_op(".")) {
      ExprPtr e;
      if (peek().kind == TokKind::kInt) {  // a.0 is a[0]
        ExprPtr index = make(Expr::Op::kLiteral, peek().offset);
        index->literal = Value(peek().i);
        advance();
        e = make2(Expr::Op::kItem, at, "", std::move(node), std::move(index));
      } else {
        MNEMO_ASSIGN_OR_RETURN(std::string attr, expect_identifier("an attribute name after '.'"));
        e = make(Expr::Op::kAttr, at);
        e->name = std::move(attr);
        e->args.push_back(std::move(node));
      }
      node = std::move(e);
    } else if (accept_op("[")) {
      MNEMO_ASSIGN_OR_RETURN(node, subscript(std::move(node)));
    } else if (at_op("(")) {
      ExprPtr call = make(Expr::Op::kCall, node->offset);  // errors point at the callee
      call->args.push_back(std::move(node));
      advance();
      MNEMO_RETURN_IF_ERROR(call_args(*call));
      node = std::move(call);
    } else {
      return node;
    }
  }
}

// After "[": an index, or a slice [start:stop:step] with any part left out.
Expected<ExprPtr> ExprParser::subscript(ExprPtr node) {
  const size_t at = peek().offset;
  ExprPtr parts[3];
  int n = 0;
  bool is_slice = false;
  while (true) {
    if (!at_op(":") && !at_op("]")) {
      MNEMO_ASSIGN_OR_RETURN(parts[n], expression(true));
    }
    if (at_op(":") && n < 2) {
      advance();
      is_slice = true;
      ++n;
      continue;
    }
    break;
  }
  MNEMO_RETURN_IF_ERROR(expect_op("]"));
  if (!is_slice) {
    if (!parts[0]) return error("an index");
    return make2(Expr::Op::kItem, at, "", std::move(node), std::move(parts[0]));
  }
  ExprPtr e = make(Expr::Op::kSlice, at);
  e->args.push_back(std::move(node));
  for (auto& p : parts) e->args.push_back(std::move(p));
  return e;
}

// After "(": positional and name=value arguments up to ")".
Status ExprParser::call_args(Expr& call) {
  MNEMO_RETURN_IF_ERROR(enter());
  bool trailing_comma = true;
  while (!accept_op(")")) {
    if (!trailing_comma) {
      leave();
      return error("',' or ')'");
    }
    if (peek().kind == TokKind::kName && peek(1).kind == TokKind::kOp && peek(1).text == "=") {
      std::string key = peek().text;
      advance();
      advance();
      auto v = expression(true);
      if (!v) {
        leave();
        return v.status();
      }
      call.kwargs.emplace_back(std::move(key), std::move(v).value());
    } else {
      if (!call.kwargs.empty()) {
        leave();
        return error("a keyword argument (name=value) after keyword arguments");
      }
      auto v = expression(true);
      if (!v) {
        leave();
        return v.status();
      }
      call.args.push_back(std::move(v).value());
    }
    trailing_comma = accept_op(",");
  }
  leave();
  return Status::ok();
}

Expected<ExprPtr> ExprParser::filters_and_tests(ExprPtr node) {
  while (true) {
    if (accept_op("|")) {
      MNEMO_ASSIGN_OR_RETURN(node, filter_chain(std::move(node)));
    } else if (at_name("is")) {
      MNEMO_ASSIGN_OR_RETURN(node, test(std::move(node)));
    } else if (at_op("(")) {
      ExprPtr call = make(Expr::Op::kCall, node->offset);
      call->args.push_back(std::move(node));
      advance();
      MNEMO_RETURN_IF_ERROR(call_args(*call));
      node = std::move(call);
    } else {
      return node;
    }
  }
}

// After "|": one filter, name[(args)], applied to subject.
Expected<ExprPtr> ExprParser::filter_chain(ExprPtr subject) {
  const size_t at = peek().offset;
  MNEMO_ASSIGN_OR_RETURN(std::string name, expect_identifier("a filter name after '|'"));
  if (!is_filter(name)) {
    return invalid_argument(location(src_, at) + ": expected a filter mnemo's Jinja subset knows, found " + show(name, 32));
  }
  ExprPtr f = make(Expr::Op::kFilter, at);
  f->name = std::move(name);
  f->args.push_back(std::move(subject));
  if (accept_op("(")) MNEMO_RETURN_IF_ERROR(call_args(*f));
  return f;
}

// At "is": a test, with its arguments in parentheses or as one bare argument ("is divisibleby 3").
Expected<ExprPtr> ExprParser::test(ExprPtr node) {
  advance();
  const bool negated = accept_name("not");
  const size_t at = peek().offset;
  MNEMO_ASSIGN_OR_RETURN(std::string name, expect_identifier("a test name after 'is'"));
  if (!is_test(name)) {
    return invalid_argument(location(src_, at) + ": expected a test mnemo's Jinja subset knows, found " + show(name, 32));
  }
  ExprPtr t = make(Expr::Op::kTest, at);
  t->name = std::move(name);
  t->negated = negated;
  t->args.push_back(std::move(node));
  const Token& n = peek();
  if (at_op("(")) {
    advance();
    MNEMO_RETURN_IF_ERROR(call_args(*t));
  } else if ((n.kind == TokKind::kName && n.text != "else" && n.text != "or" && n.text != "and" && n.text != "if" &&
              n.text != "not" && n.text != "in" && n.text != "is") ||
             n.kind == TokKind::kString || n.kind == TokKind::kInt || n.kind == TokKind::kFloat || at_op("[") ||
             at_op("{")) {
    MNEMO_RETURN_IF_ERROR(enter());
    auto arg = primary();
    if (arg) arg = postfix(std::move(arg).value());
    leave();
    if (!arg) return arg.status();
    t->args.push_back(std::move(arg).value());
  }
  return t;
}

}  // namespace mnemo::jinja
