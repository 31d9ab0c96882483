// net/http_wire.h: HTTP/1.1 requests and responses as bytes, for the event loop of
// mnemo's HTTP servers (net/http_loop.h).
//
// Pure code, no sockets: the loop (net/http_loop.h) feeds whatever bytes a read returned, one
// byte or a megabyte at a time, and the parser says when a whole request is there. It is fuzzed
// (fuzz/ltm_http_fuzz.cc) with the bytes split at random points, which is how slow clients look.
//
// Accepted: HTTP/1.0 and 1.1 requests with a Content-Length body (or none). Refused, with the
// status the answer should carry: a header block over Limits::max_header_bytes or with more than
// max_headers lines (431), a Content-Length over max_body_bytes (413, known before any body byte
// is read), Transfer-Encoding (501: chunked request bodies are not supported; mem0's clients send
// Content-Length), a malformed request line, header line or Content-Length, or both framing
// headers (400), another HTTP version (505).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mnemo/status.h"

namespace mnemo::net {

struct Limits {
  size_t max_header_bytes = 16 * 1024;  // request line + headers + the blank line
  size_t max_headers = 64;
  size_t max_body_bytes = 1 << 20;
};

struct Request {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;  // as sent: "/v1/memories?user_id=a"
  std::string path;    // target before '?', not decoded
  std::string query;   // after '?', not decoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, values trimmed
  std::string body;
  bool keep_alive = true;       // HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive
  bool expect_continue = false;  // "Expect: 100-continue"

  // The first value of a header (name in lowercase), or "".
  std::string_view header(std::string_view lower_name) const;
};

class RequestParser {
 public:
  enum class State { kHeader, kBody, kDone, kError };

  explicit RequestParser(const Limits& limits) : limits_(limits) {}

  // Consumes bytes of the current request and returns how many it used: all of `data`, or fewer
  // when the request ended inside it (the rest is the next, pipelined, request) or an error was
  // found. Feeding after kDone or kError consumes nothing.
  size_t feed(std::string_view data);

  State state() const { return state_; }
  bool started() const { return started_; }  // a byte of this request arrived
  bool headers_complete() const { return state_ == State::kBody || state_ == State::kDone; }
  const Request& request() const { return req_; }  // complete once headers_complete()
  // When kError: the HTTP status to answer with and a one-line message.
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_; }

  // The finished request (kDone); the parser is ready for the next one.
  Request take();

 private:
  void fail(int status, std::string message);
  void parse_head(std::string_view head);
  bool parse_request_line(std::string_view line);
  bool parse_header_line(std::string_view line);
  void finish_head();

  Limits limits_;
  State state_ = State::kHeader;
  bool started_ = false;
  std::string buf_;         // header bytes so far
  size_t scanned_ = 0;      // bytes of buf_ already searched for the blank line
  size_t body_length_ = 0;  // Content-Length
  Request req_;
  int error_status_ = 0;
  std::string error_;
};

// key=value pairs of a query string, '+' and %XX decoded, in order (a key may repeat). A bad
// escape is an error naming it.
Expected<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query);
// %XX decoding (and '+' as space when `plus_is_space`); false on a bad escape.
bool percent_decode(std::string_view in, bool plus_is_space, std::string* out);

class Deferred;  // net/http_loop.h

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Retry-After
  // Set by a handler whose answer another thread produces later (net/http_loop.h): with `stream`
  // this response's status and headers are sent at once and the body follows in chunks
  // (Transfer-Encoding: chunked, e.g. server-sent events); without, the Deferred's complete()
  // gives the whole answer and this one is ignored.
  std::shared_ptr<Deferred> deferred;
  bool stream = false;
};

// Status line, headers (Content-Type, Content-Length, Connection and the extra ones) and body.
std::string serialize(const Response& r, bool keep_alive);
// Status line and headers of a streamed answer (Transfer-Encoding: chunked, Cache-Control:
// no-cache, no Content-Length); the body follows as append_chunk()s and an empty last chunk.
std::string serialize_stream_head(const Response& r, bool keep_alive);
// One chunk of a chunked body: hex length, CRLF, bytes, CRLF. Empty `bytes` is the last chunk.
void append_chunk(std::string* out, std::string_view bytes);
const char* reason_phrase(int status);

}  // namespace mnemo::net
