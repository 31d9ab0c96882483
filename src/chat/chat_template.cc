// chat/chat_template.cc: ChatTemplate: what a template can render (probed at parse), the
// conversation adjusted to it, the render, and the tokens that end a turn.
#include "mnemo/chat.h"

#include <algorithm>
#include <ctime>

#include "mnemo/util.h"
#include "base/strings.h"
#include "chat/chat_builtin.h"
#include "chat/chat_json.h"
#include "chat/jinja.h"

namespace mnemo {

using jinja::Value;

struct ChatTemplate::Impl {
  jinja::Template tmpl;
  std::string bos, eos;
  bool system_role = true;
  bool typed_content = false;
};

namespace {

Value message_value(const std::string& role, Value content) {
  Value m = Value::dict();
  m.set("role", Value(role));
  m.set("content", std::move(content));
  return m;
}

Value typed(const std::string& text) {
  Value part = Value::dict();
  part.set("type", "text");
  part.set("text", Value(text));
  return Value::list({part});
}

// strftime_now(format) at `now` (local time).
Value strftime_function(int64_t now) {
  return Value::function("strftime_now", [now](jinja::Renderer&, const jinja::CallArgs& a) -> Expected<Value> {
    if (a.positional.size() != 1 || !a.positional[0].is_string() || a.positional[0].as_string().size() > 256) {
      return invalid_argument("strftime_now: expected one format string (at most 256 bytes)");
    }
    const std::time_t t = now >= 0 ? static_cast<std::time_t>(now) : std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[1024];
    const size_t n = std::strftime(buf, sizeof buf, a.positional[0].as_string().c_str(), &tm);
    return Value(std::string(buf, n));
  });
}

// The variables a render sees.
Value globals(const ChatTemplate::Impl& impl, Value messages, const Value* tools, const Value* extra,
              bool add_generation_prompt, int64_t now) {
  Value g = Value::dict();
  g.set("messages", std::move(messages));
  g.set("add_generation_prompt", add_generation_prompt);
  g.set("bos_token", Value(impl.bos));
  g.set("eos_token", Value(impl.eos));
  g.set("strftime_now", strftime_function(now));
  if (tools != nullptr) g.set("tools", *tools);
  if (extra != nullptr && extra->is_dict()) {
    for (const auto& [k, v] : extra->dict_data().entries) g.set(k, v);
  }
  return g;
}

// Renders messages as they are; "" when the template fails (probing only).
std::string try_render(const ChatTemplate::Impl& impl, Value messages) {
  auto out = impl.tmpl.render(globals(impl, std::move(messages), nullptr, nullptr, false, 0));
  return out ? *out : std::string();
}

// What the template renders: typed content only? system messages? (minja's probes)
void probe(ChatTemplate::Impl& impl) {
  const std::string user = "<User Needle>", sys = "<System Needle>";
  const bool plain_user = try_render(impl, Value::list({message_value("user", Value(user))})).find(user) != std::string::npos;
  const bool typed_user = try_render(impl, Value::list({message_value("user", typed(user))})).find(user) != std::string::npos;
  impl.typed_content = !plain_user && typed_user;
  auto content = [&](const std::string& s) { return impl.typed_content ? typed(s) : Value(s); };
  const std::string out = try_render(impl, Value::list({message_value("system", content(sys)), message_value("user", content(user))}));
  impl.system_role = out.find(sys) != std::string::npos;
}

// The messages a template gets: system contents merged into the next user message when it does
// not render them, and string contents typed when it wants that (minja's polyfills).
Value adjust_messages(const ChatTemplate::Impl& impl, const Value& messages) {
  if ((impl.system_role && !impl.typed_content) || !messages.is_list()) return messages;
  std::vector<Value> out;
  std::string pending;
  auto add = [&](Value m) {
    const Value* c = m.find("content");
    if (impl.typed_content && c != nullptr && c->is_string()) {
      Value copy = Value::dict();
      for (const auto& [k, v] : m.dict_data().entries) copy.set(k, v);
      copy.set("content", typed(c->as_string()));
      m = copy;
    }
    out.push_back(std::move(m));
  };
  auto flush = [&] {
    if (!pending.empty()) add(message_value("user", Value(pending)));
    pending.clear();
  };
  for (const Value& m : messages.items()) {
    const Value* role = m.find("role");
    const Value* content = m.find("content");
    if (impl.system_role || role == nullptr || !role->is_string() || content == nullptr || !content->is_string()) {
      add(m);
      continue;
    }
    if (role->as_string() == "system") {
      pending += (pending.empty() ? "" : "\n") + content->as_string();
      continue;
    }
    if (role->as_string() == "user" && !pending.empty()) {
      Value copy = Value::dict();
      for (const auto& [k, v] : m.dict_data().entries) copy.set(k, v);
      copy.set("content", Value(pending + (content->as_string().empty() ? "" : "\n" + content->as_string())));
      pending.clear();
      add(std::move(copy));
      continue;
    }
    flush();
    add(m);
  }
  flush();
  return Value::list(std::move(out));
}

}  // namespace

Expected<ChatTemplate> ChatTemplate::parse(std::string_view source, std::string name, std::string bos_token,
                                           std::string eos_token) {
  MNEMO_ASSIGN_OR_RETURN(jinja::Template t, jinja::Template::parse(source, std::move(name)));
  auto impl = std::make_shared<Impl>(Impl{std::move(t), std::move(bos_token), std::move(eos_token)});
  probe(*impl);
  ChatTemplate out;
  out.impl_ = std::move(impl);
  return out;
}

Expected<ChatTemplate> ChatTemplate::builtin(std::string_view name, std::string bos_token, std::string eos_token) {
  const char* src = chat::builtin_source(name);
  if (src == nullptr) {
    std::string names;
    for (const auto& n : builtin_names()) names += (names.empty() ? "" : ", ") + n;
    return invalid_argument("chat template " + jinja::show(name, 32) + ": expected a built-in name (" + names + ")");
  }
  return parse(src, std::string(name) + " (built-in)", std::move(bos_token), std::move(eos_token));
}

std::vector<std::string> ChatTemplate::builtin_names() { return chat::builtin_template_names(); }

Expected<ChatTemplate> ChatTemplate::resolve(const std::string& spec, std::string_view model_template,
                                             const Tokenizer& tok) {
  const std::string bos = tok.bos() >= 0 ? std::string(tok.token_text(tok.bos())) : "";
  const std::string eos = tok.eos() >= 0 ? std::string(tok.token_text(tok.eos())) : "";
  if (!spec.empty()) {
    if (chat::builtin_source(spec) != nullptr) return builtin(spec, bos, eos);
    auto text = read_text_file(spec);
    if (!text) {
      std::string names;
      for (const auto& n : builtin_names()) names += (names.empty() ? "" : ", ") + n;
      return Status(text.status().code(), "--chat-template " + spec + ": expected a built-in name (" + names +
                                              ") or a template file; " + text.status().message());
    }
    return parse(*text, spec, bos, eos);
  }
  if (model_template.empty()) {
    return not_found("tokenizer.chat_template: expected the model to carry a chat template, found none; give one with "
                     "--chat-template FILE|NAME (built-in: chatml, llama2, llama3, mistral, gemma, phi3, ...)");
  }
  return parse(model_template, "tokenizer.chat_template", bos, eos);
}

Expected<std::string> ChatTemplate::apply(const ChatInputs& in) const {
  Value messages;
  if (!in.messages_json.empty()) {
    MNEMO_ASSIGN_OR_RETURN(messages, chat::parse_json_value(in.messages_json, "messages"));
    if (!messages.is_list()) return invalid_argument("messages: expected a JSON array of messages");
  } else {
    std::vector<Value> list;
    for (const ChatMessage& m : in.messages) list.push_back(message_value(m.role, Value(m.content)));
    messages = Value::list(std::move(list));
  }
  Value tools, extra;
  if (!in.tools_json.empty()) {
    MNEMO_ASSIGN_OR_RETURN(tools, chat::parse_json_value(in.tools_json, "tools"));
  }
  if (!in.extra_context_json.empty()) {
    MNEMO_ASSIGN_OR_RETURN(extra, chat::parse_json_value(in.extra_context_json, "extra context"));
    if (!extra.is_dict()) return invalid_argument("extra context: expected a JSON object");
  }
  const Value g = globals(*impl_, adjust_messages(*impl_, messages), in.tools_json.empty() ? nullptr : &tools,
                          in.extra_context_json.empty() ? nullptr : &extra, in.add_generation_prompt, in.now);
  MNEMO_ASSIGN_OR_RETURN(std::string out, impl_->tmpl.render(g));
  if (!impl_->bos.empty() && starts_with(out, impl_->bos)) out.erase(0, impl_->bos.size());
  if (!impl_->eos.empty() && ends_with(out, impl_->eos)) out.resize(out.size() - impl_->eos.size());
  return out;
}

Expected<std::string> ChatTemplate::apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  ChatInputs in;
  in.messages.assign(messages.begin(), messages.end());
  in.add_generation_prompt = add_generation_prompt;
  return apply(in);
}

std::vector<Token> ChatTemplate::stop_tokens(const Tokenizer& tok) const {
  static const char* kEndOfTurn[] = {
      "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|END_OF_TURN_TOKEN|>",
      "<|end_of_text|>", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "<|endoftext|>",
      "<|EOT|>", "<|end_of_turn|>", "<|turn_end|>", "<|observation|>", "<|user|>", "</s>",
      "<|return|>", "<|call|>"};
  std::vector<Token> out;
  if (tok.eos() >= 0) out.push_back(tok.eos());
  for (const char* text : kEndOfTurn) {
    if (impl_->tmpl.source().find(text) == std::string::npos) continue;
    if (std::string_view(text) == "<|user|>") {
      // <|user|> ends an assistant turn only in ChatGLM's format (no end-of-turn token there).
      if (impl_->tmpl.source().find("[gMASK]") == std::string::npos) continue;
    }
    const std::vector<Token> ids = tok.encode(text, /*add_bos=*/false, /*parse_special=*/true);
    if (ids.size() == 1 && (tok.is_control(ids[0]) || tok.token_text(ids[0]) == text)) out.push_back(ids[0]);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

const std::string& ChatTemplate::name() const { return impl_->tmpl.name(); }
const std::string& ChatTemplate::source() const { return impl_->tmpl.source(); }
bool ChatTemplate::supports_system_role() const { return impl_->system_role; }
bool ChatTemplate::requires_typed_content() const { return impl_->typed_content; }

std::vector<Token> tokenize_chat_prompt(const Tokenizer& tok, std::string_view prompt) {
  return tok.encode(prompt, tok.add_bos_by_default(), /*parse_special=*/true);
}

}  // namespace mnemo
