// ltm/http_client.h: JSON over HTTP to OpenAI-compatible endpoints (libcurl).
//
// Thread-safety: post_json may be called from any thread (each call has its own curl handle).
#pragma once

#include <string>

#include "mnemo/status.h"

namespace mnemo::ltm {

struct HttpResponse {
  long status = 0;
  std::string body;
};

// POSTs `json_body` to `url` (Content-Type: application/json; Authorization: Bearer api_key when
// given). Transport failures and non-2xx answers are errors whose message names the URL.
Expected<std::string> post_json(const std::string& url, const std::string& json_body, const std::string& api_key,
                                int timeout_ms);

// Joins a base URL and a path without doubling the slash ("http://h:1/" + "/v1/x").
std::string join_url(const std::string& base, const std::string& path);

}  // namespace mnemo::ltm
