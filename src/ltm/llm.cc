#include "ltm/llm.h"

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "ltm/http_client.h"
#include "ltm/text.h"

namespace mnemo::ltm {

Expected<std::string> chat_complete(const LlmConfig& llm, const std::vector<ChatMessage>& messages, int max_tokens) {
  if (!llm.enabled()) return invalid_argument("--llm-url: no LLM endpoint configured");
  nlohmann::json msgs = nlohmann::json::array();
  for (const auto& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  nlohmann::json req = {{"model", llm.model},
                        {"messages", msgs},
                        {"temperature", llm.temperature},
                        {"max_tokens", max_tokens}};
  std::string url = join_url(llm.url, "/v1/chat/completions");
  MNEMO_ASSIGN_OR_RETURN(std::string body, post_json(url, req.dump(), llm.api_key, llm.timeout_ms));
  nlohmann::json res = nlohmann::json::parse(body, nullptr, false);
  if (res.is_discarded() || !res.is_object())
    return corrupt(url + ": expected a JSON object, got " + quote_bytes(body, 120));
  if (!res.contains("choices") || !res["choices"].is_array() || res["choices"].empty())
    return corrupt(url + ": expected a non-empty \"choices\" array");
  const auto& c = res["choices"][0];
  if (!c.is_object() || !c.contains("message") || !c["message"].is_object() || !c["message"].contains("content") ||
      !c["message"]["content"].is_string())
    return corrupt(url + ": expected choices[0].message.content to be a string");
  return c["message"]["content"].get<std::string>();
}

Expected<nlohmann::json> extract_json_object(const std::string& text) {
  for (size_t start = text.find('{'); start != std::string::npos; start = text.find('{', start + 1)) {
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = start; i < text.size(); ++i) {
      char c = text[i];
      if (in_str) {
        if (esc) esc = false;
        else if (c == '\\') esc = true;
        else if (c == '"') in_str = false;
        continue;
      }
      if (c == '"') in_str = true;
      else if (c == '{') ++depth;
      else if (c == '}' && --depth == 0) {
        nlohmann::json j = nlohmann::json::parse(text.substr(start, i - start + 1), nullptr, false);
        if (!j.is_discarded() && j.is_object()) return j;
        break;
      }
    }
  }
  return corrupt("LLM answer: expected a JSON object, got " + quote_bytes(text, 120));
}

bool answer_is_yes(const std::string& text) {
  auto toks = tokenize(text);
  return !toks.empty() && (toks[0] == "yes" || toks[0] == "y" || toks[0] == "true");
}

}  // namespace mnemo::ltm
