// mnemo/chat.h: chat templates: a conversation as the prompt text its model was trained on.
//
// A ChatTemplate is the Jinja template of a GGUF's tokenizer.chat_template (Hugging Face's
// tokenizer_config.json "chat_template"), a file, or a built-in format (chatml, llama2, llama3,
// mistral, gemma, phi3, ...), run by mnemo's interpreter of the Jinja subset real templates use
// (src/chat/jinja.h). apply() renders a conversation the way llama.cpp's Jinja path does (its
// outputs are the conformance reference, docs/CHAT.md):
//  - the template sees messages, add_generation_prompt, bos_token, eos_token, tools (when given),
//    strftime_now(format), raise_exception(message), and any extra variables;
//  - a template that does not render system messages (probed once, at parse) gets them merged into
//    the next user message, "system\nuser";
//  - a template that renders only typed content ([{"type": "text", "text": ...}]) gets string
//    contents in that form;
//  - the BOS text at the start and the EOS text at the end of the result are removed: the
//    tokenizer adds BOS (tokenize_chat_prompt), and an EOS would end the turn being generated.
// stop_tokens() lists the tokens that end an assistant turn, for generation to stop at.
//
// Errors are Status: a template that does not parse ("NAME:L:C: expected ..., found ..."), one
// whose render fails or raises ("NAME:L:C: the template raised an exception: ..."), malformed
// messages JSON. Thread-safety: a ChatTemplate is immutable; apply() may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool", ...
  std::string content;
};

struct ChatInputs {
  std::vector<ChatMessage> messages;
  // OpenAI-style messages as a JSON array, used instead of `messages` when not empty: objects with
  // "role" and "content" (a string, null, or an array of parts), and any other fields the template
  // reads (tool_calls, tool_call_id, name, ...).
  std::string messages_json;
  std::string tools_json;          // a JSON array of tool definitions; empty: no `tools` variable
  std::string extra_context_json;  // a JSON object of more variables (date_string, ...); or empty
  bool add_generation_prompt = true;
  int64_t now = -1;  // strftime_now's time, seconds since the epoch (local time); < 0: the clock
};

class ChatTemplate {
 public:
  // Parses template text; `name` prefixes messages. bos_token and eos_token are the texts the
  // template sees (the vocabulary's BOS and EOS tokens, "<s>" and "</s>" for Llama 2).
  static Expected<ChatTemplate> parse(std::string_view source, std::string name, std::string bos_token,
                                      std::string eos_token);
  // A built-in template (builtin_names()).
  static Expected<ChatTemplate> builtin(std::string_view name, std::string bos_token, std::string eos_token);
  static std::vector<std::string> builtin_names();
  // The template to chat with: `spec` (--chat-template: a built-in name, else a file) when not
  // empty, else `model_template` (the model's tokenizer.chat_template); an error when neither is
  // given. BOS/EOS texts come from the vocabulary.
  static Expected<ChatTemplate> resolve(const std::string& spec, std::string_view model_template,
                                        const Tokenizer& tokenizer);

  Expected<std::string> apply(const ChatInputs& inputs) const;
  Expected<std::string> apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

  // EOS, and each end-of-turn token the template writes (<|eot_id|>, <|eom_id|>, <|im_end|>,
  // <end_of_turn>, <|end|>, <|END_OF_TURN_TOKEN|>, <｜end▁of▁sentence｜>, ...) that the vocabulary
  // holds as one special token; sorted, without duplicates.
  std::vector<Token> stop_tokens(const Tokenizer& tokenizer) const;

  const std::string& name() const;
  const std::string& source() const;
  bool supports_system_role() const;
  bool requires_typed_content() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

// The tokens of a prompt from apply(): texts of special tokens ("<|im_start|>") read as those
// tokens, BOS added when the vocabulary adds one by default.
std::vector<Token> tokenize_chat_prompt(const Tokenizer& tokenizer, std::string_view prompt);

}  // namespace mnemo
