// chat/jinja_filters.cc: Jinja2's filters (Hugging Face's tojson).
#include <algorithm>
#include <cmath>

#include "base/strings.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_render.h"
#include "chat/jinja_strings.h"
#include "tokenizer/utf8.h"

namespace mnemo::jinja {
namespace {

using Filter = Expected<Value> (*)(Renderer&, const Value&, const CallArgs&);

Status want(const char* fn, const char* what, const Value& v) {
  return invalid_argument(str_printf("%s: expected %s, found %s", fn, what, kind_name(v.kind())));
}

Status no_args(const char* fn, const CallArgs& a) {
  if (a.positional.empty() && a.keyword.empty()) return Status::ok();
  return invalid_argument(std::string(fn) + ": expected no arguments, found some");
}

// Follows a dotted attribute path ("function.name"; digits index lists), as Jinja2's
// make_attrgetter does; undefined where a step is missing.
Value attr_path(const Value& v, const std::string& path) {
  Value cur = v;
  for (const std::string& part : mnemo::split(path, '.')) {
    int64_t idx = 0;
    if (cur.is_dict()) {
      const Value* x = cur.find(std::string_view(part));
      cur = x != nullptr ? *x : Value::undefined(part);
    } else if (cur.is_list() && parse_int64(part, &idx) && idx >= 0 && static_cast<size_t>(idx) < cur.items().size()) {
      cur = cur.items()[static_cast<size_t>(idx)];
    } else {
      return Value::undefined(part);
    }
  }
  return cur;
}

// Sort/unique key: the attribute, lowercased when comparisons ignore case.
Value sort_key(const Value& v, const Value* attribute, bool case_sensitive) {
  Value k = attribute != nullptr && attribute->is_string() ? attr_path(v, attribute->as_string()) : v;
  if (!case_sensitive && k.is_string()) return Value(ascii_lower(k.as_string()));
  return k;
}

Expected<Value> f_default(Renderer&, const Value& v, const CallArgs& args) {
  ArgReader a("default", args, {"default_value", "boolean"});
  MNEMO_RETURN_IF_ERROR(a.status());
  const bool use_default = v.is_undefined() || (a.get_bool(1, false) && !v.truthy());
  if (!use_default) return v;
  return a.get(0) != nullptr ? *a.get(0) : Value("");
}

Expected<Value> f_length(Renderer&, const Value& v, const CallArgs& args) {
  MNEMO_RETURN_IF_ERROR(no_args("length", args));
  if (!v.is_string() && !v.is_list() && !v.is_dict() && !v.is_undefined()) return want("length", "a string, list or dict", v);
  return Value(static_cast<int64_t>(v.length()));
}

Expected<Value> f_trim(Renderer& r, const Value& v, const CallArgs& args) {
  ArgReader a("trim", args, {"chars"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::string chars, a.get_string(0, ""));
  MNEMO_ASSIGN_OR_RETURN(std::string s, r.str(v));
  return Value(strip(s, chars, true, true));
}

Expected<Value> f_case(Renderer& r, const Value& v, const CallArgs& args, std::string (*f)(std::string_view)) {
  MNEMO_RETURN_IF_ERROR(no_args("case filter", args));
  MNEMO_ASSIGN_OR_RETURN(std::string s, r.str(v));
  return Value(f(s));
}
Expected<Value> f_upper(Renderer& r, const Value& v, const CallArgs& a) { return f_case(r, v, a, ascii_upper); }
Expected<Value> f_lower(Renderer& r, const Value& v, const CallArgs& a) { return f_case(r, v, a, ascii_lower); }
Expected<Value> f_title(Renderer& r, const Value& v, const CallArgs& a) { return f_case(r, v, a, title_case); }
Expected<Value> f_capitalize(Renderer& r, const Value& v, const CallArgs& a) { return f_case(r, v, a, capitalize); }

Expected<Value> f_string(Renderer& r, const Value& v, const CallArgs& args) {
  MNEMO_RETURN_IF_ERROR(no_args("string", args));
  MNEMO_ASSIGN_OR_RETURN(std::string s, r.str(v));
  return Value(std::move(s));
}

// json.dumps(v, ensure_ascii=..., indent=...): Hugging Face's tojson (no key sorting).
Expected<Value> f_tojson(Renderer& r, const Value& v, const CallArgs& args) {
  ArgReader a("tojson", args, {"indent", "ensure_ascii", "sort_keys"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(int64_t indent, a.get_int(0, -1));
  if (a.get_bool(2, false)) return invalid_argument("tojson: expected sort_keys=False, found True (not supported)");
  MNEMO_ASSIGN_OR_RETURN(std::string json, to_json(v, static_cast<int>(std::clamp<int64_t>(indent, -1, 64)),
                                                   r.limits().max_output_bytes));
  if (!a.get_bool(1, false)) return Value(std::move(json));
  std::string ascii;  // \uXXXX (surrogate pairs above U+FFFF) for every non-ASCII character
  const auto offs = char_offsets(json);
  for (size_t i = 0; i + 1 < offs.size(); ++i) {
    const std::string_view ch = std::string_view(json).substr(offs[i], offs[i + 1] - offs[i]);
    if (ch.size() == 1) {
      ascii += ch;
      continue;
    }
    uint32_t cp = static_cast<unsigned char>(ch[0]) & (ch.size() == 2 ? 0x1F : ch.size() == 3 ? 0x0F : 0x07);
    for (size_t k = 1; k < ch.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(ch[k]) & 0x3F);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      ascii += str_printf("\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
    } else {
      ascii += str_printf("\\u%04x", cp);
    }
  }
  MNEMO_RETURN_IF_ERROR(r.check_bytes(ascii.size()));
  return Value(std::move(ascii));
}

Expected<Value> f_join(Renderer& r, const Value& v, const CallArgs& args) {
  ArgReader a("join", args, {"d", "attribute"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::string sep, a.get_string(0, ""));
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    const Value item = a.get(1) != nullptr ? attr_path(items[i], a.get(1)->as_string()) : items[i];
    MNEMO_ASSIGN_OR_RETURN(std::string s, r.str(item));
    if (i > 0) out += sep;
    out += s;
    MNEMO_RETURN_IF_ERROR(r.check_bytes(out.size()));
  }
  MNEMO_RETURN_IF_ERROR(r.charge(items.size()));
  return Value(std::move(out));
}

Expected<Value> f_first_last(const Value& v, const CallArgs& args, bool first) {
  MNEMO_RETURN_IF_ERROR(no_args(first ? "first" : "last", args));
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  if (items.empty()) return Value::undefined(first ? "first" : "last");
  return first ? items.front() : items.back();
}
Expected<Value> f_first(Renderer&, const Value& v, const CallArgs& a) { return f_first_last(v, a, true); }
Expected<Value> f_last(Renderer&, const Value& v, const CallArgs& a) { return f_first_last(v, a, false); }

Expected<Value> f_list(Renderer&, const Value& v, const CallArgs& args) {
  MNEMO_RETURN_IF_ERROR(no_args("list", args));
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  return Value::list(std::move(items));
}

Expected<Value> f_items(Renderer&, const Value& v, const CallArgs& args) {
  MNEMO_RETURN_IF_ERROR(no_args("items", args));
  if (v.is_undefined()) return Value::list();
  if (!v.is_dict()) return want("items", "a dict", v);
  std::vector<Value> out;
  for (const auto& [k, x] : v.dict_data().entries) out.push_back(Value::tuple({k, x}));
  return Value::list(std::move(out));
}

Expected<Value> f_replace(Renderer& r, const Value& v, const CallArgs& args) {
  ArgReader a("replace", args, {"old", "new", "count"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::string s, r.str(v));
  if (a.get(0) == nullptr || a.get(1) == nullptr) return invalid_argument("replace: expected old and new strings");
  MNEMO_ASSIGN_OR_RETURN(std::string from, r.str(*a.get(0)));
  MNEMO_ASSIGN_OR_RETURN(std::string to, r.str(*a.get(1)));
  MNEMO_ASSIGN_OR_RETURN(int64_t count, a.get_int(2, -1));
  MNEMO_ASSIGN_OR_RETURN(std::string out, replace(s, from, to, count, r.limits().max_output_bytes));
  return Value(std::move(out));
}

// select/reject (test on the item) and selectattr/rejectattr (test on an attribute).
Expected<Value> select_impl(Renderer& r, const Value& v, const CallArgs& args, bool keep, bool by_attr) {
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v.truthy() ? v : Value()));  // Jinja2: none gives nothing
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    if (args.positional.empty() || !args.positional[0].is_string()) return invalid_argument("expected an attribute name");
    attr = args.positional[next++].as_string();
  }
  std::string test;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string() || !is_test(args.positional[next].as_string())) {
      return invalid_argument("expected the name of a known test");
    }
    test = args.positional[next++].as_string();
  }
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next), args.positional.end());
  std::vector<Value> out;
  for (const Value& item : items) {
    const Value subject = by_attr ? attr_path(item, attr) : item;
    bool pass = subject.truthy();
    if (!test.empty()) {
      MNEMO_ASSIGN_OR_RETURN(pass, apply_test(r, test, subject, test_args));
    }
    if (pass == keep) out.push_back(item);
  }
  MNEMO_RETURN_IF_ERROR(r.charge(items.size()));
  return Value::list(std::move(out));
}
Expected<Value> f_select(Renderer& r, const Value& v, const CallArgs& a) { return select_impl(r, v, a, true, false); }
Expected<Value> f_reject(Renderer& r, const Value& v, const CallArgs& a) { return select_impl(r, v, a, false, false); }
Expected<Value> f_selectattr(Renderer& r, const Value& v, const CallArgs& a) { return select_impl(r, v, a, true, true); }
Expected<Value> f_rejectattr(Renderer& r, const Value& v, const CallArgs& a) { return select_impl(r, v, a, false, true); }

// map(attribute='x'[, default=d]) or map('filter', args...).
Expected<Value> f_map(Renderer& r, const Value& v, const CallArgs& args) {
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v.truthy() ? v : Value()));  // Jinja2: none gives nothing
  std::vector<Value> out;
  const Value* attribute = nullptr;
  const Value* def = nullptr;
  for (const auto& [k, x] : args.keyword) {
    if (k == "attribute") attribute = &x;
    else if (k == "default") def = &x;
    else return invalid_argument("map: expected the keyword 'attribute' or 'default', found " + show(k, 32));
  }
  if (attribute != nullptr) {
    if (!attribute->is_string()) return invalid_argument("map: expected an attribute name");
    for (const Value& item : items) {
      Value x = attr_path(item, attribute->as_string());
      out.push_back(x.is_undefined() && def != nullptr ? *def : x);
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string() || !is_filter(args.positional[0].as_string())) {
    return invalid_argument("map: expected attribute=NAME or the name of a known filter");
  }
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  for (const Value& item : items) {
    MNEMO_ASSIGN_OR_RETURN(Value x, apply_filter(r, args.positional[0].as_string(), item, rest));
    out.push_back(std::move(x));
  }
  MNEMO_RETURN_IF_ERROR(r.charge(items.size()));
  return Value::list(std::move(out));
}

// Stable sort by key with Python's '<'; errors for keys that do not compare.
Expected<std::vector<Value>> sorted(std::vector<Value> items, const Value* attribute, bool case_sensitive, bool reverse) {
  Status err;
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    if (!err.is_ok()) return false;
    auto lt = compare_op("<", sort_key(reverse ? y : x, attribute, case_sensitive), sort_key(reverse ? x : y, attribute, case_sensitive));
    if (!lt) {
      err = lt.status();
      return false;
    }
    return *lt;
  });
  if (!err.is_ok()) return err;
  return items;
}

Expected<Value> f_sort(Renderer& r, const Value& v, const CallArgs& args) {
  ArgReader a("sort", args, {"reverse", "case_sensitive", "attribute"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  MNEMO_RETURN_IF_ERROR(r.charge(items.size() * 16));
  MNEMO_ASSIGN_OR_RETURN(items, sorted(std::move(items), a.get(2), a.get_bool(1, false), a.get_bool(0, false)));
  return Value::list(std::move(items));
}

Expected<Value> f_dictsort(Renderer& r, const Value& v, const CallArgs& args) {
  ArgReader a("dictsort", args, {"case_sensitive", "by", "reverse"});
  MNEMO_RETURN_IF_ERROR(a.status());
  if (!v.is_dict()) return want("dictsort", "a dict", v);
  MNEMO_ASSIGN_OR_RETURN(std::string by, a.get_string(1, "key"));
  std::vector<Value> pairs;
  for (const auto& [k, x] : v.dict_data().entries) pairs.push_back(Value::tuple({k, x}));
  const Value attr(by == "value" ? "1" : "0");
  MNEMO_RETURN_IF_ERROR(r.charge(pairs.size() * 16));
  MNEMO_ASSIGN_OR_RETURN(pairs, sorted(std::move(pairs), &attr, a.get_bool(0, false), a.get_bool(2, false)));
  return Value::list(std::move(pairs));
}

Expected<Value> f_unique(Renderer& r, const Value& v, const CallArgs& args) {
  ArgReader a("unique", args, {"case_sensitive", "attribute"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  MNEMO_RETURN_IF_ERROR(r.charge(items.size() * items.size() / 8 + 1));
  std::vector<Value> out, keys;
  for (const Value& item : items) {
    const Value k = sort_key(item, a.get(1), a.get_bool(0, false));
    if (std::none_of(keys.begin(), keys.end(), [&](const Value& x) { return x.equals(k); })) {
      keys.push_back(k);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

Expected<Value> f_min_max(Renderer& r, const Value& v, const CallArgs& args, bool max) {
  ArgReader a(max ? "max" : "min", args, {"case_sensitive", "attribute"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  if (items.empty()) return Value::undefined(max ? "max" : "min");
  MNEMO_RETURN_IF_ERROR(r.charge(items.size() * 16));
  MNEMO_ASSIGN_OR_RETURN(items, sorted(std::move(items), a.get(1), a.get_bool(0, false), false));
  return max ? items.back() : items.front();
}
Expected<Value> f_max(Renderer& r, const Value& v, const CallArgs& a) { return f_min_max(r, v, a, true); }
Expected<Value> f_min(Renderer& r, const Value& v, const CallArgs& a) { return f_min_max(r, v, a, false); }

Expected<Value> f_reverse(Renderer&, const Value& v, const CallArgs& args) {
  MNEMO_RETURN_IF_ERROR(no_args("reverse", args));
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  std::reverse(items.begin(), items.end());
  if (!v.is_string()) return Value::list(std::move(items));
  std::string out;
  for (const Value& c : items) out += c.as_string();
  return Value(std::move(out));
}

Expected<Value> f_sum(Renderer& r, const Value& v, const CallArgs& args) {
  ArgReader a("sum", args, {"attribute", "start"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
  Value total = a.get(1) != nullptr ? *a.get(1) : Value(int64_t{0});
  for (const Value& item : items) {
    const Value x = a.get(0) != nullptr ? attr_path(item, a.get(0)->as_string()) : item;
    MNEMO_ASSIGN_OR_RETURN(total, binary_op(r, "+", total, x));
  }
  return total;
}

Expected<Value> f_abs(Renderer&, const Value& v, const CallArgs& args) {
  MNEMO_RETURN_IF_ERROR(no_args("abs", args));
  if (v.is_float()) return Value(std::fabs(v.as_double()));
  if (!v.is_number()) return want("abs", "a number", v);
  if (v.as_int() == INT64_MIN) return out_of_range("abs: overflow");
  return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
}

Expected<Value> f_int(Renderer&, const Value& v, const CallArgs& args) {
  ArgReader a("int", args, {"default", "base"});
  MNEMO_RETURN_IF_ERROR(a.status());
  const Value def = a.get(0) != nullptr ? *a.get(0) : Value(int64_t{0});
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    const double f = std::trunc(v.as_double());
    if (!(f > -9.2e18 && f < 9.2e18)) return def;
    return Value(static_cast<int64_t>(f));
  }
  int64_t out = 0;
  if (v.is_string() && parse_int64(strip(v.as_string(), "", true, true), &out)) return Value(out);
  return def;
}

Expected<Value> f_float(Renderer&, const Value& v, const CallArgs& args) {
  ArgReader a("float", args, {"default"});
  MNEMO_RETURN_IF_ERROR(a.status());
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string()) {
    const std::string s = strip(v.as_string(), "", true, true);
    char* end = nullptr;
    const double f = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return Value(f);
  }
  return a.get(0) != nullptr ? *a.get(0) : Value(0.0);
}

Expected<Value> f_round(Renderer&, const Value& v, const CallArgs& args) {
  ArgReader a("round", args, {"precision", "method"});
  MNEMO_RETURN_IF_ERROR(a.status());
  if (!v.is_number()) return want("round", "a number", v);
  MNEMO_ASSIGN_OR_RETURN(int64_t precision, a.get_int(0, 0));
  MNEMO_ASSIGN_OR_RETURN(std::string method, a.get_string(1, "common"));
  const double scale = std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -300, 300)));
  const double x = v.as_double() * scale;
  const double y = method == "floor" ? std::floor(x) : method == "ceil" ? std::ceil(x) : std::round(x);
  return Value(y / scale);
}

Expected<Value> f_indent(Renderer& r, const Value& v, const CallArgs& args) {
  ArgReader a("indent", args, {"width", "first", "blank"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::string s, r.str(v));
  std::string pad;
  if (a.get(0) != nullptr && a.get(0)->is_string()) {
    pad = a.get(0)->as_string();
  } else {
    MNEMO_ASSIGN_OR_RETURN(int64_t width, a.get_int(0, 4));
    pad = std::string(static_cast<size_t>(std::clamp<int64_t>(width, 0, 256)), ' ');
  }
  const std::vector<std::string> lines = mnemo::split(s, '\n');
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    const bool blank = strip(lines[i], "", true, true).empty();
    if ((i > 0 || a.get_bool(1, false)) && (!blank || a.get_bool(2, false))) out += pad;
    out += lines[i];
    MNEMO_RETURN_IF_ERROR(r.check_bytes(out.size()));
  }
  return Value(std::move(out));
}

Expected<Value> f_escape(Renderer& r, const Value& v, const CallArgs& args) {
  MNEMO_RETURN_IF_ERROR(no_args("escape", args));
  if (v.is_safe()) return v;
  MNEMO_ASSIGN_OR_RETURN(std::string s, r.str(v));
  std::string out = html_escape(s);
  MNEMO_RETURN_IF_ERROR(r.check_bytes(out.size()));
  return Value::safe_string(std::move(out));
}

Expected<Value> f_safe(Renderer& r, const Value& v, const CallArgs& args) {
  MNEMO_RETURN_IF_ERROR(no_args("safe", args));
  MNEMO_ASSIGN_OR_RETURN(std::string s, r.str(v));
  return Value::safe_string(std::move(s));
}

Expected<Value> f_attr(Renderer&, const Value& v, const CallArgs& args) {
  ArgReader a("attr", args, {"name"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::string name, a.get_string(0, ""));
  const Value* x = v.find(std::string_view(name));
  return x != nullptr ? *x : Value::undefined(name);
}

Expected<Value> f_wordcount(Renderer& r, const Value& v, const CallArgs& args) {
  MNEMO_RETURN_IF_ERROR(no_args("wordcount", args));
  MNEMO_ASSIGN_OR_RETURN(std::string s, r.str(v));
  return Value(static_cast<int64_t>(split(s, "", -1).size()));
}

// "%s"-style formatting: %s %d %i %f %r %%, taking the arguments in order.
Expected<Value> f_format(Renderer& r, const Value& v, const CallArgs& args) {
  if (!v.is_string()) return want("format", "a format string", v);
  const std::string& f = v.as_string();
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%' || i + 1 >= f.size()) {
      out += f[i];
      continue;
    }
    const char c = f[++i];
    if (c == '%') {
      out += '%';
      continue;
    }
    if (next >= args.positional.size()) return invalid_argument("format: expected more arguments than given");
    const Value& x = args.positional[next++];
    if (c == 'd' || c == 'i') {
      if (!x.is_number()) return want("format", "a number for %d", x);
      out += std::to_string(x.is_float() ? static_cast<int64_t>(x.as_double()) : x.as_int());
    } else if (c == 'f') {
      if (!x.is_number()) return want("format", "a number for %f", x);
      out += str_printf("%f", x.as_double());
    } else if (c == 's' || c == 'r') {
      MNEMO_ASSIGN_OR_RETURN(std::string s, c == 's' ? r.str(x) : to_repr(x, r.limits().max_output_bytes));
      out += s;
    } else {
      return invalid_argument(std::string("format: expected %s, %d, %f, %r or %%, found %") + c);
    }
    MNEMO_RETURN_IF_ERROR(r.check_bytes(out.size()));
  }
  return Value(std::move(out));
}

const std::pair<const char*, Filter> kFilters[] = {
    {"abs", f_abs},          {"attr", f_attr},         {"capitalize", f_capitalize}, {"count", f_length},
    {"d", f_default},        {"default", f_default},   {"dictsort", f_dictsort},     {"e", f_escape},
    {"escape", f_escape},    {"first", f_first},       {"float", f_float},           {"format", f_format},
    {"indent", f_indent},    {"int", f_int},           {"items", f_items},           {"join", f_join},
    {"last", f_last},        {"length", f_length},     {"list", f_list},             {"lower", f_lower},
    {"map", f_map},          {"max", f_max},           {"min", f_min},               {"reject", f_reject},
    {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},   {"round", f_round},
    {"safe", f_safe},        {"select", f_select},     {"selectattr", f_selectattr}, {"sort", f_sort},
    {"string", f_string},    {"sum", f_sum},           {"title", f_title},           {"tojson", f_tojson},
    {"trim", f_trim},        {"unique", f_unique},     {"upper", f_upper},           {"wordcount", f_wordcount},
};

}  // namespace

bool is_filter(std::string_view name) {
  for (const auto& [n, f] : kFilters) {
    if (name == n) return true;
  }
  return false;
}

Expected<Value> apply_filter(Renderer& r, std::string_view name, const Value& subject, const CallArgs& args) {
  for (const auto& [n, f] : kFilters) {
    if (name == n) return f(r, subject, args);
  }
  return invalid_argument("expected a known filter, found '" + std::string(name) + "'");
}

}  // namespace mnemo::jinja
