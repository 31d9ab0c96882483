// chat/jinja_value.h: the values a Jinja template computes with, with Python's semantics (the
// semantics of Hugging Face's apply_chat_template, which runs templates under Python's Jinja2).
//
// Kinds: undefined (a missing variable, attribute or item; prints as "", is falsy, iterates as
// empty), none, bool, int (int64; arithmetic that would overflow is an error), float, string
// (UTF-8 bytes; length, indexing and slicing count code points), list (tuples are lists), dict
// (insertion-ordered, keys of any scalar kind; a namespace() is a dict whose attributes may be
// assigned) and function (globals, methods bound to their object, macros).
//
// Lists and dicts are shared, as in Python: copying a Value copies a reference. Templates cannot
// mutate them (Hugging Face renders in an immutable sandbox), except namespace attributes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::jinja {

class Value;
class Renderer;

// Arguments of a call: positional, then keyword (name=value) in the order written.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// A callable: receives the renderer (for limits, and for macros to render) and the arguments.
// Errors are messages without a location; the renderer adds the call's.
using Function = std::function<Expected<Value>(Renderer&, const CallArgs&)>;

enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

// "undefined", "none", "bool", ..., as Python names them in messages ("str", "int", "list", "dict").
const char* kind_name(Kind k);

struct DictData {
  std::vector<std::pair<Value, Value>> entries;  // insertion order; keys unique by equality
  bool is_namespace = false;
};

struct FunctionData {
  std::string name;
  Function fn;
};

class Value {
 public:
  Value() = default;  // undefined
  Value(bool b) : kind_(Kind::kBool), b_(b) {}             // NOLINT: implicit by design
  Value(int64_t i) : kind_(Kind::kInt), i_(i) {}            // NOLINT
  Value(int i) : kind_(Kind::kInt), i_(i) {}                // NOLINT
  Value(double f) : kind_(Kind::kFloat), f_(f) {}           // NOLINT
  Value(std::string s) : kind_(Kind::kString), s_(std::move(s)) {}  // NOLINT
  Value(const char* s) : kind_(Kind::kString), s_(s) {}     // NOLINT
  Value(std::string_view s) : kind_(Kind::kString), s_(s) {}  // NOLINT

  static Value none();
  static Value undefined(std::string name);  // `name` is kept for messages ("'x' is undefined")
  static Value list(std::vector<Value> items = {});
  static Value tuple(std::vector<Value> items);  // a list that prints as Python's tuple: (1, 2), (1,)
  static Value dict();
  static Value make_namespace();
  static Value function(std::string name, Function fn);
  // A string marked safe (Jinja2's Markup, from |safe and |escape): '+' with a plain string
  // HTML-escapes the plain one, as Python's Markup.__add__ does.
  static Value safe_string(std::string s);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kDict && dict_->is_namespace; }
  bool is_function() const { return kind_ == Kind::kFunction; }
  bool is_safe() const { return kind_ == Kind::kString && safe_; }
  bool is_tuple() const { return kind_ == Kind::kList && safe_; }
  // Things a for loop can walk: strings, lists, dicts (their keys), undefined (nothing).
  bool is_iterable() const { return is_string() || is_list() || is_dict() || is_undefined(); }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  double as_double() const;  // any number
  const std::string& as_string() const { return s_; }  // the string, or an undefined value's name
  const std::vector<Value>& items() const { return *list_; }
  std::vector<Value>& mutable_items() { return *list_; }
  const DictData& dict_data() const { return *dict_; }
  const FunctionData& function_data() const { return *fn_; }

  // Dicts: the value at `key` (nullptr when absent); set() inserts or replaces, keeping order.
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  const Value* find(const char* key) const { return find(std::string_view(key)); }
  void set(Value key, Value v);
  void clear_entries();  // dicts: removes every entry (breaks reference cycles through namespaces)

  // Python's truth: "", 0, 0.0, [], {}, none, false and undefined are false.
  bool truthy() const;
  // Python's == (1 == 1.0 == true; lists and dicts compare by content); `depth` bounds recursion.
  bool equals(const Value& o, int depth = 0) const;
  // The code-point length of a string, the size of a list or dict; 0 otherwise.
  size_t length() const;
  // True when both are the same list, dict or function object (Python's `is`), or equal scalars.
  bool same_as(const Value& o) const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  bool safe_ = false;  // strings: Markup; lists: a tuple
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<std::vector<Value>> list_;
  std::shared_ptr<DictData> dict_;
  std::shared_ptr<FunctionData> fn_;
};

// Text conversions. Each stops with kOutOfRange once the result would pass `max_bytes`, and with
// kOutOfRange when nesting is deeper than kMaxNesting (a namespace holding itself).
inline constexpr int kMaxNesting = 128;

// Python's str(): strings as they are, none as "None", bools as "True"/"False", floats as repr()
// gives them ("1.0", "1e+16"), lists and dicts as repr(); undefined as "".
Expected<std::string> to_str(const Value& v, uint64_t max_bytes);
// Python's repr(): strings quoted ('a', "it's"), with escapes.
Expected<std::string> to_repr(const Value& v, uint64_t max_bytes);
// json.dumps(v, ensure_ascii=False, indent=indent) (indent < 0: none, separators ", " and ": ");
// what Hugging Face's tojson filter gives. Undefined and functions are errors.
Expected<std::string> to_json(const Value& v, int indent, uint64_t max_bytes);

// Python's float repr: the shortest digits that read back the same, "inf", "nan".
std::string format_float(double f);

// Code points of a UTF-8 string: byte offsets of each character start, plus the size at the end
// (an invalid byte counts as one character).
std::vector<size_t> char_offsets(std::string_view s);

}  // namespace mnemo::jinja
