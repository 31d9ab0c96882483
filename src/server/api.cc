#include "server/api.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "net/json_limits.h"

namespace mnemo::server {
namespace {

using json = nlohmann::json;

Status bad(const std::string& field, const std::string& expected, const json& found) {
  std::string f = found.dump(-1, ' ', false, json::error_handler_t::replace);
  if (f.size() > 64) f = f.substr(0, 61) + "...";
  return invalid_argument(field + ": expected " + expected + ", found " + f);
}

Status get_float(const json& o, const char* key, float lo, float hi, std::optional<float>* out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return Status::ok();
  if (!it->is_number()) return bad(key, "a number", *it);
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) return bad(key, str_printf("a number in [%g, %g]", double(lo), double(hi)), *it);
  *out = static_cast<float>(v);
  return Status::ok();
}

Status get_bool(const json& o, const char* key, bool* out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return Status::ok();
  if (!it->is_boolean()) return bad(key, "true or false", *it);
  *out = it->get<bool>();
  return Status::ok();
}

Status decode_stop(const json& o, std::vector<std::string>* out) {
  auto it = o.find("stop");
  if (it == o.end() || it->is_null()) return Status::ok();
  if (it->is_string()) {
    if (!it->get_ref<const std::string&>().empty()) out->push_back(it->get<std::string>());
  } else if (it->is_array()) {
    if (it->size() > kMaxStop) return bad("stop", str_printf("at most %zu strings", kMaxStop), *it);
    for (const json& s : *it) {
      if (!s.is_string()) return bad("stop", "a string or an array of strings", *it);
      if (!s.get_ref<const std::string&>().empty()) out->push_back(s.get<std::string>());
    }
  } else {
    return bad("stop", "a string or an array of strings", *it);
  }
  for (const std::string& s : *out)
    if (s.size() > kMaxStopBytes) return invalid_argument(str_printf("stop: expected strings of at most %zu bytes, found %zu", kMaxStopBytes, s.size()));
  return Status::ok();
}

// /v1/completions' prompt: a string, an array of one string, or an array of token ids.
Status decode_prompt(const json& o, CompletionRequest* r) {
  auto it = o.find("prompt");
  if (it == o.end()) return invalid_argument("prompt: expected a string, found nothing");
  if (it->is_string()) {
    r->prompt = it->get<std::string>();
  } else if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
    r->prompt = (*it)[0].get<std::string>();
  } else if (it->is_array() && !it->empty() && (*it)[0].is_number_integer()) {
    for (const json& t : *it) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX)
        return bad("prompt", "a string or an array of token ids", t);
      r->prompt_tokens.push_back(static_cast<Token>(t.get<int64_t>()));
    }
  } else {
    return bad("prompt", "a string (one prompt per request) or an array of token ids", *it);
  }
  if (r->prompt.empty() && r->prompt_tokens.empty()) return invalid_argument("prompt: expected a non-empty prompt, found \"\"");
  return Status::ok();
}

Status decode_logprobs(const json& o, bool chat, CompletionRequest* r) {
  auto it = o.find("logprobs");
  if (it == o.end() || it->is_null()) return Status::ok();
  if (!chat) {  // completions: an integer, the alternatives per token
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > kMaxTopLogprobs)
      return bad("logprobs", str_printf("an integer in [0, %d]", kMaxTopLogprobs), *it);
    r->top_logprobs = static_cast<int>(it->get<int64_t>());
    return Status::ok();
  }
  if (!it->is_boolean()) return bad("logprobs", "true or false", *it);
  if (!it->get<bool>()) return Status::ok();
  r->top_logprobs = 0;
  auto tl = o.find("top_logprobs");
  if (tl != o.end() && !tl->is_null()) {
    if (!tl->is_number_integer() || tl->get<int64_t>() < 0 || tl->get<int64_t>() > kMaxTopLogprobs)
      return bad("top_logprobs", str_printf("an integer in [0, %d]", kMaxTopLogprobs), *tl);
    r->top_logprobs = static_cast<int>(tl->get<int64_t>());
  }
  return Status::ok();
}

Status decode_messages(const json& o, CompletionRequest* r) {
  auto it = o.find("messages");
  if (it == o.end() || !it->is_array() || it->empty())
    return bad("messages", "a non-empty array of messages", it == o.end() ? json() : *it);
  for (const json& m : *it) {
    if (!m.is_object()) return bad("messages", "objects with role and content", m);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return bad("messages", "a \"role\" string in every message", m);
    auto content = m.find("content");
    if (content != m.end() && !content->is_string() && !content->is_null() && !content->is_array())
      return bad("messages", "\"content\" as a string, null or an array of parts", *content);
  }
  r->messages_json = it->dump(-1, ' ', false, json::error_handler_t::replace);
  return Status::ok();
}

Status decode_fields(const json& o, bool chat, CompletionRequest* r) {
  if (auto it = o.find("model"); it != o.end() && !it->is_null()) {
    if (!it->is_string()) return bad("model", "a string", *it);
    r->model = it->get<std::string>();
  }
  MNEMO_RETURN_IF_ERROR(chat ? decode_messages(o, r) : decode_prompt(o, r));
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() < 1) return bad(key, "an integer >= 1", *it);
    r->max_tokens = it->get<int64_t>();
  }
  MNEMO_RETURN_IF_ERROR(get_float(o, "temperature", 0.0f, 2.0f, &r->temperature));
  MNEMO_RETURN_IF_ERROR(get_float(o, "top_p", 0.0f, 1.0f, &r->top_p));
  if (auto it = o.find("seed"); it != o.end() && !it->is_null()) {
    if (!it->is_number_integer()) return bad("seed", "an integer", *it);
    r->seed = it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(it->get<int64_t>());
  }
  if (auto it = o.find("n"); it != o.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() != 1)
      return bad("n", "1 (mnemo returns one choice per request; send several requests instead)", *it);
  }
  MNEMO_RETURN_IF_ERROR(decode_stop(o, &r->stop));
  MNEMO_RETURN_IF_ERROR(get_bool(o, "stream", &r->stream));
  if (auto it = o.find("stream_options"); it != o.end() && !it->is_null()) {
    if (!it->is_object()) return bad("stream_options", "an object", *it);
    MNEMO_RETURN_IF_ERROR(get_bool(*it, "include_usage", &r->include_usage));
  }
  return decode_logprobs(o, chat, r);
}

const char* error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

Expected<CompletionRequest> decode_completion(std::string_view body, bool chat) {
  if (body.empty()) return invalid_argument("body: expected a JSON object, found nothing");
  MNEMO_RETURN_IF_ERROR(net::check_json_depth(body, "body", kMaxBodyDepth));
  json o = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (o.is_discarded()) return invalid_argument("body: expected JSON, found malformed text");
  if (!o.is_object()) return invalid_argument("body: expected a JSON object");
  CompletionRequest r;
  r.chat = chat;
  MNEMO_RETURN_IF_ERROR(decode_fields(o, chat, &r));
  return r;
}

std::string json_string(std::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

net::Response openai_error(int status, std::string_view message, std::string_view param, std::string_view code) {
  json e = {{"message", std::string(message)},
            {"type", error_type(status)},
            {"param", param.empty() ? json() : json(std::string(param))},
            {"code", code.empty() ? json() : json(std::string(code))}};
  net::Response r;
  r.status = status;
  r.body = json({{"error", e}}).dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

net::Response openai_error(const Status& s) {
  const std::string& m = s.message();
  std::string param;
  const size_t colon = m.find(':');
  if (colon != std::string::npos && colon < 32 && m.find(' ') > colon) param = m.substr(0, colon);
  if (param == "body") param.clear();
  return openai_error(400, m, param, "invalid_request");
}

}  // namespace mnemo::server
