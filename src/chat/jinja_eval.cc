// chat/jinja_eval.cc: evaluating expressions, with Python's operators and Jinja2's lookups
// (a failed attribute or item lookup gives undefined; only looking into undefined is an error).
#include <cmath>
#include <limits>

#include "base/strings.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_render.h"
#include "chat/jinja_strings.h"

namespace mnemo::jinja {
namespace {

Status type_error(std::string_view op, const Value& a, const Value& b) {
  return invalid_argument(str_printf("expected operands '%.*s' supports, found %s and %s",
                                     static_cast<int>(op.size()), op.data(), kind_name(a.kind()), kind_name(b.kind())));
}

Status undefined_error(const Value& v, const std::string& doing) {
  return invalid_argument("expected a value " + doing + ", found undefined " + show(v.as_string(), 48));
}

// Python's floor division and modulo on int64 (b != 0); false on overflow.
bool floor_divmod(int64_t a, int64_t b, int64_t* q, int64_t* m) {
  if (a == std::numeric_limits<int64_t>::min() && b == -1) return false;
  int64_t d = a / b, r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) {
    --d;
    r += b;
  }
  *q = d;
  *m = r;
  return true;
}

Expected<Value> int_power(int64_t base, int64_t exp) {
  if (exp < 0) return Value(std::pow(static_cast<double>(base), static_cast<double>(exp)));
  if (base == 0 || base == 1) return Value(exp == 0 ? int64_t{1} : base);
  if (base == -1) return Value(exp % 2 == 0 ? int64_t{1} : int64_t{-1});
  int64_t result = 1;
  for (int64_t i = 0; i < exp; ++i) {  // |base| >= 2: overflows within 64 steps
    if (__builtin_mul_overflow(result, base, &result)) return out_of_range("'**': expected a result that fits in 64 bits");
  }
  return Value(result);
}

Expected<Value> repeat(Renderer& r, const Value& seq, int64_t n) {
  if (n <= 0) return seq.is_string() ? Value("") : Value::list();
  if (seq.is_string()) {
    MNEMO_RETURN_IF_ERROR(r.check_bytes(static_cast<uint64_t>(n) * seq.as_string().size()));
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.as_string();
    return Value(std::move(out));
  }
  MNEMO_RETURN_IF_ERROR(r.check_items(static_cast<uint64_t>(n) * seq.items().size()));
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return Value::list(std::move(out));
}

Expected<Value> arithmetic(std::string_view op, const Value& a, const Value& b) {
  if (a.is_float() || b.is_float() || op == "/") {
    const double x = a.as_double(), y = b.as_double();
    if ((op == "/" || op == "//" || op == "%") && y == 0) return invalid_argument("expected a nonzero divisor, found 0");
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "/") return Value(x / y);
    if (op == "//") return Value(std::floor(x / y));
    if (op == "%") {
      double m = std::fmod(x, y);
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value(m);
    }
    return Value(std::pow(x, y));
  }
  const int64_t x = a.as_int(), y = b.as_int();
  int64_t v = 0;
  if (op == "+" && !__builtin_add_overflow(x, y, &v)) return Value(v);
  if (op == "-" && !__builtin_sub_overflow(x, y, &v)) return Value(v);
  if (op == "*" && !__builtin_mul_overflow(x, y, &v)) return Value(v);
  if (op == "//" || op == "%") {
    if (y == 0) return invalid_argument("expected a nonzero divisor, found 0");
    int64_t q = 0, m = 0;
    if (floor_divmod(x, y, &q, &m)) return Value(op == "//" ? q : m);
  }
  if (op == "**") return int_power(x, y);
  return out_of_range(str_printf("'%.*s': expected a result that fits in 64 bits", static_cast<int>(op.size()), op.data()));
}

}  // namespace

Expected<Value> binary_op(Renderer& r, std::string_view op, const Value& a, const Value& b) {
  if (op == "~") {
    MNEMO_ASSIGN_OR_RETURN(std::string x, r.str(a));
    MNEMO_ASSIGN_OR_RETURN(std::string y, r.str(b));
    MNEMO_RETURN_IF_ERROR(r.check_bytes(x.size() + y.size()));
    return Value(x + y);
  }
  if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
  if (op == "+" && a.is_string() && b.is_string()) {
    if (a.is_safe() != b.is_safe()) {  // Markup + str: the str is escaped, the result is Markup
      const std::string x = a.is_safe() ? a.as_string() : html_escape(a.as_string());
      const std::string y = b.is_safe() ? b.as_string() : html_escape(b.as_string());
      MNEMO_RETURN_IF_ERROR(r.check_bytes(x.size() + y.size()));
      return Value::safe_string(x + y);
    }
    MNEMO_RETURN_IF_ERROR(r.check_bytes(a.as_string().size() + b.as_string().size()));
    Value sum(a.as_string() + b.as_string());
    return a.is_safe() ? Value::safe_string(sum.as_string()) : sum;
  }
  if (op == "+" && a.is_list() && b.is_list()) {
    MNEMO_RETURN_IF_ERROR(r.check_items(a.items().size() + b.items().size()));
    std::vector<Value> out = a.items();
    out.insert(out.end(), b.items().begin(), b.items().end());
    return Value::list(std::move(out));
  }
  if (op == "*" && (a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(r, a, b.as_int());
  if (op == "*" && (b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(r, b, a.as_int());
  if (a.is_undefined()) return undefined_error(a, "for '" + std::string(op) + "'");
  if (b.is_undefined()) return undefined_error(b, "for '" + std::string(op) + "'");
  return type_error(op, a, b);
}

Expected<bool> compare_op(std::string_view op, const Value& a, const Value& b) {
  if (op == "==") return a.equals(b);
  if (op == "!=") return !a.equals(b);
  if (op == "in" || op == "notin") {
    bool found = false;
    if (b.is_string()) {
      if (!a.is_string()) return type_error("in", a, b);
      found = b.as_string().find(a.as_string()) != std::string::npos;
    } else if (b.is_list()) {
      for (const Value& x : b.items()) found = found || x.equals(a);
    } else if (b.is_dict()) {
      found = b.find(a) != nullptr;
    } else if (!b.is_undefined()) {
      return type_error("in", a, b);
    }
    return op == "in" ? found : !found;
  }
  int c = 0;
  if (a.is_number() && b.is_number()) {
    const double x = a.as_double(), y = b.as_double();
    c = (a.is_float() || b.is_float()) ? (x < y ? -1 : x > y ? 1 : 0)
                                       : (a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0);
    if (std::isnan(x) || std::isnan(y)) return false;
  } else if (a.is_string() && b.is_string()) {
    c = a.as_string().compare(b.as_string());
  } else if (a.is_list() && b.is_list()) {
    const auto& x = a.items();
    const auto& y = b.items();
    size_t i = 0;
    while (i < x.size() && i < y.size() && x[i].equals(y[i])) ++i;
    if (i < x.size() && i < y.size()) return compare_op(op, x[i], y[i]);
    c = x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  } else {
    return type_error(op, a, b);
  }
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  return c >= 0;
}

Expected<std::vector<Value>> iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return std::vector<Value>();
    case Kind::kList: return v.items();
    case Kind::kDict: {
      std::vector<Value> keys;
      for (const auto& [k, x] : v.dict_data().entries) keys.push_back(k);
      return keys;
    }
    case Kind::kString: {
      std::vector<Value> chars;
      const auto offs = char_offsets(v.as_string());
      for (size_t i = 0; i + 1 < offs.size(); ++i) chars.emplace_back(v.as_string().substr(offs[i], offs[i + 1] - offs[i]));
      return chars;
    }
    default: return invalid_argument(std::string("expected something to iterate (a list, dict or string), found ") +
                                     kind_name(v.kind()));
  }
}

Expected<Value> Renderer::eval(const Expr& e, Scope& s) {
  MNEMO_RETURN_IF_ERROR(located(charge(1), e.offset));
  switch (e.op) {
    case Expr::Op::kLiteral: return e.literal;
    case Expr::Op::kName: {
      const Value* v = s.lookup(e.name);
      return v != nullptr ? *v : Value::undefined(e.name);
    }
    case Expr::Op::kList: {
      std::vector<Value> items;
      for (const auto& a : e.args) {
        MNEMO_ASSIGN_OR_RETURN(Value v, eval(*a, s));
        items.push_back(std::move(v));
      }
      return e.name == "tuple" ? Value::tuple(std::move(items)) : Value::list(std::move(items));
    }
    case Expr::Op::kDict: {
      Value d = Value::dict();
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        MNEMO_ASSIGN_OR_RETURN(Value k, eval(*e.args[i], s));
        MNEMO_ASSIGN_OR_RETURN(Value v, eval(*e.args[i + 1], s));
        if (k.is_list() || k.is_dict() || k.is_undefined() || k.is_function()) {
          return located(invalid_argument(std::string("expected a dict key that is a string, number or none, found ") +
                                          kind_name(k.kind())), e.args[i]->offset);
        }
        d.set(std::move(k), std::move(v));
      }
      return d;
    }
    case Expr::Op::kAttr: return eval_attr(e, s);
    case Expr::Op::kItem: return eval_item(e, s);
    case Expr::Op::kSlice: return eval_slice(e, s);
    case Expr::Op::kCall: return eval_call(e, s);
    case Expr::Op::kFilter: return eval_filter(e, s);
    case Expr::Op::kTest: return eval_test(e, s);
    case Expr::Op::kNeg:
    case Expr::Op::kPos: {
      MNEMO_ASSIGN_OR_RETURN(Value v, eval(*e.args[0], s));
      if (!v.is_number()) {
        return located(invalid_argument(std::string("expected a number after unary '-' or '+', found ") + kind_name(v.kind())),
                       e.offset);
      }
      if (e.op == Expr::Op::kPos) return v.is_bool() ? Value(v.as_int()) : v;
      if (v.is_float()) return Value(-v.as_double());
      if (v.as_int() == std::numeric_limits<int64_t>::min()) return located(out_of_range("'-': overflow"), e.offset);
      return Value(-v.as_int());
    }
    case Expr::Op::kNot: {
      MNEMO_ASSIGN_OR_RETURN(Value v, eval(*e.args[0], s));
      return Value(!v.truthy());
    }
    case Expr::Op::kAnd:
    case Expr::Op::kOr: {
      MNEMO_ASSIGN_OR_RETURN(Value a, eval(*e.args[0], s));
      if (a.truthy() == (e.op == Expr::Op::kOr)) return a;
      return eval(*e.args[1], s);
    }
    case Expr::Op::kCond: {
      MNEMO_ASSIGN_OR_RETURN(Value c, eval(*e.args[1], s));
      if (c.truthy()) return eval(*e.args[0], s);
      if (e.args[2]) return eval(*e.args[2], s);
      return Value::undefined("(if without else)");
    }
    case Expr::Op::kBinary: return eval_binary(e, s);
    case Expr::Op::kCompare: return eval_compare(e, s);
  }
  return Value();
}

Expected<Value> Renderer::eval_attr(const Expr& e, Scope& s) {
  MNEMO_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0], s));
  if (obj.is_undefined()) return located(undefined_error(obj, "before '." + e.name + "'"), e.offset);
  if (obj.is_dict()) {
    if (!obj.is_namespace()) {
      if (auto m = find_method(obj, e.name)) return *m;
    }
    const Value* v = obj.find(std::string_view(e.name));
    return v != nullptr ? *v : Value::undefined(e.name);
  }
  if (auto m = find_method(obj, e.name)) return *m;
  return Value::undefined(e.name);
}

Expected<Value> Renderer::eval_item(const Expr& e, Scope& s) {
  MNEMO_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0], s));
  MNEMO_ASSIGN_OR_RETURN(Value key, eval(*e.args[1], s));
  if (obj.is_undefined()) return located(undefined_error(obj, "before '[...]'"), e.offset);
  if (obj.is_dict()) {
    const Value* v = obj.find(key);
    if (v != nullptr) return *v;
    if (key.is_string() && !obj.is_namespace()) {
      if (auto m = find_method(obj, key.as_string())) return *m;
    }
    return Value::undefined(key.is_string() ? key.as_string() : "item");
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      const int64_t n = static_cast<int64_t>(obj.items().size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined("item");
      return obj.items()[static_cast<size_t>(i)];
    }
    const auto offs = char_offsets(obj.as_string());
    const int64_t n = static_cast<int64_t>(offs.size()) - 1;
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined("item");
    return Value(obj.as_string().substr(offs[static_cast<size_t>(i)], offs[static_cast<size_t>(i) + 1] - offs[static_cast<size_t>(i)]));
  }
  if (key.is_string()) {
    if (auto m = find_method(obj, key.as_string())) return *m;
  }
  return Value::undefined("item");
}

namespace {

// Python's slice.indices: clamps start/stop for a sequence of n with step.
void slice_indices(int64_t n, const Value& start, const Value& stop, int64_t step, int64_t* b, int64_t* e) {
  auto clamp = [&](const Value& v, int64_t def) {
    if (v.is_undefined() || v.is_none()) return def;
    int64_t i = v.as_int();
    if (i < 0) i += n;
    if (step > 0) return std::max<int64_t>(0, std::min(i, n));
    return std::max<int64_t>(-1, std::min(i, n - 1));
  };
  *b = clamp(start, step > 0 ? 0 : n - 1);
  *e = clamp(stop, step > 0 ? n : -1);
}

}  // namespace

Expected<Value> Renderer::eval_slice(const Expr& e, Scope& s) {
  MNEMO_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0], s));
  Value parts[3];
  for (int i = 0; i < 3; ++i) {
    if (!e.args[static_cast<size_t>(i) + 1]) continue;
    MNEMO_ASSIGN_OR_RETURN(parts[i], eval(*e.args[static_cast<size_t>(i) + 1], s));
    if (!parts[i].is_none() && !parts[i].is_int() && !parts[i].is_bool()) {
      return located(invalid_argument(std::string("expected integer slice bounds, found ") + kind_name(parts[i].kind())),
                     e.offset);
    }
  }
  const int64_t step = parts[2].is_int() ? parts[2].as_int() : 1;
  if (step == 0) return located(invalid_argument("expected a nonzero slice step, found 0"), e.offset);
  if (obj.is_undefined()) return located(undefined_error(obj, "before '[...]'"), e.offset);
  if (!obj.is_list() && !obj.is_string()) {
    return located(invalid_argument(std::string("expected a list or string to slice, found ") + kind_name(obj.kind())), e.offset);
  }
  const std::vector<size_t> offs = obj.is_string() ? char_offsets(obj.as_string()) : std::vector<size_t>();
  const int64_t n = obj.is_string() ? static_cast<int64_t>(offs.size()) - 1 : static_cast<int64_t>(obj.items().size());
  int64_t b = 0, end = 0;
  slice_indices(n, parts[0], parts[1], step, &b, &end);
  std::vector<Value> items;
  std::string text;
  for (int64_t i = b; step > 0 ? i < end : i > end; i += step) {
    const auto k = static_cast<size_t>(i);
    if (obj.is_string()) text.append(obj.as_string(), offs[k], offs[k + 1] - offs[k]);
    else items.push_back(obj.items()[k]);
  }
  return obj.is_string() ? Value(std::move(text)) : Value::list(std::move(items));
}

Expected<CallArgs> Renderer::eval_args(const Expr& e, size_t first, Scope& s) {
  CallArgs args;
  for (size_t i = first; i < e.args.size(); ++i) {
    MNEMO_ASSIGN_OR_RETURN(Value v, eval(*e.args[i], s));
    args.positional.push_back(std::move(v));
  }
  for (const auto& [k, x] : e.kwargs) {
    MNEMO_ASSIGN_OR_RETURN(Value v, eval(*x, s));
    args.keyword.emplace_back(k, std::move(v));
  }
  return args;
}

Expected<Value> Renderer::eval_call(const Expr& e, Scope& s) {
  MNEMO_ASSIGN_OR_RETURN(Value fn, eval(*e.args[0], s));
  MNEMO_ASSIGN_OR_RETURN(CallArgs args, eval_args(e, 1, s));
  auto r = call(fn, args);
  if (!r) return located(r.status(), e.offset);
  return r;
}

Expected<Value> Renderer::eval_filter(const Expr& e, Scope& s) {
  Value subject;
  if (e.args[0]) {
    MNEMO_ASSIGN_OR_RETURN(subject, eval(*e.args[0], s));
  } else {
    subject = Value(block_value_ != nullptr ? *block_value_ : std::string());
  }
  MNEMO_ASSIGN_OR_RETURN(CallArgs args, eval_args(e, 1, s));
  auto r = apply_filter(*this, e.name, subject, args);
  if (!r) {  // messages name the filter once
    const bool named = r.status().message().rfind(e.name + ":", 0) == 0;
    return located(named ? r.status() : r.status().with_context(e.name), e.offset);
  }
  return r;
}

Expected<Value> Renderer::eval_test(const Expr& e, Scope& s) {
  MNEMO_ASSIGN_OR_RETURN(Value subject, eval(*e.args[0], s));
  MNEMO_ASSIGN_OR_RETURN(CallArgs args, eval_args(e, 1, s));
  auto r = apply_test(*this, e.name, subject, args);
  if (!r) return located(r.status().with_context("is " + e.name), e.offset);
  return Value(*r != e.negated);
}

Expected<Value> Renderer::eval_binary(const Expr& e, Scope& s) {
  MNEMO_ASSIGN_OR_RETURN(Value a, eval(*e.args[0], s));
  MNEMO_ASSIGN_OR_RETURN(Value b, eval(*e.args[1], s));
  auto r = binary_op(*this, e.name, a, b);
  if (!r) return located(r.status(), e.offset);
  return r;
}

Expected<Value> Renderer::eval_compare(const Expr& e, Scope& s) {
  MNEMO_ASSIGN_OR_RETURN(Value left, eval(*e.args[0], s));
  for (size_t i = 0; i < e.ops.size(); ++i) {
    MNEMO_ASSIGN_OR_RETURN(Value right, eval(*e.args[i + 1], s));
    auto r = compare_op(e.ops[i], left, right);
    if (!r) return located(r.status(), e.args[i + 1]->offset);
    if (!*r) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

}  // namespace mnemo::jinja
