// libFuzzer target: the memory API's HTTP request bodies (ltm/http_codec.h), the bytes a network
// client controls. The first byte chooses the endpoint (add, search, update, forget, restore), the
// rest is the body.
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

#include "ltm/http_codec.h"
#include "ltm/json_codec.h"

namespace {

#define FUZZ_CHECK(cond)                                                           \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0] % 5;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
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
