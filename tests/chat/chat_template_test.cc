// ChatTemplate: built-in formats, the system-role and typed-content adjustments, BOS/EOS
// stripping, OpenAI-style JSON messages and tools, resolve(), stop tokens over a vocabulary.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/gguf.h"
#include "mnemo/chat.h"
#include "test_util.h"
#include "tokenizer/bpe.h"
#include "tokenizer/loaders.h"

namespace mnemo {
namespace {

const std::vector<ChatMessage> kChat = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}};

std::string apply(const ChatTemplate& t, const std::vector<ChatMessage>& m = kChat, bool gen = true) {
  auto out = t.apply(m, gen);
  return out ? *out : "ERROR: " + out.status().message();
}

ChatTemplate builtin(const char* name, const char* bos = "<s>", const char* eos = "</s>") {
  auto t = ChatTemplate::builtin(name, bos, eos);
  EXPECT_TRUE(t.has_value()) << name << ": " << t.status().message();
  return *t;
}

TEST(ChatTemplate, BuiltinFormats) {
  EXPECT_EQ(apply(builtin("chatml")),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(apply(builtin("llama3", "<|begin_of_text|>", "<|eot_id|>")),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(apply(builtin("llama2")), "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(apply(builtin("mistral")), "[INST] Be brief.\nHi [/INST]Hello!</s>[INST] Bye [/INST]");
  EXPECT_EQ(apply(builtin("gemma", "<bos>", "<eos>")),
            "<start_of_turn>user\nBe brief.\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n"
            "<start_of_turn>model\n");
  EXPECT_EQ(apply(builtin("phi3")), "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n");
  EXPECT_EQ(apply(builtin("zephyr")), "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\nBye</s>\n<|assistant|>\n");
  EXPECT_EQ(apply(builtin("vicuna")), "Be brief.\n\nUSER: Hi\nASSISTANT: Hello!</s>\nUSER: Bye\nASSISTANT:");
  EXPECT_FALSE(builtin("gemma").supports_system_role());
  EXPECT_TRUE(builtin("chatml").supports_system_role());
  for (const auto& name : ChatTemplate::builtin_names()) {
    SCOPED_TRACE(name);
    const std::string out = apply(builtin(name.c_str()));
    EXPECT_EQ(out.find("ERROR"), std::string::npos) << out;
    EXPECT_NE(out.find("Be brief."), std::string::npos);  // rendered or merged, never dropped
  }
  auto bad = ChatTemplate::builtin("nope", "", "");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().message().rfind("chat template 'nope': expected a built-in name (chatml, llama2", 0), 0u);
}

TEST(ChatTemplate, StripsLeadingBosAndTrailingEos) {
  auto t = ChatTemplate::parse("{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}", "t", "<s>", "</s>");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(apply(*t, {{"user", "a"}, {"assistant", "b"}}), "a</s>b");
  auto u = ChatTemplate::parse("{{ bos_token }}x{{ bos_token }}", "t", "", "");  // empty texts strip nothing
  EXPECT_EQ(apply(*u, {{"user", "a"}}), "x");
}

TEST(ChatTemplate, SystemMergedWhenTheTemplateDropsIt) {
  // A template that raises on system messages (gemma-7b-it style) gets them merged.
  auto t = ChatTemplate::parse(
      "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
      "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}",
      "t", "", "");
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(t->supports_system_role());
  EXPECT_EQ(apply(*t, {{"system", "S1"}, {"system", "S2"}, {"user", "U"}, {"assistant", "A"}}), "<user>S1\nS2\nU<assistant>A");
  EXPECT_EQ(apply(*t, {{"system", "S"}, {"assistant", "A"}}), "<user>S<assistant>A");
  EXPECT_EQ(apply(*t, {{"system", "S"}, {"user", ""}}), "<user>S");
}

TEST(ChatTemplate, TypedContentWhenTheTemplateWantsIt) {
  auto t = ChatTemplate::parse("{% for m in messages %}{% for p in m.content %}{{ p.text }}{% endfor %};{% endfor %}", "t", "", "");
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(t->requires_typed_content());
  EXPECT_EQ(apply(*t, {{"user", "a"}, {"assistant", "b"}}), "a;b;");
}

TEST(ChatTemplate, JsonMessagesToolsAndExtraVariables) {
  auto t = ChatTemplate::parse(
      "{% for m in messages %}{{ m.role }}:{% if m.tool_calls %}{{ m.tool_calls[0].function | tojson }}{% else %}{{ m.content }}"
      "{% endif %}|{% endfor %}{% if tools %}{{ tools | map(attribute='function.name') | join(',') }}{% endif %}"
      "{{ date_string | default('') }}",
      "t", "", "");
  ASSERT_TRUE(t.has_value());
  ChatInputs in;
  in.messages_json = R"([{"role": "user", "content": "weather?"},
                         {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "w", "arguments": {"city": "Paris"}}}]},
                         {"role": "tool", "content": "sunny"}])";
  in.tools_json = R"([{"type": "function", "function": {"name": "w"}}, {"type": "function", "function": {"name": "x"}}])";
  in.extra_context_json = R"({"date_string": " 1 Jan"})";
  auto out = t->apply(in);
  ASSERT_TRUE(out.has_value()) << out.status().message();
  EXPECT_EQ(*out, "user:weather?|assistant:{\"name\": \"w\", \"arguments\": {\"city\": \"Paris\"}}|tool:sunny|w,x 1 Jan");
  in.messages_json = "[{\"role\": ";
  EXPECT_EQ(t->apply(in).status().message(), "messages: expected valid JSON, found a syntax error");
  in.messages_json = "{}";
  EXPECT_EQ(t->apply(in).status().message(), "messages: expected a JSON array of messages");
  in.messages_json = std::string(1000, '[') + std::string(1000, ']');
  EXPECT_NE(t->apply(in).status().message().find("expected JSON nested at most"), std::string::npos);
}

TEST(ChatTemplate, ErrorsNameTheTemplate) {
  auto bad = ChatTemplate::parse("{% for %}", "my.jinja", "", "");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().message(), "my.jinja:1:8: expected a loop variable name, found the end of the tag");
  auto t = ChatTemplate::parse("{{ raise_exception('only user') }}", "my.jinja", "", "");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->apply(kChat, true).status().message(), "my.jinja:1:4: the template raised an exception: only user");
}

// A byte-level BPE vocabulary with chat special tokens (ids 256...).
std::unique_ptr<Tokenizer> chat_vocab() {
  std::vector<std::string> texts;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    texts.emplace_back(tokenizer::bpe_byte_to_utf8(static_cast<uint8_t>(b)));
    types.push_back(1);
  }
  for (const char* s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>"}) {
    texts.emplace_back(s);
    types.push_back(3);
  }
  gguf::GgufWriter w;
  w.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
  w.set("tokenizer.ggml.pre", gguf::Value::string("qwen2"));
  w.set("tokenizer.ggml.tokens", gguf::Value::string_array(texts));
  w.set("tokenizer.ggml.token_type", gguf::Value::i32_array(types));
  w.set("tokenizer.ggml.merges", gguf::Value::string_array({}));
  w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(256));
  static std::vector<uint8_t> bytes;
  bytes = *w.to_bytes();
  auto f = gguf::GgufFile::parse(bytes, "vocab.gguf");
  EXPECT_TRUE(f.has_value()) << f.status().message();
  auto tok = tokenizer::load_gguf_tokenizer(**f);
  EXPECT_TRUE(tok.has_value()) << tok.status().message();
  return std::move(tok).value();
}

TEST(ChatTemplate, StopTokensAreTheTemplatesEndOfTurnTokensInTheVocabulary) {
  auto tok = chat_vocab();
  ASSERT_EQ(tok->eos(), 256);
  EXPECT_EQ(builtin("chatml").stop_tokens(*tok), (std::vector<Token>{256, 258}));  // EOS, <|im_end|>
  EXPECT_EQ(builtin("llama3").stop_tokens(*tok), (std::vector<Token>{256, 259}));  // EOS, <|eot_id|>
  EXPECT_EQ(builtin("gemma").stop_tokens(*tok), (std::vector<Token>{256, 260}));   // EOS, <end_of_turn>
  EXPECT_EQ(builtin("phi3").stop_tokens(*tok), (std::vector<Token>{256}));         // <|end|> is not in this vocabulary
  // A rendered prompt reads special texts as their tokens.
  const auto ids = tokenize_chat_prompt(*tok, "<|im_start|>user\nhi<|im_end|>");
  ASSERT_EQ(ids.size(), 9u);  // <|im_start|>, u s e r \n h i (no merges), <|im_end|>
  EXPECT_EQ(ids.front(), 257);
  EXPECT_EQ(ids.back(), 258);
}

TEST(ChatTemplate, ResolvePicksOverrideFileOrModelTemplate) {
  auto tok = chat_vocab();
  auto a = ChatTemplate::resolve("llama3", "{{ 'model' }}", *tok);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->name(), "llama3 (built-in)");
  auto b = ChatTemplate::resolve("", "{{ 'model' }}", *tok);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(apply(*b), "model");
  const std::string path = test::temp_dir() + "/t.jinja";
  std::ofstream(path) << "{{ messages | length }}{{ eos_token }}!";
  auto c = ChatTemplate::resolve(path, "", *tok);
  ASSERT_TRUE(c.has_value()) << c.status().message();
  EXPECT_EQ(apply(*c), "3<|endoftext|>!");  // it never shows the system message: merged into the user's
  auto none = ChatTemplate::resolve("", "", *tok);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.status().message().rfind("tokenizer.chat_template: expected the model to carry a chat template, found none", 0), 0u);
  auto missing = ChatTemplate::resolve("/nonexistent/t.jinja", "", *tok);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().message().rfind("--chat-template /nonexistent/t.jinja: expected a built-in name (chatml", 0), 0u);
}

}  // namespace
}  // namespace mnemo
