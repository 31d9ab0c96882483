// mnemo run --chat: an interactive conversation through the model's chat template.
//
// Each line on stdin is a user turn. The whole conversation is rendered by the template and
// tokenized; the tokens that the context already holds from the previous turns (the common prefix
// of the new tokens and the cached ones: all of them when the template's rendering of the longer
// conversation extends the previous one) are kept, and only the rest is evaluated. The answer
// streams to stdout, one line per turn, and stops at the template's end-of-turn tokens.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cmd_run.h"
#include "command.h"
#include "mnemo/chat.h"
#include "mnemo/mnemo.h"
#include "mnemo/util.h"
#include "text_output.h"

namespace mnemo::cli {
namespace {

// Length of the common prefix of the cached tokens and the new prompt's, kept below the prompt's
// length so that at least its last token is evaluated (its logits start the answer).
int64_t reusable_prefix(const std::vector<Token>& cached, const std::vector<Token>& prompt) {
  size_t n = 0;
  while (n < cached.size() && n < prompt.size() && cached[n] == prompt[n]) ++n;
  return static_cast<int64_t>(std::min(n, prompt.size() - 1));
}

std::string token_list(const Tokenizer& tok, const std::vector<Token>& ids) {
  std::string s;
  for (Token t : ids) s += (s.empty() ? "" : " ") + std::string(tok.token_text(t));
  return s;
}

// One turn: renders the conversation, evaluates what the cache lacks, streams the answer.
// Updates `cached` to what the context holds afterwards; returns the answer's text.
Expected<std::string> chat_turn(Context& ctx, const Tokenizer& tok, const ChatTemplate& tmpl,
                                const std::vector<ChatMessage>& messages, const GenerateParams& base,
                                std::vector<Token>& cached, const RunOptions& o, int turn) {
  auto rendered = tmpl.apply(messages, /*add_generation_prompt=*/true);
  if (!rendered) {  // the template refuses this conversation (raise_exception, ...): not a usage error
    return Status(rendered.status().code() == StatusCode::kInvalidArgument ? StatusCode::kUnsupported
                                                                            : rendered.status().code(),
                  rendered.status().message());
  }
  const std::string& prompt = *rendered;
  std::vector<Token> tokens = tokenize_chat_prompt(tok, prompt);
  if (tokens.empty()) return internal_error("the chat template rendered an empty prompt");
  if (static_cast<int64_t>(tokens.size()) >= ctx.n_ctx()) {
    return out_of_range(str_printf("conversation: expected at most %lld tokens (the context size, -c), found %zu; "
                                   "start a new chat or raise -c",
                                   static_cast<long long>(ctx.n_ctx()), tokens.size()));
  }
  GenerateParams gp = base;
  gp.n_past = reusable_prefix(cached, tokens);
  std::string answer;
  TextOutput out(stdout);
  MNEMO_ASSIGN_OR_RETURN(GenerateStats st, generate(ctx, tok, tokens, gp, [&](std::string_view piece) {
                           answer.append(piece);
                           out.write_piece(std::string(piece));
                           out.flush();
                           return true;
                         }));
  std::fputc('\n', stdout);
  std::fflush(stdout);
  cached = tokens;
  if (!st.generated.empty()) cached.insert(cached.end(), st.generated.begin(), st.generated.end() - 1);
  if (!o.quiet) {
    std::fprintf(stderr, "mnemo: turn %d: prompt %zu tokens, %lld reused from the cache, %lld evaluated | %lld generated, %s\n",
                 turn, tokens.size(), static_cast<long long>(st.n_reused), static_cast<long long>(st.n_prompt),
                 static_cast<long long>(st.n_generated),
                 st.hit_eos ? ("stopped at " + std::string(tok.token_text(st.stop_token))).c_str()
                 : st.hit_context ? "stopped at the context size" : "stopped at -n");
  }
  return answer;
}

}  // namespace

Status run_chat(const RunOptions& o, const GenerateParams& gp_in) {
  MNEMO_ASSIGN_OR_RETURN(auto hw, o.engine.profile());
  MNEMO_ASSIGN_OR_RETURN(auto engine, o.engine.create());
  MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(o.model.model, o.model.params(engine)));
  MNEMO_RETURN_IF_ERROR(o.context.check(*model));
  const Tokenizer& tok = model->tokenizer();
  auto tmpl = ChatTemplate::resolve(o.chat_template, model->info().chat_template, tok);
  if (!tmpl) return o.chat_template.empty() ? tmpl.status().with_context(o.model.model) : tmpl.status();
  GenerateParams gp = gp_in;
  gp.stop_tokens = tmpl->stop_tokens(tok);

  ContextParams cp;
  cp.n_ctx = o.context.n_ctx;
  cp.n_batch_floor = ridge_batch(hw, *model, cp.n_batch);
  if (o.context.n_ctx == 0) cp.n_ctx_min = std::min<int64_t>(512, std::max<int64_t>(model->info().n_ctx_train, 1));
  MNEMO_ASSIGN_OR_RETURN(auto ctx, Context::create(*model, cp));
  if (!o.quiet) {
    std::fprintf(stderr, "mnemo: chat template %s; turns end at: %s; context %lld positions\n", tmpl->name().c_str(),
                 token_list(tok, gp.stop_tokens).c_str(), static_cast<long long>(ctx->n_ctx()));
  }

  std::vector<ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  std::vector<Token> cached;
  const bool interactive = isatty(STDIN_FILENO) != 0;
  std::string line;
  int turn = 0;
  while (true) {
    if (interactive) std::fputs("> ", stderr);
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    messages.push_back({"user", line});
    MNEMO_ASSIGN_OR_RETURN(std::string answer, chat_turn(*ctx, tok, *tmpl, messages, gp, cached, o, ++turn));
    messages.push_back({"assistant", answer});
  }
  if (!o.quiet && (o.verbose || !o.engine.mem.empty())) print_memory_report(model->engine(), ctx.get());
  return Status::ok();
}

}  // namespace mnemo::cli
