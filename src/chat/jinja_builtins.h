// chat/jinja_builtins.h: the filters, tests, methods and globals templates can call.
//
// Filters: abs, attr, capitalize, count, default (d), dictsort, escape (e), first, float, format,
// indent, int, items, join, last, length, list, lower, map, max, min, reject, rejectattr,
// replace, reverse, round, safe, select, selectattr, sort, string, sum, title, tojson, trim,
// unique, upper, wordcount.
// Tests: boolean, callable, defined, divisibleby, eq/equalto/==, even, false, float, ge/>=,
// gt/>, in, integer, iterable, le/<=, lower, lt/<, mapping, ne/!=, none, number, odd, sameas,
// sequence, string, true, undefined, upper.
// Methods: of strings capitalize, count, endswith, find, isalnum, isalpha, isdigit,
// islower, isspace, isupper, join, lower, lstrip, replace, rfind, rsplit, rstrip, split,
// splitlines, startswith, strip, title, upper; of dicts get, items, keys, values.
// Globals: range, namespace, dict, raise_exception (the caller adds strftime_now and others).
//
// Every function checks its arguments (count, names, kinds) and says what it expected.
#pragma once

#include <optional>
#include <string_view>

#include "chat/jinja_value.h"

namespace mnemo::jinja {

bool is_filter(std::string_view name);
bool is_test(std::string_view name);

// Applies filter `name` (known: is_filter) to `subject`.
Expected<Value> apply_filter(Renderer& r, std::string_view name, const Value& subject, const CallArgs& args);
// Applies test `name` (known: is_test) to `subject`.
Expected<bool> apply_test(Renderer& r, std::string_view name, const Value& subject, const CallArgs& args);

// obj.name as a method bound to obj; nullopt when obj has no such method.
std::optional<Value> find_method(const Value& obj, std::string_view name);

// Adds range, namespace, dict and raise_exception to a globals dict.
void add_builtin_globals(Value& globals);

// Reads a builtin's arguments by position or keyword, as Python binds them.
class ArgReader {
 public:
  // `names`: the parameters in order. Errors (too many, unknown or repeated keywords) name `fn`.
  ArgReader(std::string_view fn, const CallArgs& args, std::initializer_list<const char*> names);
  Status status() const { return status_; }
  // The argument for parameter i, or nullptr when not given.
  const Value* get(size_t i) const;
  // Typed, with a default when absent; errors name the function and the parameter.
  Expected<std::string> get_string(size_t i, std::string def) const;
  Expected<int64_t> get_int(size_t i, int64_t def) const;
  bool get_bool(size_t i, bool def) const;
  Status kind_error(size_t i, const char* expected) const;

 private:
  std::string fn_;
  std::vector<const char*> names_;
  std::vector<const Value*> bound_;
  Status status_;
};

}  // namespace mnemo::jinja
