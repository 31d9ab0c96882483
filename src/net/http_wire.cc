#include "net/http_wire.h"

#include <cstdio>

#include <algorithm>

#include "base/strings.h"

namespace mnemo::net {
namespace {

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Comma-separated tokens of a header value contain `want` (lowercase), case-insensitively.
bool has_token(std::string_view value, std::string_view want) {
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string_view::npos) end = value.size();
    if (lower(trim_ows(value.substr(start, end - start))) == want) return true;
    start = end + 1;
  }
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The offset just past the blank line ending a header block in `buf`, searching from `from`;
// 0 when there is none yet. Lines end in CRLF or a bare LF.
size_t find_head_end(const std::string& buf, size_t from) {
  for (size_t i = std::max<size_t>(from, 1); i < buf.size(); ++i) {
    if (buf[i] != '\n') continue;
    if (buf[i - 1] == '\n') return i + 1;
    if (buf[i - 1] == '\r' && i >= 2 && buf[i - 2] == '\n') return i + 1;
  }
  return 0;
}

}  // namespace

std::string_view Request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

void RequestParser::fail(int status, std::string message) {
  state_ = State::kError;
  error_status_ = status;
  error_ = std::move(message);
}

size_t RequestParser::feed(std::string_view data) {
  size_t used = 0;
  if (state_ == State::kHeader) {
    // Empty lines before a request line are ignored (RFC 9112, 2.2).
    while (buf_.empty() && used < data.size() && (data[used] == '\r' || data[used] == '\n')) ++used;
    if (used == data.size()) return used;
    started_ = true;
    const size_t room = limits_.max_header_bytes - buf_.size();
    const std::string_view chunk = data.substr(used, room);
    const size_t before = buf_.size();
    buf_.append(chunk);
    const size_t end = find_head_end(buf_, scanned_ > 3 ? scanned_ - 3 : 0);
    scanned_ = buf_.size();
    if (end == 0) {
      used += chunk.size();
      if (buf_.size() >= limits_.max_header_bytes)
        fail(431, str_printf("request header: expected at most %zu bytes, got more", limits_.max_header_bytes));
      return used;
    }
    used += end - before;  // the rest of the chunk is body (or the next request)
    buf_.resize(end);
    parse_head(buf_);
    buf_.clear();
    scanned_ = 0;
    if (state_ != State::kBody) return used;
  }
  if (state_ == State::kBody) {
    const size_t want = body_length_ - req_.body.size();
    const size_t take = std::min(want, data.size() - used);
    req_.body.append(data.substr(used, take));
    used += take;
    if (req_.body.size() == body_length_) state_ = State::kDone;
  }
  return used;
}

void RequestParser::parse_head(std::string_view head) {
  req_ = Request();
  bool first = true;
  size_t pos = 0;
  while (pos < head.size()) {
    size_t nl = head.find('\n', pos);
    if (nl == std::string_view::npos) nl = head.size();
    std::string_view line = head.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the blank line
    if (first) {
      if (!parse_request_line(line)) return;
      first = false;
    } else if (!parse_header_line(line)) {
      return;
    }
  }
  finish_head();
}

bool RequestParser::parse_request_line(std::string_view line) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    fail(400, "request line: expected \"METHOD /path HTTP/1.1\", got " + quote_bytes(line.substr(0, 80)));
    return false;
  }
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                   version = line.substr(sp2 + 1);
  if (!is_token(method) || method.size() > 16) {
    fail(400, "request line: expected a method, got " + quote_bytes(method.substr(0, 32)));
    return false;
  }
  bool target_ok = !target.empty() && target.front() == '/';
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) target_ok = false;
  if (!target_ok) {
    fail(400, "request line: expected a target starting with '/', got " + quote_bytes(target.substr(0, 80)));
    return false;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    const bool http = version.size() == 8 && version.substr(0, 5) == "HTTP/";
    fail(http ? 505 : 400, "request line: expected HTTP/1.1 or HTTP/1.0, got " + quote_bytes(version.substr(0, 16)));
    return false;
  }
  req_.method = std::string(method);
  req_.target = std::string(target);
  const size_t q = target.find('?');
  req_.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) req_.query = std::string(target.substr(q + 1));
  req_.keep_alive = version == "HTTP/1.1";
  return true;
}

bool RequestParser::parse_header_line(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    fail(400, "request header: folded header lines are not accepted");
    return false;
  }
  if (req_.headers.size() >= limits_.max_headers) {
    fail(431, str_printf("request header: expected at most %zu header lines, got more", limits_.max_headers));
    return false;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
    fail(400, "request header: expected \"Name: value\", got " + quote_bytes(line.substr(0, 80)));
    return false;
  }
  std::string_view value = trim_ows(line.substr(colon + 1));
  for (char c : value) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
      fail(400, "request header: control character in the value of " + quote_bytes(line.substr(0, colon)));
      return false;
    }
  }
  req_.headers.emplace_back(lower(line.substr(0, colon)), std::string(value));
  return true;
}

void RequestParser::finish_head() {
  bool have_length = false;
  uint64_t length = 0;
  for (const auto& [name, value] : req_.headers) {
    if (name == "content-length") {
      uint64_t v = 0;
      bool ok = !value.empty() && value.size() <= 18;
      for (char c : value) {
        if (c < '0' || c > '9') ok = false;
        else v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      if (!ok || (have_length && v != length))
        return fail(400, "request header: Content-Length: expected one decimal length, got " + quote_bytes(value));
      have_length = true;
      length = v;
    } else if (name == "transfer-encoding") {
      if (req_.header("content-length").data() != nullptr)
        return fail(400, "request header: expected Content-Length or Transfer-Encoding, got both");
      return fail(501, "request header: Transfer-Encoding: chunked request bodies are not supported, send "
                       "Content-Length");
    } else if (name == "connection") {
      if (has_token(value, "close")) req_.keep_alive = false;
      else if (has_token(value, "keep-alive")) req_.keep_alive = true;
    } else if (name == "expect") {
      req_.expect_continue = has_token(value, "100-continue");
    }
  }
  if (length > limits_.max_body_bytes)
    return fail(413, str_printf("request body: expected at most %zu bytes, got a Content-Length of %llu",
                                limits_.max_body_bytes, static_cast<unsigned long long>(length)));
  body_length_ = static_cast<size_t>(length);
  req_.body.reserve(body_length_);
  state_ = body_length_ == 0 ? State::kDone : State::kBody;
}

Request RequestParser::take() {
  Request r = std::move(req_);
  req_ = Request();
  state_ = State::kHeader;
  started_ = false;
  body_length_ = 0;
  return r;
}

bool percent_decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(plus_is_space && c == '+' ? ' ' : c);
    }
  }
  return true;
}

Expected<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view part = query.substr(start, end - start);
    start = end + 1;
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    std::string key, value;
    if (!percent_decode(part.substr(0, eq), true, &key) ||
        (eq != std::string_view::npos && !percent_decode(part.substr(eq + 1), true, &value)))
      return invalid_argument("query: expected %XX escapes, got " + quote_bytes(part.substr(0, 80)));
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

std::string serialize(const Response& r, bool keep_alive) {
  std::string out = str_printf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n",
                               r.status, reason_phrase(r.status), r.content_type.c_str(), r.body.size(),
                               keep_alive ? "keep-alive" : "close");
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  out += "\r\n";
  out += r.body;
  return out;
}

std::string serialize_stream_head(const Response& r, bool keep_alive) {
  std::string out = str_printf(
      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\nConnection: %s\r\n",
      r.status, reason_phrase(r.status), r.content_type.c_str(), keep_alive ? "keep-alive" : "close");
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  out += "\r\n";
  return out;
}

void append_chunk(std::string* out, std::string_view bytes) {
  char len[24];
  const int n = std::snprintf(len, sizeof len, "%zx\r\n", bytes.size());
  out->append(len, static_cast<size_t>(n));
  out->append(bytes);
  out->append("\r\n");
}

}  // namespace mnemo::net
