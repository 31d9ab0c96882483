// libFuzzer target: the bytes a network client of the memory API controls. The first byte chooses:
//   0-4: a request body for add, search, update, forget, restore (ltm/http_codec.h);
//   5:   the same bodies wrapped in nesting: byte 1 picks the endpoint and byte 2 the depth
//        (up to 255 * 128 levels of '[' or '{' around the rest), so the depth limit is exercised
//        on every run instead of waiting for the fuzzer to grow 10,000 brackets;
//   6-7: raw HTTP/1.1 bytes for the connection layer's parser (net/http_wire.h), fed as a slow
//        client sends them: split at points taken from the input, down to one byte at a time.
//        The result must equal feeding everything at once (same requests, same error), and every
//        request obeys the limits.
//
// Checks beyond "no crash": an error is kInvalidArgument or kOutOfRange with a non-empty one-line
// message; a decoded request has a user_id (scopes are never empty), add gives 1..102 requests each
// with a non-empty text, search has 1 <= k <= 1000, update names the id it was given and changes
// something, and every decoded request's strings are the JSON's (valid UTF-8, so to_json of a
// memory holding them dumps without throwing).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <vector>

#include "ltm/http_codec.h"
#include "net/http_wire.h"
#include "ltm/json_codec.h"
#include "net/json_limits.h"
#include "fuzz_check.h"

namespace {

using mnemo::StatusCode;

void check_error(const mnemo::Status& s) {
  FUZZ_CHECK(s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kOutOfRange);
  FUZZ_CHECK(!s.message().empty());
  FUZZ_CHECK(s.message().find('\n') == std::string::npos);
}

void check_scope(const mnemo::ltm::Scope& s) { FUZZ_CHECK(!s.user_id.empty()); }

// The decoded strings must serialise (the server echoes them back in answers).
void check_dumps(const mnemo::ltm::Scope& scope, const std::string& text, const std::string& metadata) {
  mnemo::ltm::MemoryRecord m;
  m.id = 1;
  m.scope = scope;
  m.text = text;
  m.metadata_json = metadata;
  std::string out = mnemo::ltm::to_json(m).dump();
  FUZZ_CHECK(!out.empty());
}

int decode_body(uint8_t sel, std::string_view body);

// A body wrapped in `depth` levels of arrays or objects ({"a": ...}), as an attacker would nest
// metadata. Deeper than the limit must be refused before anything recurses.
void nested_case(const uint8_t* data, size_t size) {
  if (size < 3) return;
  const uint8_t sel = data[1] % 5;
  const size_t depth = static_cast<size_t>(data[2]) * 128 + (data[2] & 1);
  std::string_view rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  const bool objects = (data[2] & 2) != 0;
  std::string body = R"({"user_id": "u", "text": "t", "metadata": {"m": )";
  for (size_t i = 0; i < depth; ++i) body += objects ? "{\"a\":" : "[";
  body += rest.empty() ? std::string_view("0") : rest;
  for (size_t i = 0; i < depth; ++i) body += objects ? "}" : "]";
  body += "}}";
  if (depth + 2 > static_cast<size_t>(mnemo::net::kMaxJsonDepth)) {
    auto r = mnemo::ltm::parse_body_object(body);
    FUZZ_CHECK(!r);
    check_error(r.status());
  }
  decode_body(sel, body);
}

struct Parsed {
  std::vector<mnemo::net::Request> requests;
  int error = 0;
  std::string message;
  size_t consumed = 0;
};

// Feeds `bytes` in the given chunk sizes (cycled; 0 = everything), collecting requests the way the
// event loop does: after a request, the rest of the chunk goes to the next one.
Parsed parse_stream(std::string_view bytes, const std::vector<size_t>& chunks, const mnemo::net::Limits& lim) {
  using mnemo::net::RequestParser;
  Parsed out;
  RequestParser p(lim);
  size_t pos = 0, ci = 0;
  while (pos < bytes.size() && out.error == 0) {
    size_t n = chunks.empty() || chunks[ci % chunks.size()] == 0 ? bytes.size() - pos : chunks[ci % chunks.size()];
    ++ci;
    std::string_view chunk = bytes.substr(pos, std::min(n, bytes.size() - pos));
    while (!chunk.empty()) {
      size_t used = p.feed(chunk);
      FUZZ_CHECK(used <= chunk.size());
      chunk.remove_prefix(used);
      pos += used;
      if (p.state() == RequestParser::State::kError) {
        out.error = p.error_status();
        out.message = p.error_message();
        FUZZ_CHECK(out.error >= 400 && out.error <= 505);
        FUZZ_CHECK(!out.message.empty() && out.message.find('\n') == std::string::npos);
        break;
      }
      if (p.state() == RequestParser::State::kDone) {
        out.requests.push_back(p.take());
        continue;
      }
      FUZZ_CHECK(chunk.empty());  // a request still incomplete takes every byte it is given
    }
  }
  out.consumed = pos;
  return out;
}

void check_request(const mnemo::net::Request& r, const mnemo::net::Limits& lim) {
  FUZZ_CHECK(!r.method.empty() && r.method.size() <= 16);
  FUZZ_CHECK(!r.path.empty() && r.path[0] == '/');
  FUZZ_CHECK(r.body.size() <= lim.max_body_bytes);
  FUZZ_CHECK(r.headers.size() <= lim.max_headers);
  FUZZ_CHECK(r.path.size() + r.query.size() <= lim.max_header_bytes);
  for (const auto& [k, v] : r.headers)
    for (char c : k) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  auto q = mnemo::net::parse_query(r.query);
  if (!q) check_error(q.status());
}

void wire_case(const uint8_t* data, size_t size) {
  if (size < 2) return;
  mnemo::net::Limits lim;
  lim.max_header_bytes = 256 + static_cast<size_t>(data[1] % 8) * 256;  // small, so the fuzzer reaches them
  lim.max_body_bytes = 64 + static_cast<size_t>(data[1] / 8) * 64;
  lim.max_headers = 8;
  // Split points: the first up to 8 bytes after the header byte give chunk sizes (0 and 1 make a
  // byte-at-a-time client), the rest is the stream.
  size_t nchunks = std::min<size_t>(data[1] % 9, size - 2);
  std::vector<size_t> chunks;
  for (size_t i = 0; i < nchunks; ++i) chunks.push_back(data[2 + i] % 16);
  std::string_view bytes(reinterpret_cast<const char*>(data) + 2 + nchunks, size - 2 - nchunks);
  for (size_t& c : chunks)
    if (c == 0) c = 1;
  Parsed whole = parse_stream(bytes, {}, lim);
  Parsed slow = parse_stream(bytes, chunks.empty() ? std::vector<size_t>{1} : chunks, lim);
  FUZZ_CHECK(whole.error == slow.error);
  FUZZ_CHECK(whole.message == slow.message);
  FUZZ_CHECK(whole.requests.size() == slow.requests.size());
  FUZZ_CHECK(whole.consumed == slow.consumed);
  for (size_t i = 0; i < whole.requests.size(); ++i) {
    const auto& a = whole.requests[i];
    const auto& b = slow.requests[i];
    FUZZ_CHECK(a.method == b.method && a.target == b.target && a.body == b.body && a.headers == b.headers);
    FUZZ_CHECK(a.keep_alive == b.keep_alive && a.expect_continue == b.expect_continue);
    check_request(a, lim);
    mnemo::net::Response resp;
    resp.body = a.body;
    FUZZ_CHECK(!mnemo::net::serialize(resp, a.keep_alive).empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0] % 8;
  if (sel == 5) return nested_case(data, size), 0;
  if (sel >= 6) return wire_case(data, size), 0;
  return decode_body(sel, std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
}

namespace {

int decode_body(uint8_t sel, std::string_view body) {
  switch (sel) {
    case 0: {
      auto r = mnemo::ltm::decode_add(body);
      if (!r) return check_error(r.status()), 0;
      FUZZ_CHECK(!r->empty() && r->size() <= 102);
      for (const auto& a : *r) {
        check_scope(a.scope);
        FUZZ_CHECK(!a.text.empty());
        check_dumps(a.scope, a.text, a.metadata_json);
      }
      break;
    }
    case 1: {
      auto r = mnemo::ltm::decode_search(body);
      if (!r) return check_error(r.status()), 0;
      check_scope(r->filter.scope);
      FUZZ_CHECK(r->k >= 1 && r->k <= 1000);
      check_dumps(r->filter.scope, r->query, "{}");
      break;
    }
    case 2: {
      auto r = mnemo::ltm::decode_update(body, 42);
      if (!r) return check_error(r.status()), 0;
      check_scope(r->scope);
      FUZZ_CHECK(r->id == 42);
      FUZZ_CHECK(!r->text.empty() || r->tags.has_value() || !r->metadata_json.empty());
      check_dumps(r->scope, r->text, r->metadata_json);
      break;
    }
    case 3: {
      auto r = mnemo::ltm::decode_forget(body);
      if (!r) return check_error(r.status()), 0;
      check_scope(r->scope);
      break;
    }
    default: {
      auto r = mnemo::ltm::decode_restore(body);
      if (!r) return check_error(r.status()), 0;
      check_scope(*r);
      break;
    }
  }
  return 0;
}

}  // namespace
