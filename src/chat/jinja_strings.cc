// chat/jinja_strings.cc: Python's str methods.
#include "chat/jinja_strings.h"

#include <cctype>

#include "base/strings.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_render.h"

namespace mnemo::jinja {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

std::string strip(std::string_view s, std::string_view chars, bool left, bool right) {
  if (chars.empty()) {
    size_t b = 0, e = s.size();
    if (left) while (b < e && is_ws(s[b])) ++b;
    if (right) while (e > b && is_ws(s[e - 1])) --e;
    return std::string(s.substr(b, e - b));
  }
  const std::vector<size_t> set_offs = char_offsets(chars);
  auto in_set = [&](std::string_view ch) {
    for (size_t i = 0; i + 1 < set_offs.size(); ++i) {
      if (chars.substr(set_offs[i], set_offs[i + 1] - set_offs[i]) == ch) return true;
    }
    return false;
  };
  const std::vector<size_t> offs = char_offsets(s);
  size_t b = 0, e = offs.size() - 1;  // character indices
  if (left) while (b < e && in_set(s.substr(offs[b], offs[b + 1] - offs[b]))) ++b;
  if (right) while (e > b && in_set(s.substr(offs[e - 1], offs[e] - offs[e - 1]))) --e;
  return std::string(s.substr(offs[b], offs[e] - offs[b]));
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string title_case(std::string_view s) {
  std::string out(s);
  bool prev_cased = false;
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      c = static_cast<char>(prev_cased ? std::tolower(u) : std::toupper(u));
      prev_cased = true;
    } else {
      prev_cased = u >= 0x80 && prev_cased;  // letters beyond ASCII keep a word going
    }
  }
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out = ascii_lower(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

Expected<std::string> replace(std::string_view s, std::string_view from, std::string_view to, int64_t count,
                              uint64_t max_bytes) {
  std::string out;
  size_t pos = 0;
  int64_t done = 0;
  auto add = [&](std::string_view piece) -> Status {
    if (out.size() + piece.size() > max_bytes) return out_of_range("replace: expected a result within the output limit, found more");
    out.append(piece);
    return Status::ok();
  };
  if (from.empty()) {  // Python inserts `to` between characters and at both ends
    const auto offs = char_offsets(s);
    for (size_t i = 0; i + 1 < offs.size(); ++i) {
      if (count < 0 || done < count) {
        MNEMO_RETURN_IF_ERROR(add(to));
        ++done;
      }
      MNEMO_RETURN_IF_ERROR(add(s.substr(offs[i], offs[i + 1] - offs[i])));
    }
    if (count < 0 || done < count) MNEMO_RETURN_IF_ERROR(add(to));
    return out;
  }
  while (count < 0 || done < count) {
    const size_t at = s.find(from, pos);
    if (at == std::string_view::npos) break;
    MNEMO_RETURN_IF_ERROR(add(s.substr(pos, at - pos)));
    MNEMO_RETURN_IF_ERROR(add(to));
    pos = at + from.size();
    ++done;
  }
  MNEMO_RETURN_IF_ERROR(add(s.substr(pos)));
  return out;
}

std::vector<std::string> split(std::string_view s, std::string_view sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep.empty()) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && is_ws(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        size_t e = s.size();
        while (e > i && is_ws(s[e - 1])) --e;
        out.emplace_back(s.substr(i, e - i));
        break;
      }
      size_t j = i;
      while (j < s.size() && !is_ws(s[j])) ++j;
      out.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  }
  size_t pos = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    const size_t at = s.find(sep, pos);
    if (at == std::string_view::npos) break;
    out.emplace_back(s.substr(pos, at - pos));
    pos = at + sep.size();
  }
  out.emplace_back(s.substr(pos));
  return out;
}

namespace {

Status no_args(std::string_view fn, const CallArgs& a) {
  if (a.positional.empty() && a.keyword.empty()) return Status::ok();
  return invalid_argument(std::string(fn) + ": expected no arguments, found some");
}

Expected<Value> m_strip_impl(const Value& self, const CallArgs& args, const char* fn, bool l, bool r) {
  ArgReader a(fn, args, {"chars"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::string chars, a.get_string(0, ""));
  return Value(strip(self.as_string(), chars, l, r));
}
Expected<Value> m_strip(Renderer&, const Value& s, const CallArgs& a) { return m_strip_impl(s, a, "strip", true, true); }
Expected<Value> m_lstrip(Renderer&, const Value& s, const CallArgs& a) { return m_strip_impl(s, a, "lstrip", true, false); }
Expected<Value> m_rstrip(Renderer&, const Value& s, const CallArgs& a) { return m_strip_impl(s, a, "rstrip", false, true); }

Expected<Value> m_split_impl(Renderer& r, const Value& self, const CallArgs& args, bool from_right) {
  ArgReader a(from_right ? "rsplit" : "split", args, {"sep", "maxsplit"});
  MNEMO_RETURN_IF_ERROR(a.status());
  MNEMO_ASSIGN_OR_RETURN(std::string sep, a.get_string(0, ""));
  if (a.get(0) != nullptr && !a.get(0)->is_none() && sep.empty()) return invalid_argument("split: expected a non-empty separator, found ''");
  MNEMO_ASSIGN_OR_RETURN(int64_t maxsplit, a.get_int(1, -1));
  std::vector<std::string> parts;
  if (from_right && maxsplit >= 0) {  // split the reversed pieces: the last maxsplit separators
    parts = split(self.as_string(), sep, -1);
    if (!sep.empty() && static_cast<int64_t>(parts.size()) > maxsplit + 1) {
      std::string head = parts[0];
      const size_t keep = parts.size() - static_cast<size_t>(maxsplit);
      for (size_t i = 1; i < keep; ++i) head += sep + parts[i];
      std::vector<std::string> tail(parts.begin() + static_cast<std::ptrdiff_t>(keep), parts.end());
      parts = {head};
      parts.insert(parts.end(), tail.begin(), tail.end());
    }
  } else {
    parts = split(self.as_string(), sep, maxsplit);
  }
  MNEMO_RETURN_IF_ERROR(r.check_items(parts.size()));
  std::vector<Value> out(parts.begin(), parts.end());
  return Value::list(std::move(out));
}
Expected<Value> m_split(Renderer& r, const Value& s, const CallArgs& a) { return m_split_impl(r, s, a, false); }
Expected<Value> m_rsplit(Renderer& r, const Value& s, const CallArgs& a) { return m_split_impl(r, s, a, true); }

Expected<Value> m_affix(const Value& self, const CallArgs& args, bool prefix) {
  ArgReader a(prefix ? "startswith" : "endswith", args, {prefix ? "prefix" : "suffix"});
  MNEMO_RETURN_IF_ERROR(a.status());
  const Value* p = a.get(0);
  if (p == nullptr) return a.kind_error(0, "a string or a tuple of strings");
  std::vector<Value> options = p->is_list() ? p->items() : std::vector<Value>{*p};
  const std::string& s = self.as_string();
  for (const Value& o : options) {
    if (!o.is_string()) return invalid_argument(std::string("expected a string or a tuple of strings, found ") + kind_name(o.kind()));
    if (prefix ? starts_with(s, o.as_string()) : ends_with(s, o.as_string())) return Value(true);
  }
  return Value(false);
}
Expected<Value> m_startswith(Renderer&, const Value& s, const CallArgs& a) { return m_affix(s, a, true); }
Expected<Value> m_endswith(Renderer&, const Value& s, const CallArgs& a) { return m_affix(s, a, false); }

Expected<Value> m_case(const Value& self, const CallArgs& args, std::string (*f)(std::string_view)) {
  MNEMO_RETURN_IF_ERROR(no_args("case method", args));
  return Value(f(self.as_string()));
}
Expected<Value> m_lower(Renderer&, const Value& s, const CallArgs& a) { return m_case(s, a, ascii_lower); }
Expected<Value> m_upper(Renderer&, const Value& s, const CallArgs& a) { return m_case(s, a, ascii_upper); }
Expected<Value> m_title(Renderer&, const Value& s, const CallArgs& a) { return m_case(s, a, title_case); }
Expected<Value> m_capitalize(Renderer&, const Value& s, const CallArgs& a) { return m_case(s, a, capitalize); }

Expected<Value> m_replace(Renderer& r, const Value& self, const CallArgs& args) {
  ArgReader a("replace", args, {"old", "new", "count"});
  MNEMO_RETURN_IF_ERROR(a.status());
  if (a.get(0) == nullptr || a.get(1) == nullptr) return invalid_argument("replace: expected old and new strings");
  MNEMO_ASSIGN_OR_RETURN(std::string from, a.get_string(0, ""));
  MNEMO_ASSIGN_OR_RETURN(std::string to, a.get_string(1, ""));
  MNEMO_ASSIGN_OR_RETURN(int64_t count, a.get_int(2, -1));
  MNEMO_ASSIGN_OR_RETURN(std::string out, replace(self.as_string(), from, to, count, r.limits().max_output_bytes));
  return Value(std::move(out));
}

// find/rfind/count: positions in code points, as Python gives them.
Expected<Value> m_search(const Value& self, const CallArgs& args, int mode) {
  ArgReader a(mode == 0 ? "find" : mode == 1 ? "rfind" : "count", args, {"sub"});
  MNEMO_RETURN_IF_ERROR(a.status());
  if (a.get(0) == nullptr || !a.get(0)->is_string()) return invalid_argument("expected a string to search for");
  const std::string& s = self.as_string();
  const std::string& sub = a.get(0)->as_string();
  if (mode == 2) {
    if (sub.empty()) return Value(static_cast<int64_t>(self.length() + 1));
    int64_t n = 0;
    for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
    return Value(n);
  }
  const size_t at = mode == 0 ? s.find(sub) : s.rfind(sub);
  if (at == std::string::npos) return Value(int64_t{-1});
  return Value(static_cast<int64_t>(char_offsets(std::string_view(s).substr(0, at)).size() - 1));
}
Expected<Value> m_find(Renderer&, const Value& s, const CallArgs& a) { return m_search(s, a, 0); }
Expected<Value> m_rfind(Renderer&, const Value& s, const CallArgs& a) { return m_search(s, a, 1); }
Expected<Value> m_count(Renderer&, const Value& s, const CallArgs& a) { return m_search(s, a, 2); }

Expected<Value> m_join(Renderer& r, const Value& self, const CallArgs& args) {
  ArgReader a("join", args, {"iterable"});
  MNEMO_RETURN_IF_ERROR(a.status());
  if (a.get(0) == nullptr) return invalid_argument("join: expected an iterable of strings");
  MNEMO_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(*a.get(0)));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) return invalid_argument(std::string("join: expected strings, found ") + kind_name(items[i].kind()));
    if (i > 0) out += self.as_string();
    out += items[i].as_string();
    MNEMO_RETURN_IF_ERROR(r.check_bytes(out.size()));
  }
  return Value(std::move(out));
}

Expected<Value> m_splitlines(Renderer&, const Value& self, const CallArgs& args) {
  MNEMO_RETURN_IF_ERROR(no_args("splitlines", args));
  std::vector<Value> out;
  const std::string& s = self.as_string();
  size_t b = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      out.emplace_back(s.substr(b, i - b));
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      b = i + 1;
    }
  }
  if (b < s.size()) out.emplace_back(s.substr(b));
  return Value::list(std::move(out));
}

Expected<Value> m_is(const Value& self, const CallArgs& args, int (*pred)(int)) {
  MNEMO_RETURN_IF_ERROR(no_args("is...", args));
  const std::string& s = self.as_string();
  if (s.empty()) return Value(false);
  for (unsigned char c : s) {
    if (!pred(c)) return Value(false);
  }
  return Value(true);
}
Expected<Value> m_isdigit(Renderer&, const Value& s, const CallArgs& a) { return m_is(s, a, [](int c) { return std::isdigit(c); }); }
Expected<Value> m_isalpha(Renderer&, const Value& s, const CallArgs& a) { return m_is(s, a, [](int c) { return std::isalpha(c); }); }
Expected<Value> m_isalnum(Renderer&, const Value& s, const CallArgs& a) { return m_is(s, a, [](int c) { return std::isalnum(c); }); }
Expected<Value> m_isspace(Renderer&, const Value& s, const CallArgs& a) { return m_is(s, a, [](int c) { return std::isspace(c); }); }
Expected<Value> m_islower(Renderer&, const Value& s, const CallArgs& a) {
  MNEMO_RETURN_IF_ERROR(no_args("islower", a));
  return Value(s.as_string() == ascii_lower(s.as_string()) && s.as_string() != ascii_upper(s.as_string()));
}
Expected<Value> m_isupper(Renderer&, const Value& s, const CallArgs& a) {
  MNEMO_RETURN_IF_ERROR(no_args("isupper", a));
  return Value(s.as_string() == ascii_upper(s.as_string()) && s.as_string() != ascii_lower(s.as_string()));
}

const std::pair<const char*, StringMethod> kMethods[] = {
    {"strip", m_strip},         {"lstrip", m_lstrip},         {"rstrip", m_rstrip},     {"split", m_split},
    {"rsplit", m_rsplit},       {"startswith", m_startswith}, {"endswith", m_endswith}, {"lower", m_lower},
    {"upper", m_upper},         {"title", m_title},           {"capitalize", m_capitalize}, {"replace", m_replace},
    {"find", m_find},           {"rfind", m_rfind},           {"count", m_count},       {"join", m_join},
    {"splitlines", m_splitlines}, {"isdigit", m_isdigit},     {"isalpha", m_isalpha},   {"isalnum", m_isalnum},
    {"isspace", m_isspace},     {"islower", m_islower},       {"isupper", m_isupper},
};

}  // namespace

const StringMethod* find_string_method(std::string_view name) {
  for (const auto& [n, m] : kMethods) {
    if (name == n) return &m;
  }
  return nullptr;
}

}  // namespace mnemo::jinja
