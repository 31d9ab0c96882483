// POST /v1/completions and /v1/chat/completions: the request checked against the model and its
// context, handed to the scheduler, answered through a Deferred (whole, or as server-sent events).
#include <atomic>
#include <chrono>
#include <ctime>
#include <random>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "server/api.h"
#include "server/server_impl.h"

namespace mnemo::server {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

// Formats one request's output as OpenAI's objects; called on the engine thread.
class CompletionSink final : public Sink {
 public:
  CompletionSink(std::shared_ptr<net::Deferred> d, const CompletionRequest& r, const Tokenizer& tok, std::string model)
      : d_(std::move(d)), tok_(tok), chat_(r.chat), stream_(r.stream), usage_(r.include_usage),
        logprobs_(r.top_logprobs >= 0), model_(std::move(model)) {
    created_ = static_cast<int64_t>(std::time(nullptr));
    static std::atomic<uint64_t> counter{0};
    id_ = str_printf("%s-%llx%llx", chat_ ? "chatcmpl" : "cmpl", static_cast<unsigned long long>(created_),
                     static_cast<unsigned long long>(++counter));
    lp_ = chat_ ? json{{"content", json::array()}}
                : json{{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                       {"text_offset", json::array()}};
  }

  bool cancelled() const override { return d_->cancelled(); }

  void on_text(std::string_view text, std::span<const TokenLogprob> lps) override {
    json lp = logprobs_ ? logprobs_json(lps, stream_ ? json() : lp_) : json();
    if (!stream_) {
      text_.append(text);
      if (logprobs_) lp_ = std::move(lp);
      return;
    }
    json choice = {{"index", 0}, {"logprobs", lp}, {"finish_reason", nullptr}};
    if (chat_) {
      json delta = {{"content", std::string(text)}};
      if (!role_sent_) delta["role"] = "assistant";
      role_sent_ = true;
      choice["delta"] = std::move(delta);
    } else {
      choice["text"] = std::string(text);
    }
    send(chunk(std::move(choice)));
    text_offset_ += static_cast<int64_t>(text.size());
  }

  void on_finish(const FinishInfo& f) override {
    const char* reason = f.reason == FinishReason::kStop ? "stop" : "length";
    const json usage = {{"prompt_tokens", f.prompt_tokens},
                        {"completion_tokens", f.completion_tokens},
                        {"total_tokens", f.prompt_tokens + f.completion_tokens}};
    if (stream_) {
      json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", reason}};
      if (chat_) choice["delta"] = json::object();
      else choice["text"] = "";
      json last = chunk(std::move(choice));
      if (usage_) last["usage"] = usage;
      send(last);
      d_->write("data: [DONE]\n\n");
      d_->finish();
      return;
    }
    json choice = {{"index", 0}, {"logprobs", logprobs_ ? lp_ : json()}, {"finish_reason", reason}};
    if (chat_) choice["message"] = {{"role", "assistant"}, {"content", text_}};
    else choice["text"] = text_;
    json body = {{"id", id_}, {"object", chat_ ? "chat.completion" : "text_completion"}, {"created", created_},
                 {"model", model_}, {"choices", json::array({std::move(choice)})}, {"usage", usage}};
    net::Response r;
    r.body = dump(body);
    d_->complete(std::move(r));
  }

  void on_error(int status, const std::string& message) override {
    net::Response e = openai_error(status, message);
    if (!stream_) {
      d_->complete(std::move(e));
      return;
    }
    d_->write("data: " + e.body + "\n\n");
    d_->finish();
  }

 private:
  json chunk(json choice) const {
    return {{"id", id_}, {"object", chat_ ? "chat.completion.chunk" : "text_completion"}, {"created", created_},
            {"model", model_}, {"choices", json::array({std::move(choice)})}};
  }
  void send(const json& j) { d_->write("data: " + dump(j) + "\n\n"); }

  // The log-probabilities of `lps` appended to `into` (null: a fresh object), in the endpoint's shape.
  json logprobs_json(std::span<const TokenLogprob> lps, json into) {
    if (into.is_null()) into = lp_;
    for (const TokenLogprob& t : lps) {
      const std::string piece = tok_.piece(t.token);
      if (chat_) {
        json top = json::array();
        for (const auto& [id, v] : t.top) {
          const std::string p = tok_.piece(id);
          top.push_back({{"token", p}, {"logprob", v}, {"bytes", bytes_of(p)}});
        }
        into["content"].push_back({{"token", piece}, {"logprob", t.logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", top}});
        continue;
      }
      json top = json::object();
      for (const auto& [id, v] : t.top) top[tok_.piece(id)] = v;
      into["tokens"].push_back(piece);
      into["token_logprobs"].push_back(t.logprob);
      into["top_logprobs"].push_back(top);
      into["text_offset"].push_back(text_offset_ + static_cast<int64_t>(text_.size()));
    }
    return into;
  }

  std::shared_ptr<net::Deferred> d_;
  const Tokenizer& tok_;
  bool chat_, stream_, usage_, logprobs_;
  std::string model_, id_;
  int64_t created_ = 0;
  bool role_sent_ = false;
  std::string text_;          // non-streamed: the whole text
  int64_t text_offset_ = 0;   // streamed: bytes sent so far
  json lp_;                   // non-streamed: log-probabilities so far
};

uint64_t fresh_seed() {
  static std::atomic<uint64_t> n{0};
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
         (++n * 0x9E3779B97F4A7C15ull);
}

}  // namespace

net::Response Server::Impl::completion(const net::Request& req, bool is_chat) {
  auto decoded = decode_completion(req.body, is_chat);
  if (!decoded.has_value()) return openai_error(decoded.status());
  CompletionRequest& r = *decoded;
  if (!r.model.empty() && r.model != name)
    return openai_error(404, "model: '" + r.model + "' is not served here (this server has '" + name + "')", "model",
                        "model_not_found");
  const Tokenizer& tok = model.tokenizer();
  GenerationRequest g;
  if (is_chat) {
    if (!chat) return openai_error(400, "messages: this model has no chat template (" + chat_error + "); start the server with --chat-template", "messages");
    ChatInputs in;
    in.messages_json = r.messages_json;
    auto text = chat->apply(in);
    if (!text.has_value()) return openai_error(400, "messages: " + text.status().message(), "messages");
    g.prompt = tokenize_chat_prompt(tok, *text);
    g.stop_tokens = chat->stop_tokens(tok);
  } else if (!r.prompt_tokens.empty()) {
    for (Token t : r.prompt_tokens)
      if (t >= tok.n_vocab()) return openai_error(400, str_printf("prompt: token id %d is not below the vocabulary's %d", t, tok.n_vocab()), "prompt");
    g.prompt = std::move(r.prompt_tokens);
  } else {
    g.prompt = tok.encode(r.prompt, /*add_bos=*/true);  // as `mnemo run`
  }
  for (Token t : {tok.eos(), tok.bos()})
    if (t >= 0) g.stop_tokens.push_back(t);
  const int64_t n_ctx = scheduler->n_ctx();
  const auto n_prompt = static_cast<int64_t>(g.prompt.size());
  if (n_prompt == 0) return openai_error(400, "prompt: the tokenizer produced no tokens", "prompt");
  if (n_prompt >= n_ctx)
    return openai_error(400, str_printf("prompt: expected fewer than %lld tokens (the context size), found %lld",
                                        static_cast<long long>(n_ctx), static_cast<long long>(n_prompt)),
                        is_chat ? "messages" : "prompt", "context_length_exceeded");
  if (r.max_tokens > n_ctx - n_prompt)
    return openai_error(400, str_printf("max_tokens: expected at most %lld (the context of %lld positions minus the prompt's %lld tokens), found %lld",
                                        static_cast<long long>(n_ctx - n_prompt), static_cast<long long>(n_ctx),
                                        static_cast<long long>(n_prompt), static_cast<long long>(r.max_tokens)),
                        "max_tokens", "context_length_exceeded");
  g.max_tokens = r.max_tokens > 0 ? r.max_tokens : n_ctx - n_prompt;
  if (r.temperature) g.sampling.temperature = *r.temperature;
  if (r.top_p) g.sampling.top_p = *r.top_p;
  g.sampling.seed = r.seed ? *r.seed : fresh_seed();
  g.stop = std::move(r.stop);
  g.top_logprobs = r.top_logprobs;
  auto deferred = std::make_shared<net::Deferred>();
  g.sink = std::make_shared<CompletionSink>(deferred, r, tok, name);
  Status st = scheduler->submit(std::move(g));
  if (!st.is_ok()) {
    net::Response e = openai_error(503, st.message(), "", "server_busy");
    e.headers.emplace_back("Retry-After", "1");
    return e;
  }
  net::Response resp;
  resp.deferred = std::move(deferred);
  resp.stream = r.stream;
  if (r.stream) resp.content_type = "text/event-stream";
  return resp;
}

}  // namespace mnemo::server
