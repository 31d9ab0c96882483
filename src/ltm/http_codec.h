// ltm/http_codec.h: decoding of the memory API's JSON request bodies (untrusted bytes from the
// network) into service requests. Pure functions, no service, no sockets: the HTTP server calls
// them and `fuzz/ltm_http_fuzz.cc` fuzzes them.
//
// Every decoder rejects a body that is empty, not JSON, not an object, holds a field it does not
// know (so a misspelt scope key never widens a request) or a field of the wrong type, with
// kInvalidArgument and a one-line message naming the field ("search.top_k: expected 1..1000");
// kOutOfRange for too many messages. A decoded request still goes through the service's own
// checks (text size, UTF-8, scope).
#pragma once

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnemo/memory.h"

namespace mnemo::ltm {

// The body as a JSON object.
Expected<nlohmann::json> parse_body_object(std::string_view body);
// POST /v1/memories: one AddRequest per message (mem0 "messages") or text.
Expected<std::vector<AddRequest>> decode_add(std::string_view body);
// POST /v1/memories/search.
Expected<SearchRequest> decode_search(std::string_view body);
// PUT /v1/memories/{id}.
Expected<UpdateRequest> decode_update(std::string_view body, uint64_t id);
// POST /v1/memories/forget.
Expected<ForgetRequest> decode_forget(std::string_view body);
// POST /v1/memories/{id}/restore: the scope.
Expected<Scope> decode_restore(std::string_view body);

}  // namespace mnemo::ltm
