// chat/jinja_value.cc: Value, and its Python-style text conversions (str, repr, json.dumps).
#include "chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "base/strings.h"

namespace mnemo::jinja {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kUndefined: return "undefined";
    case Kind::kNone: return "none";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kFunction: return "function";
  }
  return "?";
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::undefined(std::string name) {
  Value v;
  v.s_ = std::move(name);
  return v;
}

Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::kList;
  v.list_ = std::make_shared<std::vector<Value>>(std::move(items));
  return v;
}

Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.safe_ = true;
  return v;
}

Value Value::dict() {
  Value v;
  v.kind_ = Kind::kDict;
  v.dict_ = std::make_shared<DictData>();
  return v;
}

Value Value::make_namespace() {
  Value v = dict();
  v.dict_->is_namespace = true;
  return v;
}

Value Value::function(std::string name, Function fn) {
  Value v;
  v.kind_ = Kind::kFunction;
  v.fn_ = std::make_shared<FunctionData>(FunctionData{std::move(name), std::move(fn)});
  return v;
}

Value Value::safe_string(std::string s) {
  Value v(std::move(s));
  v.safe_ = true;
  return v;
}

double Value::as_double() const {
  if (kind_ == Kind::kFloat) return f_;
  return static_cast<double>(as_int());
}

const Value* Value::find(const Value& key) const {
  if (kind_ != Kind::kDict) return nullptr;
  for (const auto& [k, v] : dict_->entries) {
    if (k.equals(key)) return &v;
  }
  return nullptr;
}

const Value* Value::find(std::string_view key) const {
  if (kind_ != Kind::kDict) return nullptr;
  for (const auto& [k, v] : dict_->entries) {
    if (k.is_string() && k.s_ == key) return &v;
  }
  return nullptr;
}

void Value::set(Value key, Value v) {
  if (kind_ != Kind::kDict) return;
  for (auto& [k, old] : dict_->entries) {
    if (k.equals(key)) {
      old = std::move(v);
      return;
    }
  }
  dict_->entries.emplace_back(std::move(key), std::move(v));
}

void Value::clear_entries() {
  if (kind_ == Kind::kDict) dict_->entries.clear();
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return b_;
    case Kind::kInt: return i_ != 0;
    case Kind::kFloat: return f_ != 0;
    case Kind::kString: return !s_.empty();
    case Kind::kList: return !list_->empty();
    case Kind::kDict: return !dict_->entries.empty();
    case Kind::kFunction: return true;
  }
  return false;
}

bool Value::equals(const Value& o, int depth) const {
  if (depth > kMaxNesting) return false;
  if (is_number() && o.is_number()) {
    if (kind_ == Kind::kFloat || o.kind_ == Kind::kFloat) return as_double() == o.as_double();
    return as_int() == o.as_int();
  }
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return true;
    case Kind::kString: return s_ == o.s_;
    case Kind::kList: {
      if (list_ == o.list_) return true;
      if (list_->size() != o.list_->size()) return false;
      for (size_t i = 0; i < list_->size(); ++i) {
        if (!(*list_)[i].equals((*o.list_)[i], depth + 1)) return false;
      }
      return true;
    }
    case Kind::kDict: {
      if (dict_ == o.dict_) return true;
      if (dict_->entries.size() != o.dict_->entries.size()) return false;
      for (const auto& [k, v] : dict_->entries) {
        const Value* ov = o.find(k);
        if (ov == nullptr || !v.equals(*ov, depth + 1)) return false;
      }
      return true;
    }
    case Kind::kFunction: return fn_ == o.fn_;
    default: return false;
  }
}

bool Value::same_as(const Value& o) const {
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::kList: return list_ == o.list_;
    case Kind::kDict: return dict_ == o.dict_;
    case Kind::kFunction: return fn_ == o.fn_;
    default: return equals(o);
  }
}

std::vector<size_t> char_offsets(std::string_view s) {
  std::vector<size_t> offs;
  offs.reserve(s.size() + 1);
  size_t i = 0;
  while (i < s.size()) {
    offs.push_back(i);
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        n = 1;
        break;
      }
    }
    i += n;
  }
  offs.push_back(s.size());
  return offs;
}

size_t Value::length() const {
  switch (kind_) {
    case Kind::kString: return char_offsets(s_).size() - 1;
    case Kind::kList: return list_->size();
    case Kind::kDict: return dict_->entries.size();
    default: return 0;
  }
}

std::string format_float(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  if (f == 0) return std::signbit(f) ? "-0.0" : "0.0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // "-d.ddde+XX"
  const bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::atoi(sci.c_str() + e + 1);
  const int decpt = exp10 + 1;  // digits d1 d2 ... stand for 0.d1d2... x 10^decpt
  std::string out = neg ? "-" : "";
  if (decpt > 16 || decpt < -3) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    char ex[16];
    std::snprintf(ex, sizeof ex, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    return out + ex;
  }
  if (decpt <= 0) return out + "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
  if (static_cast<size_t>(decpt) >= digits.size()) {
    return out + digits + std::string(static_cast<size_t>(decpt) - digits.size(), '0') + ".0";
  }
  return out + digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
}

namespace {

// Appends text to an output bounded by max_bytes and nesting depth.
class TextBuilder {
 public:
  explicit TextBuilder(uint64_t max_bytes) : max_(max_bytes) {}
  Status add(std::string_view s) {
    if (out_.size() + s.size() > max_) {
      return out_of_range(str_printf("expected a text of at most %llu bytes, found more",
                                     static_cast<unsigned long long>(max_)));
    }
    out_.append(s);
    return Status::ok();
  }
  std::string take() { return std::move(out_); }

 private:
  uint64_t max_;
  std::string out_;
};

Status nesting_error() {
  return out_of_range(str_printf("expected values nested at most %d deep, found deeper (a value that contains itself?)",
                                 kMaxNesting));
}

std::string python_quote(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) out += str_printf("\\x%02x", c);
    else out += static_cast<char>(c);
  }
  return out + q;
}

Status append_repr(TextBuilder& b, const Value& v, int depth);

Status append_str(TextBuilder& b, const Value& v, int depth) {
  switch (v.kind()) {
    case Kind::kUndefined: return Status::ok();
    case Kind::kString: return b.add(v.as_string());
    default: return append_repr(b, v, depth);
  }
}

Status append_repr(TextBuilder& b, const Value& v, int depth) {
  if (depth > kMaxNesting) return nesting_error();
  switch (v.kind()) {
    case Kind::kUndefined: return Status::ok();
    case Kind::kNone: return b.add("None");
    case Kind::kBool: return b.add(v.as_bool() ? "True" : "False");
    case Kind::kInt: return b.add(std::to_string(v.as_int()));
    case Kind::kFloat: return b.add(format_float(v.as_double()));
    case Kind::kString: return b.add(python_quote(v.as_string()));
    case Kind::kFunction: return b.add("<function " + v.function_data().name + ">");
    case Kind::kList: {
      MNEMO_RETURN_IF_ERROR(b.add(v.is_tuple() ? "(" : "["));
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i > 0) MNEMO_RETURN_IF_ERROR(b.add(", "));
        MNEMO_RETURN_IF_ERROR(append_repr(b, v.items()[i], depth + 1));
      }
      if (v.is_tuple()) return b.add(v.items().size() == 1 ? ",)" : ")");
      return b.add("]");
    }
    case Kind::kDict: {
      MNEMO_RETURN_IF_ERROR(b.add(v.is_namespace() ? "<Namespace {" : "{"));
      bool first = true;
      for (const auto& [k, val] : v.dict_data().entries) {
        if (!first) MNEMO_RETURN_IF_ERROR(b.add(", "));
        first = false;
        MNEMO_RETURN_IF_ERROR(append_repr(b, k, depth + 1));
        MNEMO_RETURN_IF_ERROR(b.add(": "));
        MNEMO_RETURN_IF_ERROR(append_repr(b, val, depth + 1));
      }
      return b.add(v.is_namespace() ? "}>" : "}");
    }
  }
  return Status::ok();
}

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) out += str_printf("\\u%04x", c);
        else out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string json_float(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f > 0 ? "Infinity" : "-Infinity";
  return format_float(f);
}

std::string quoted(const std::string& s) {
  std::string out(1, '"');
  out += s;
  out += '"';
  return out;
}

// A dict key as json.dumps writes it: strings as they are, numbers and constants as text.
Expected<std::string> json_key(const Value& k) {
  switch (k.kind()) {
    case Kind::kString: return json_quote(k.as_string());
    case Kind::kInt: return quoted(std::to_string(k.as_int()));
    case Kind::kFloat: return quoted(json_float(k.as_double()));
    case Kind::kBool: return std::string(k.as_bool() ? "\"true\"" : "\"false\"");
    case Kind::kNone: return std::string("\"null\"");
    default: return invalid_argument(std::string("tojson: expected dict keys that are strings or numbers, found ") + kind_name(k.kind()));
  }
}

Status append_json(TextBuilder& b, const Value& v, int indent, int depth) {
  if (depth > kMaxNesting) return nesting_error();
  std::string nl, nl_end;  // newline and indentation before an item, and before the closing bracket
  if (indent >= 0) {
    nl.assign(1, '\n').append(static_cast<size_t>(indent) * static_cast<size_t>(depth + 1), ' ');
    nl_end.assign(1, '\n').append(static_cast<size_t>(indent) * static_cast<size_t>(depth), ' ');
  }
  const char* sep = indent >= 0 ? "," : ", ";
  switch (v.kind()) {
    case Kind::kNone: return b.add("null");
    case Kind::kBool: return b.add(v.as_bool() ? "true" : "false");
    case Kind::kInt: return b.add(std::to_string(v.as_int()));
    case Kind::kFloat: return b.add(json_float(v.as_double()));
    case Kind::kString: return b.add(json_quote(v.as_string()));
    case Kind::kList: {
      if (v.items().empty()) return b.add("[]");
      MNEMO_RETURN_IF_ERROR(b.add("["));
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i > 0) MNEMO_RETURN_IF_ERROR(b.add(sep));
        MNEMO_RETURN_IF_ERROR(b.add(nl));
        MNEMO_RETURN_IF_ERROR(append_json(b, v.items()[i], indent, depth + 1));
      }
      MNEMO_RETURN_IF_ERROR(b.add(nl_end));
      return b.add("]");
    }
    case Kind::kDict: {
      if (v.dict_data().entries.empty()) return b.add("{}");
      MNEMO_RETURN_IF_ERROR(b.add("{"));
      bool first = true;
      for (const auto& [k, val] : v.dict_data().entries) {
        if (!first) MNEMO_RETURN_IF_ERROR(b.add(sep));
        first = false;
        MNEMO_RETURN_IF_ERROR(b.add(nl));
        MNEMO_ASSIGN_OR_RETURN(std::string key, json_key(k));
        MNEMO_RETURN_IF_ERROR(b.add(key + ": "));
        MNEMO_RETURN_IF_ERROR(append_json(b, val, indent, depth + 1));
      }
      MNEMO_RETURN_IF_ERROR(b.add(nl_end));
      return b.add("}");
    }
    default:
      return invalid_argument(std::string("tojson: expected a value JSON can hold, found ") + kind_name(v.kind()));
  }
}

}  // namespace

Expected<std::string> to_str(const Value& v, uint64_t max_bytes) {
  if (v.is_string()) {
    if (v.as_string().size() > max_bytes) return TextBuilder(max_bytes).add(v.as_string());
    return v.as_string();
  }
  TextBuilder b(max_bytes);
  MNEMO_RETURN_IF_ERROR(append_str(b, v, 0));
  return b.take();
}

Expected<std::string> to_repr(const Value& v, uint64_t max_bytes) {
  TextBuilder b(max_bytes);
  MNEMO_RETURN_IF_ERROR(append_repr(b, v, 0));
  return b.take();
}

Expected<std::string> to_json(const Value& v, int indent, uint64_t max_bytes) {
  TextBuilder b(max_bytes);
  MNEMO_RETURN_IF_ERROR(append_json(b, v, indent, 0));
  return b.take();
}

}  // namespace mnemo::jinja
