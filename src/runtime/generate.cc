// runtime/generate.cc: prompt evaluation, then sample -> emit -> evaluate one token at a time.
#include "mnemo/generate.h"

#include <algorithm>
#include <cmath>

#include "base/strings.h"
#include "mnemo/util.h"

namespace mnemo {

Status validate(const SamplerParams& p) {
  auto finite = [](float v, const char* name) -> Status {
    if (!std::isfinite(v)) return invalid_argument(str_printf("%s: expected a finite number, found %g", name, static_cast<double>(v)));
    return Status::ok();
  };
  MNEMO_RETURN_IF_ERROR(finite(p.temperature, "temperature"));
  MNEMO_RETURN_IF_ERROR(finite(p.top_p, "top-p"));
  MNEMO_RETURN_IF_ERROR(finite(p.min_p, "min-p"));
  MNEMO_RETURN_IF_ERROR(finite(p.repeat_penalty, "repeat penalty"));
  if (p.top_p < 0 || p.top_p > 1) return invalid_argument(str_printf("top-p: expected a value in [0, 1], found %g", static_cast<double>(p.top_p)));
  if (p.min_p < 0 || p.min_p > 1) return invalid_argument(str_printf("min-p: expected a value in [0, 1], found %g", static_cast<double>(p.min_p)));
  if (p.repeat_penalty < 0) {
    return invalid_argument(str_printf("repeat penalty: expected a value >= 0, found %g", static_cast<double>(p.repeat_penalty)));
  }
  return Status::ok();
}

Expected<GenerateStats> generate(Context& ctx, const Tokenizer& tok, std::span<const Token> prompt,
                                 const GenerateParams& params, const PieceSink& sink) {
  MNEMO_RETURN_IF_ERROR(validate(params.sampling));
  if (prompt.empty()) return invalid_argument("generate: empty prompt (the tokenizer produced no tokens)");
  if (static_cast<int64_t>(prompt.size()) > ctx.n_ctx()) {
    return out_of_range(str_printf("prompt: expected at most %lld tokens (the context size), found %zu",
                                   static_cast<long long>(ctx.n_ctx()), prompt.size()));
  }
  const int64_t n_past = params.n_past;
  if (n_past < 0 || n_past >= static_cast<int64_t>(prompt.size()) || n_past > ctx.n_past()) {
    return out_of_range(str_printf("generate: n_past: expected 0..%lld (cached and below the prompt's %zu tokens), found %lld",
                                   static_cast<long long>(std::min<int64_t>(ctx.n_past(), static_cast<int64_t>(prompt.size()) - 1)),
                                   prompt.size(), static_cast<long long>(n_past)));
  }
  GenerateStats st;
  st.n_prompt = static_cast<int64_t>(prompt.size()) - n_past;
  st.n_reused = n_past;
  if (params.n_predict > 0) st.generated.reserve(static_cast<size_t>(params.n_predict));
  Sampler sampler(tok.n_vocab(), params.sampling);
  for (Token t : prompt) sampler.accept(t);
  if (n_past == 0) ctx.reset();
  const double t0 = now_seconds();
  MNEMO_RETURN_IF_ERROR(ctx.eval(prompt.subspan(static_cast<size_t>(n_past)), n_past));
  st.prompt_seconds = now_seconds() - t0;

  int64_t pos = static_cast<int64_t>(prompt.size());
  // A KV budget policy compacts instead of reaching the context size: tokens go at the cache
  // position (n_past), generation goes on past n_ctx.
  const bool budgeted = ctx.memory().kv_policy != "full";
  auto is_stop = [&](Token t) {
    return t == tok.eos() || t == tok.bos() ||
           std::find(params.stop_tokens.begin(), params.stop_tokens.end(), t) != params.stop_tokens.end();
  };
  Token prev = prompt.back();
  const double t1 = now_seconds();
  while (params.n_predict < 0 || st.n_generated < params.n_predict) {
    const Token next = sampler.sample(ctx.logits());
    ++st.n_generated;
    st.generated.push_back(next);
    if (is_stop(next)) {
      st.hit_eos = true;
      st.stop_token = next;
      break;
    }
    if (!sink(tok.decode_piece(prev, next))) break;
    sampler.accept(next);
    prev = next;
    if (params.n_predict >= 0 && st.n_generated >= params.n_predict) break;
    if (!budgeted && pos >= ctx.n_ctx()) {
      const int64_t n_keep = std::min<int64_t>(params.n_keep < 0 ? static_cast<int64_t>(prompt.size()) : params.n_keep,
                                               pos - 2);
      if (!params.context_shift || n_keep < 0) {
        st.hit_context = true;
        break;
      }
      const int64_t n_discard = (pos - n_keep) / 2;
      MNEMO_RETURN_IF_ERROR(ctx.shift_sequence(0, n_keep, n_discard));
      pos -= n_discard;
      ++st.n_shifts;
    }
    const Token one[1] = {next};
    MNEMO_RETURN_IF_ERROR(ctx.eval(one, budgeted ? ctx.n_past() : pos));
    ++pos;
  }
  st.generate_seconds = now_seconds() - t1;
  return st;
}

}  // namespace mnemo
