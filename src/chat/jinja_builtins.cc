// chat/jinja_builtins.cc: argument binding, tests, methods of strings and dicts, and globals.
#include "chat/jinja_builtins.h"

#include <algorithm>
#include <cctype>

#include "base/strings.h"
#include "chat/jinja_render.h"
#include "chat/jinja_strings.h"

namespace mnemo::jinja {

ArgReader::ArgReader(std::string_view fn, const CallArgs& args, std::initializer_list<const char*> names)
    : fn_(fn), names_(names), bound_(names.size(), nullptr) {
  if (args.positional.size() > names_.size()) {
    status_ = invalid_argument(str_printf("%s: expected at most %zu arguments, found %zu", fn_.c_str(), names_.size(),
                                          args.positional.size()));
    return;
  }
  for (size_t i = 0; i < args.positional.size(); ++i) bound_[i] = &args.positional[i];
  for (const auto& [k, v] : args.keyword) {
    size_t i = 0;
    while (i < names_.size() && k != names_[i]) ++i;
    if (i == names_.size()) {
      status_ = invalid_argument(fn_ + ": expected no keyword argument " + show(k, 32) + ", found one");
      return;
    }
    if (bound_[i] != nullptr) {
      status_ = invalid_argument(fn_ + ": expected one value for '" + k + "', found two");
      return;
    }
    bound_[i] = &v;
  }
}

const Value* ArgReader::get(size_t i) const {
  return i < bound_.size() && bound_[i] != nullptr && !bound_[i]->is_undefined() ? bound_[i] : nullptr;
}

Status ArgReader::kind_error(size_t i, const char* expected) const {
  return invalid_argument(str_printf("%s: expected %s for '%s', found %s", fn_.c_str(), expected, names_[i],
                                     kind_name(bound_[i]->kind())));
}

Expected<std::string> ArgReader::get_string(size_t i, std::string def) const {
  const Value* v = get(i);
  if (v == nullptr || v->is_none()) return def;
  if (!v->is_string()) return kind_error(i, "a string");
  return v->as_string();
}

Expected<int64_t> ArgReader::get_int(size_t i, int64_t def) const {
  const Value* v = get(i);
  if (v == nullptr || v->is_none()) return def;
  if (!v->is_int() && !v->is_bool()) return kind_error(i, "an integer");
  return v->as_int();
}

bool ArgReader::get_bool(size_t i, bool def) const {
  const Value* v = get(i);
  return v == nullptr ? def : v->truthy();
}

// ---- tests ---------------------------------------------------------------------------------------

namespace {

bool all_chars(const std::string& s, int (*pred)(int)) {
  bool any_letter = false;
  for (unsigned char c : s) {
    if (std::isalpha(c)) {
      any_letter = true;
      if (!pred(c)) return false;
    }
  }
  return any_letter;
}

const char* const kTests[] = {"boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "even",
                              "false", "float", "ge", ">=", "gt", ">", "in", "integer", "iterable", "le", "<=",
                              "lower", "lt", "<", "mapping", "ne", "!=", "none", "number", "odd", "sameas",
                              "sequence", "string", "true", "undefined", "upper"};

// The comparison operator a comparison test stands for, or "".
std::string_view test_operator(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> kOps[] = {
      {"eq", "=="}, {"equalto", "=="}, {"==", "=="}, {"ne", "!="}, {"!=", "!="}, {"lt", "<"}, {"<", "<"},
      {"le", "<="}, {"<=", "<="}, {"gt", ">"}, {">", ">"}, {"ge", ">="}, {">=", ">="}, {"in", "in"}};
  for (const auto& [n, op] : kOps) {
    if (n == name) return op;
  }
  return "";
}

}  // namespace

bool is_test(std::string_view name) {
  for (const char* t : kTests) {
    if (name == t) return true;
  }
  return false;
}

Expected<bool> apply_test(Renderer&, std::string_view name, const Value& v, const CallArgs& args) {
  const std::string_view op = test_operator(name);
  if (!op.empty() || name == "sameas" || name == "divisibleby") {
    ArgReader a(name, args, {"other"});
    MNEMO_RETURN_IF_ERROR(a.status());
    if (a.get(0) == nullptr) return invalid_argument(std::string(name) + ": expected a value to compare with, found none");
    const Value& other = *a.get(0);
    if (name == "sameas") return v.same_as(other);
    if (name == "divisibleby") {
      if (!v.is_int() || !other.is_int() || other.as_int() == 0) {
        return invalid_argument("divisibleby: expected a nonzero integer divisor and an integer, found other values");
      }
      return other.as_int() == -1 || v.as_int() % other.as_int() == 0;
    }
    return compare_op(op, v, other);
  }
  if (!args.positional.empty() || !args.keyword.empty()) {
    return invalid_argument(std::string(name) + ": expected no arguments, found some");
  }
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_string() || v.is_list() || v.is_dict();
  if (name == "sequence") return v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.is_function();
  if (name == "odd" || name == "even") {
    if (!v.is_int()) return invalid_argument(std::string("expected an integer, found ") + kind_name(v.kind()));
    return (v.as_int() % 2 != 0) == (name == "odd");
  }
  if (name == "lower") return v.is_string() && all_chars(v.as_string(), [](int c) { return std::islower(c); });
  if (name == "upper") return v.is_string() && all_chars(v.as_string(), [](int c) { return std::isupper(c); });
  return invalid_argument("expected a known test, found '" + std::string(name) + "'");
}

// ---- methods -------------------------------------------------------------------------------------

namespace {

using Method = Expected<Value> (*)(Renderer&, const Value& self, const CallArgs& args);

Expected<Value> dict_get(Renderer&, const Value& self, const CallArgs& args) {
  ArgReader a("get", args, {"key", "default"});
  MNEMO_RETURN_IF_ERROR(a.status());
  if (a.get(0) == nullptr) return invalid_argument("get: expected a key, found none");
  const Value* v = self.find(*a.get(0));
  if (v != nullptr) return *v;
  return a.get(1) != nullptr ? *a.get(1) : Value::none();
}

Expected<Value> dict_view(const Value& self, int which, const CallArgs& args) {
  if (!args.positional.empty() || !args.keyword.empty()) return invalid_argument("expected no arguments, found some");
  std::vector<Value> out;
  for (const auto& [k, v] : self.dict_data().entries) {
    out.push_back(which == 0 ? Value::tuple({k, v}) : which == 1 ? k : v);
  }
  return Value::list(std::move(out));
}

Expected<Value> dict_items(Renderer&, const Value& self, const CallArgs& args) { return dict_view(self, 0, args); }
Expected<Value> dict_keys(Renderer&, const Value& self, const CallArgs& args) { return dict_view(self, 1, args); }
Expected<Value> dict_values(Renderer&, const Value& self, const CallArgs& args) { return dict_view(self, 2, args); }

const std::pair<const char*, Method> kDictMethods[] = {
    {"get", dict_get}, {"items", dict_items}, {"keys", dict_keys}, {"values", dict_values}};

}  // namespace

std::optional<Value> find_method(const Value& obj, std::string_view name) {
  const Method* m = nullptr;
  if (obj.is_dict() && !obj.is_namespace()) {
    for (const auto& [n, f] : kDictMethods) {
      if (name == n) m = &f;
    }
  } else if (obj.is_string()) {
    m = find_string_method(name);
  }
  if (m == nullptr) return std::nullopt;
  const Method fn = *m;
  return Value::function(std::string(name), [obj, fn](Renderer& r, const CallArgs& args) { return fn(r, obj, args); });
}

// ---- globals -------------------------------------------------------------------------------------

namespace {

Expected<Value> range_fn(Renderer& r, const CallArgs& args) {
  if (!args.keyword.empty() || args.positional.empty() || args.positional.size() > 3) {
    return invalid_argument("range: expected 1 to 3 integer arguments");
  }
  int64_t v[3] = {0, 0, 1};
  for (size_t i = 0; i < args.positional.size(); ++i) {
    const Value& a = args.positional[i];
    if (!a.is_int() && !a.is_bool()) return invalid_argument(std::string("range: expected integers, found ") + kind_name(a.kind()));
    v[args.positional.size() == 1 ? 1 : i] = a.as_int();
  }
  if (v[2] == 0) return invalid_argument("range: expected a nonzero step, found 0");
  const long double count = v[2] > 0 ? (static_cast<long double>(v[1]) - v[0]) / v[2] : (static_cast<long double>(v[0]) - v[1]) / -v[2];
  if (count > 0) MNEMO_RETURN_IF_ERROR(r.check_items(static_cast<uint64_t>(count) + 1));
  std::vector<Value> out;
  for (int64_t i = v[0]; v[2] > 0 ? i < v[1] : i > v[1]; i += v[2]) {
    out.emplace_back(i);
    if ((v[2] > 0 && i > INT64_MAX - v[2]) || (v[2] < 0 && i < INT64_MIN - v[2])) break;
  }
  return Value::list(std::move(out));
}

Expected<Value> dict_from_keywords(Renderer& r, bool ns, const CallArgs& args) {
  Value d = ns ? Value::make_namespace() : Value::dict();
  if (ns) r.track_namespace(d);
  for (const Value& p : args.positional) {  // namespace(mapping) / dict(mapping)
    if (!p.is_dict()) return invalid_argument(std::string("expected a dict or keyword arguments, found ") + kind_name(p.kind()));
    for (const auto& [k, v] : p.dict_data().entries) d.set(k, v);
  }
  for (const auto& [k, v] : args.keyword) d.set(Value(k), v);
  return d;
}

}  // namespace

void add_builtin_globals(Value& g) {
  g.set("range", Value::function("range", range_fn));
  g.set("namespace", Value::function("namespace", [](Renderer& r, const CallArgs& a) { return dict_from_keywords(r, true, a); }));
  g.set("dict", Value::function("dict", [](Renderer& r, const CallArgs& a) { return dict_from_keywords(r, false, a); }));
  g.set("raise_exception", Value::function("raise_exception", [](Renderer& r, const CallArgs& a) -> Expected<Value> {
          std::string msg = "(no message)";
          if (!a.positional.empty()) {
            MNEMO_ASSIGN_OR_RETURN(msg, r.str(a.positional[0]));
          }
          return invalid_argument("the template raised an exception: " + msg);
        }));
}

}  // namespace mnemo::jinja
