// ltm/llm.h: chat completions from any OpenAI-compatible endpoint (POST {url}/v1/chat/completions).
//
// Used by the note builder (A-MEM), the chat controller (SCM) and the evaluation's answerer and
// judge. Nothing here is needed without an LLM: every caller has an LLM-free path.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mnemo/memory.h"
#include "mnemo/status.h"

namespace mnemo::ltm {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// The assistant message's content.
Expected<std::string> chat_complete(const LlmConfig& llm, const std::vector<ChatMessage>& messages,
                                    int max_tokens = 512);

// The first JSON object in an LLM answer (models wrap JSON in prose or code fences).
Expected<nlohmann::json> extract_json_object(const std::string& text);

// Whether an answer to a yes/no prompt says yes (first word).
bool answer_is_yes(const std::string& text);

}  // namespace mnemo::ltm
