// server/api.h: the OpenAI API's JSON, both ways: request bodies (untrusted bytes from the network)
// decoded into a CompletionRequest, and error objects. Pure functions, no sockets, no model.
//
// Decoding follows OpenAI's reference for /v1/completions and /v1/chat/completions: fields mnemo
// does not implement (frequency_penalty, user, ...) are ignored as OpenAI ignores unknown ones,
// except `n` above 1, which is refused (one choice per request). A field of the wrong type or
// out of range is an error whose message starts with the field's name ("max_tokens: expected an
// integer >= 1, found -3"), which becomes the error object's "param".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/status.h"
#include "mnemo/tokenizer.h"
#include "net/http_wire.h"

namespace mnemo::server {

// Deepest nesting accepted in a request body (messages with content parts are depth 4).
inline constexpr int kMaxBodyDepth = 32;
// Most stop strings per request, and their longest text, as OpenAI (4).
inline constexpr size_t kMaxStop = 4;
inline constexpr size_t kMaxStopBytes = 256;
// Most top log-probabilities per token (OpenAI: 5 for completions, 20 for chat).
inline constexpr int kMaxTopLogprobs = 20;

struct CompletionRequest {
  bool chat = false;
  std::string model;
  std::string prompt;               // /v1/completions: the prompt text
  std::vector<Token> prompt_tokens;  // /v1/completions: a prompt given as token ids (then prompt is empty)
  std::string messages_json;        // /v1/chat/completions: the "messages" array as JSON
  int64_t max_tokens = -1;          // -1: until the context is full
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int top_logprobs = -1;       // -1: no log-probabilities; else how many alternatives per token
};

// Decodes a request body. chat selects the endpoint's fields. Errors: kInvalidArgument naming the
// field; the body not JSON, not an object, nested deeper than kMaxBodyDepth.
Expected<CompletionRequest> decode_completion(std::string_view body, bool chat);

// OpenAI's error object {"error": {"message", "type", "param", "code"}} with that HTTP status;
// type follows the status (invalid_request_error, authentication_error, not_found_error,
// rate_limit_error / server_error); param and code are null when empty.
net::Response openai_error(int status, std::string_view message, std::string_view param = "",
                           std::string_view code = "");
// The error for a decoding Status: 400, param the field its message starts with.
net::Response openai_error(const Status& s);

// JSON string literal of `text` (quotes and escapes; invalid UTF-8 replaced by U+FFFD).
std::string json_string(std::string_view text);

}  // namespace mnemo::server
