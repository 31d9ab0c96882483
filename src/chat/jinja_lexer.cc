// chat/jinja_lexer.cc: template -> text and tag segments; tag -> tokens.
#include "chat/jinja_lexer.h"

#include <cerrno>
#include <cstdlib>

#include "base/strings.h"
#include "tokenizer/utf8.h"

namespace mnemo::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

Status error_at(std::string_view src, size_t offset, const std::string& what) {
  return invalid_argument(location(src, offset) + ": " + what);
}

// Where the tag opened at `open` (kind '{', '%' or '#') ends: the offset of its closing "}}",
// "%}" or "#}" outside string literals and brackets; npos when there is none.
size_t find_close(std::string_view s, size_t from, char kind) {
  if (kind == '#') {
    const size_t c = s.find("#}", from);
    return c;
  }
  const char want = kind == '{' ? '}' : '%';
  int depth = 0;
  for (size_t i = from; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\'' || c == '"') {
      size_t j = i + 1;
      while (j < s.size() && s[j] != c) j += s[j] == '\\' ? 2 : 1;
      if (j >= s.size()) return std::string_view::npos;
      i = j;
    } else if (depth == 0 && c == want && i + 1 < s.size() && s[i + 1] == '}') {
      return i;
    } else if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

std::string_view trim_view(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Finds "{% endraw %}" (with optional '-'/'+' markers) from `from`; returns its start and sets
// *end to the offset after it, *strip_after when it ends with "-%}".
size_t find_endraw(std::string_view s, size_t from, size_t* end, bool* strip_after) {
  for (size_t p = s.find("{%", from); p != std::string_view::npos; p = s.find("{%", p + 2)) {
    size_t i = p + 2;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    while (i < s.size() && is_space(s[i])) ++i;
    if (s.substr(i, 6) != "endraw") continue;
    i += 6;
    while (i < s.size() && is_space(s[i])) ++i;
    *strip_after = i < s.size() && s[i] == '-';
    if (*strip_after || (i < s.size() && s[i] == '+')) ++i;
    if (s.substr(i, 2) != "%}") continue;
    *end = i + 2;
    return p;
  }
  return std::string_view::npos;
}

enum class After { kKeep, kTrimNewline, kStripAll };

// Applies the previous tag's right-hand whitespace control to the text that follows it; returns
// whether that text now starts a line (Jinja2's line_starting).
bool apply_after(std::string& text, After after, bool at_template_start) {
  if (at_template_start) return true;
  if (after == After::kStripAll) {
    size_t n = 0;
    while (n < text.size() && is_space(text[n])) ++n;
    const bool newline = n > 0 && text[n - 1] == '\n';
    text.erase(0, n);
    return newline;
  }
  if (after == After::kTrimNewline && !text.empty() && text[0] == '\n') {
    text.erase(0, 1);
    return true;
  }
  return false;
}

// Applies a tag's left-hand whitespace control to the text before it.
void apply_before(std::string& text, char modifier, char kind, bool line_starting, const Options& o) {
  if (modifier == '-') {
    while (!text.empty() && is_space(text.back())) text.pop_back();
    return;
  }
  if (modifier == '+' || kind == '{' || !o.lstrip_blocks) return;
  const size_t nl = text.rfind('\n');
  const size_t line = nl == std::string::npos ? 0 : nl + 1;
  if (nl == std::string::npos && !line_starting) return;
  for (size_t i = line; i < text.size(); ++i) {
    if (text[i] != ' ' && text[i] != '\t') return;
  }
  text.resize(line);
}

}  // namespace

std::string show(std::string_view s, size_t max_len) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\' || c == '\'') out += '\\';
    if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else out += str_printf("\\x%02x", c);
  }
  return out + (s.size() > max_len ? "'..." : "'");
}

std::string location(std::string_view src, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < src.size(); ++i) {
    if (src[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return str_printf("%zu:%zu", line, col);
}

std::string normalize_source(std::string_view src, const Options& options) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!options.keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

Expected<std::vector<Segment>> split_template(std::string_view s, const Options& o) {
  std::vector<Segment> out;
  size_t pos = 0;
  After after = After::kKeep;
  bool first = true;
  while (true) {
    size_t open = pos;
    while (open < s.size() && !(s[open] == '{' && open + 1 < s.size() && (s[open + 1] == '{' || s[open + 1] == '%' || s[open + 1] == '#'))) ++open;
    std::string text(s.substr(pos, open - pos));
    const bool line_starting = apply_after(text, after, first);
    first = false;
    if (open >= s.size()) {
      if (!text.empty()) out.push_back({Segment::Kind::kText, std::move(text), pos});
      return out;
    }
    const char kind = s[open + 1];
    size_t inner = open + 2;
    const char mod = inner < s.size() && (s[inner] == '-' || s[inner] == '+') ? s[inner] : 0;
    if (mod != 0) ++inner;
    apply_before(text, mod, kind, line_starting, o);
    if (!text.empty()) out.push_back({Segment::Kind::kText, std::move(text), pos});
    const size_t close = find_close(s, inner, kind);
    if (close == std::string_view::npos) {
      const char* want = kind == '{' ? "'}}'" : kind == '%' ? "'%}'" : "'#}'";
      return error_at(s, open, std::string("expected ") + want + " closing the tag " + show(s.substr(open, 2)) +
                                    " opened here, found the end of the template");
    }
    size_t inner_end = close;
    const char end_mod = close > inner && (s[close - 1] == '-' || s[close - 1] == '+') ? s[close - 1] : 0;
    if (end_mod != 0) --inner_end;
    after = end_mod == '-' ? After::kStripAll
            : (kind != '{' && end_mod != '+' && o.trim_blocks) ? After::kTrimNewline
                                                                : After::kKeep;
    pos = close + 2;
    if (kind == '#') continue;
    const std::string_view body = s.substr(inner, inner_end - inner);
    if (kind == '%' && trim_view(body) == "raw") {
      size_t end = 0;
      bool strip_after = false;
      const size_t endraw = find_endraw(s, pos, &end, &strip_after);
      if (endraw == std::string_view::npos) {
        return error_at(s, open, "expected '{% endraw %}' closing this raw block, found the end of the template");
      }
      std::string raw(s.substr(pos, endraw - pos));
      if (after == After::kTrimNewline && !raw.empty() && raw[0] == '\n') raw.erase(0, 1);
      if (!raw.empty()) out.push_back({Segment::Kind::kText, std::move(raw), pos});
      after = strip_after ? After::kStripAll : o.trim_blocks ? After::kTrimNewline : After::kKeep;
      pos = end;
      continue;
    }
    out.push_back({kind == '{' ? Segment::Kind::kExpr : Segment::Kind::kStmt, std::string(body), inner});
  }
}

namespace {

// Reads the string literal starting at src[i] (a quote); sets *next past it.
Expected<std::string> read_string(std::string_view src, size_t i, size_t end, size_t* next) {
  const char q = src[i];
  std::string out;
  size_t j = i + 1;
  while (j < end && src[j] != q) {
    if (src[j] != '\\' || j + 1 >= end) {
      out += src[j++];
      continue;
    }
    const char e = src[j + 1];
    j += 2;
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '0': out += '\0'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case '\n': break;  // a backslash-newline continues the line
      case 'x': case 'u': case 'U': {
        const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t k = 0; k < n; ++k) {
          const char h = j + k < end ? src[j + k] : 0;
          const int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
          if (d < 0) return error_at(src, j - 2, str_printf("expected %zu hex digits after '\\%c'", n, e));
          cp = cp * 16 + static_cast<uint32_t>(d);
        }
        if (cp > 0x10FFFF) return error_at(src, j - 2, "expected a code point up to U+10FFFF");
        tokenizer::utf8_append(&out, cp);
        j += n;
        break;
      }
      default: out += '\\'; out += e;  // Python keeps unknown escapes as written
    }
  }
  if (j >= end) return error_at(src, i, "expected the closing quote of this string, found the end of the tag");
  *next = j + 1;
  return out;
}

// Reads a number at src[i]; sets *next past it.
Expected<Token> read_number(std::string_view src, size_t i, size_t end, size_t* next) {
  size_t j = i;
  std::string digits;
  bool is_float = false;
  auto take_digits = [&] {
    while (j < end && (is_digit(src[j]) || (src[j] == '_' && j + 1 < end && is_digit(src[j + 1])))) {
      if (src[j] != '_') digits += src[j];
      ++j;
    }
  };
  take_digits();
  if (j + 1 < end && src[j] == '.' && is_digit(src[j + 1])) {
    is_float = true;
    digits += src[j++];
    take_digits();
  }
  if (j < end && (src[j] == 'e' || src[j] == 'E')) {
    size_t k = j + 1;
    if (k < end && (src[k] == '+' || src[k] == '-')) ++k;
    if (k < end && is_digit(src[k])) {
      is_float = true;
      digits += 'e';
      digits.append(src.substr(j + 1, k - j - 1));
      j = k;
      take_digits();
    }
  }
  Token t;
  t.offset = i;
  t.text = std::string(src.substr(i, j - i));
  *next = j;
  if (is_float) {
    t.kind = TokKind::kFloat;
    t.f = std::strtod(digits.c_str(), nullptr);
    return t;
  }
  t.kind = TokKind::kInt;
  if (!parse_int64(digits, &t.i)) return error_at(src, i, "expected an integer that fits in 64 bits, found " + show(t.text));
  return t;
}

}  // namespace

Expected<std::vector<Token>> tokenize(std::string_view src, size_t begin, size_t end) {
  static const char* kOps2[] = {"//", "**", "==", "!=", "<=", ">="};
  std::vector<Token> out;
  size_t i = begin;
  while (true) {
    while (i < end && is_space(src[i])) ++i;
    if (i >= end) break;
    const char c = src[i];
    Token t;
    t.offset = i;
    if (is_name_start(c)) {
      size_t j = i;
      while (j < end && is_name_char(src[j])) ++j;
      t.kind = TokKind::kName;
      t.text = std::string(src.substr(i, j - i));
      i = j;
    } else if (is_digit(c)) {
      MNEMO_ASSIGN_OR_RETURN(t, read_number(src, i, end, &i));
    } else if (c == '\'' || c == '"') {
      t.kind = TokKind::kString;
      MNEMO_ASSIGN_OR_RETURN(t.text, read_string(src, i, end, &i));
    } else {
      t.kind = TokKind::kOp;
      for (const char* op : kOps2) {
        if (src.substr(i, 2) == op) t.text.assign(op, 2);
      }
      if (t.text.empty()) {
        if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) == std::string_view::npos) {
          return error_at(src, i, "expected an expression, found the character " + show(src.substr(i, 1)));
        }
        t.text = std::string(1, c);
      }
      i += t.text.size();
    }
    out.push_back(std::move(t));
  }
  Token e;
  e.kind = TokKind::kEnd;
  e.offset = end;
  out.push_back(e);
  return out;
}

}  // namespace mnemo::jinja
