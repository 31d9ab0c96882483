// mnemo run: generate text from a prompt, printing it as llama2.c's run does.
#include <chrono>
#include <cstdio>

#include "cmd_run.h"
#include "command.h"
#include "common_options.h"
#include "mnemo/mnemo.h"
#include "mnemo/generate.h"
#include "mnemo/util.h"
#include "text_output.h"

namespace mnemo::cli {
namespace {

SamplerParams sampling(const RunOptions& o) {
  SamplerParams sp;
  sp.temperature = o.temp;
  sp.top_k = o.top_k;
  sp.top_p = o.top_p;
  sp.min_p = o.min_p;
  sp.repeat_penalty = o.repeat_penalty;
  sp.seed = o.seed >= 0 ? static_cast<uint64_t>(o.seed)
                        : static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  return sp;
}

void print_report(const RunOptions& o, const Model& model, const Context& ctx, const GenerateStats& st,
                  double t_load, uint64_t seed) {
  const ModelMemory mm = model.memory();
  const ContextMemory cm = ctx.memory();
  std::fprintf(
      stderr,
      "mnemo: load %.3f s | prompt %lld tokens, %.1f tok/s | generation %lld tokens, %.1f tok/s | "
      "%d threads, seed %llu\n",
      t_load, static_cast<long long>(st.n_prompt), st.prompt_tokens_per_s(),
      static_cast<long long>(st.n_generated), st.generate_tokens_per_s(), ctx.n_threads(),
      static_cast<unsigned long long>(seed));
  std::fprintf(stderr,
               "mnemo: weights %s mapped, %s resident | KV (K %s, V %s) %s used of %s reserved | "
               "activations and "
               "kernel workspace %s (batch %lld) | peak RSS %s\n",
               format_bytes(mm.mapped_bytes).c_str(), format_bytes(mm.resident_bytes).c_str(),
               cm.type_k.c_str(), cm.type_v.c_str(), format_bytes(cm.kv_used_bytes).c_str(),
               format_bytes(cm.kv_reserved_bytes).c_str(),
               format_bytes(cm.activation_bytes).c_str(), static_cast<long long>(ctx.n_batch()),
               format_bytes(process_memory().peak_rss_bytes).c_str());
  if (o.verbose || !o.engine.mem.empty()) print_memory_report(model.engine(), &ctx);
}

// Predicted (roofline on the hardware profile) against measured tokens/s of this run.
void print_roofline_check(const std::optional<HardwareProfile>& hw, const Model& model, const Context& ctx,
                          const GenerateStats& st) {
  if (!hw) {
    std::fprintf(stderr, "mnemo: no hardware profile: `mnemo hw --save %s` lets the planner predict speed\n",
                 EngineOptions::default_profile_path().c_str());
    return;
  }
  RooflineRequest pre;
  pre.stage = Stage::kPrefill;
  pre.n_tokens = st.n_prompt;
  pre.n_batch = ctx.n_batch();
  pre.n_threads = ctx.n_threads();
  RooflineRequest dec;
  dec.stage = Stage::kDecode;
  dec.n_tokens = std::max<int64_t>(st.n_generated - 1, 1);  // steps evaluated after the prompt
  dec.n_ctx = st.n_prompt;
  dec.n_threads = ctx.n_threads();
  pre.kv_bytes_per_value = dec.kv_bytes_per_value = ctx.memory().kv_bytes_per_value;
  auto p = predict(*hw, model.info(), pre);
  auto d = predict(*hw, model.info(), dec);
  if (!p.has_value() || !d.has_value()) {
    std::fprintf(stderr, "mnemo: roofline: %s\n", (!p.has_value() ? p.status() : d.status()).message().c_str());
    return;
  }
  const double gen_measured = st.generate_seconds > 0 ? std::max<int64_t>(st.n_generated - 1, 0) / st.generate_seconds : 0;
  std::fprintf(stderr,
               "mnemo: roofline on %s: prompt predicted %.1f tok/s, measured %.1f | generation predicted %.1f tok/s, "
               "measured %.1f (batch %lld)\n",
               hw->name.c_str(), p->tokens_per_s, st.prompt_tokens_per_s(), d->tokens_per_s, gen_measured,
               static_cast<long long>(ctx.n_batch()));
}

Status run(const RunOptions& o) {
  if (!o.prompt_file.empty() && !o.prompt.empty()) return usage_error("-p and -f: give the prompt one way, not both");
  if (o.chat) {
    if (!o.prompt_file.empty() || !o.prompt.empty()) {
      return usage_error("--chat: expected the conversation on stdin, found -p/-f (give a system message with --system)");
    }
    if (!o.prompt_cache.empty()) return usage_error("--prompt-cache: not with --chat");
    GenerateParams gp;
    gp.n_predict = o.n_predict;
    gp.sampling = sampling(o);
    MNEMO_RETURN_IF_ERROR(validate(gp.sampling));
    return run_chat(o, gp);
  }
  if (!o.chat_template.empty() || !o.system.empty()) return usage_error("--chat-template and --system: expected --chat");
  if ((o.prompt_cache_all || o.prompt_cache_ro) && o.prompt_cache.empty()) {
    return usage_error("--prompt-cache-all and --prompt-cache-ro: expected --prompt-cache FILE");
  }
  std::string prompt = o.prompt;
  if (!o.prompt_file.empty()) {
    MNEMO_ASSIGN_OR_RETURN(prompt, read_text_file(o.prompt_file));
  }
  GenerateParams gp;
  gp.n_predict = o.n_predict;
  gp.sampling = sampling(o);
  gp.context_shift = o.context_shift;
  gp.n_keep = o.keep;
  MNEMO_RETURN_IF_ERROR(validate(gp.sampling));
  if (!o.prompt_cache.empty() && (o.context_shift || o.context.budgeted())) {
    // A shifted or compacted cache no longer holds one slot per token of the text.
    return usage_error("--prompt-cache: with the full KV policy only, not with --context-shift or --kv-policy");
  }
  if (o.context_shift && o.context.budgeted()) {
    return usage_error("--context-shift: the full policy's; --kv-policy " + o.context.kv_policy + " compacts instead");
  }

  const double t0 = now_seconds();
  MNEMO_ASSIGN_OR_RETURN(auto hw, o.engine.profile());
  MNEMO_ASSIGN_OR_RETURN(auto engine, o.engine.create());
  MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(o.model.model, o.model.params(engine)));
  const double t_load = now_seconds() - t0;
  MNEMO_RETURN_IF_ERROR(o.context.check(*model));
  const Tokenizer& tok = model->tokenizer();
  const std::vector<Token> tokens = tok.encode(prompt, /*add_bos=*/true);
  if (tokens.empty()) return internal_error("the tokenizer produced no tokens (the vocabulary has no BOS)");

  ContextParams cp;
  cp.n_ctx = o.context.n_ctx;
  o.context.apply(cp);
  cp.n_batch_floor = ridge_batch(hw, *model, cp.n_batch);
  // Without -c the planner may shorten the context to fit the budget, down to what this run needs.
  if (o.context.n_ctx == 0) {
    const int64_t need = static_cast<int64_t>(tokens.size()) + std::max<int64_t>(o.n_predict, 0) + 1;
    cp.n_ctx_min = std::min<int64_t>(need, std::max<int64_t>(model->info().n_ctx_train, 1));
  }
  MNEMO_ASSIGN_OR_RETURN(auto ctx, Context::create(*model, cp));

  if (static_cast<int64_t>(tokens.size()) > ctx->n_ctx()) {  // before the prompt is echoed
    return out_of_range(str_printf("prompt: expected at most %lld tokens (the context size), found %zu",
                                   static_cast<long long>(ctx->n_ctx()), tokens.size()));
  }
  if (!o.prompt_cache.empty()) {
    MNEMO_ASSIGN_OR_RETURN(gp.n_past, reuse_prompt_cache(*ctx, tokens, o.prompt_cache));
    if (!o.quiet) {
      std::fprintf(stderr, "mnemo: prompt cache %s: %lld of %zu prompt tokens reused\n", o.prompt_cache.c_str(),
                   static_cast<long long>(gp.n_past), tokens.size());
    }
  }
  TextOutput out(stdout);
  for (size_t i = 1; i < tokens.size(); ++i) out.write_piece(tok.decode_piece(tokens[i - 1], tokens[i]));
  out.flush();
  MNEMO_ASSIGN_OR_RETURN(GenerateStats st, generate(*ctx, tok, tokens, gp, [&](std::string_view piece) {
                           out.write_piece(std::string(piece));
                           out.flush();
                           return true;
                         }));
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (st.n_shifts > 0 && !o.quiet) {
    std::fprintf(stderr, "mnemo: %lld context shifts (kept %lld positions each time)\n",
                 static_cast<long long>(st.n_shifts), static_cast<long long>(o.keep < 0 ? static_cast<int64_t>(tokens.size()) : o.keep));
  }
  if (!o.prompt_cache.empty() && !o.prompt_cache_ro) {
    std::vector<Token> keep = tokens;
    if (o.prompt_cache_all && !st.generated.empty()) keep.insert(keep.end(), st.generated.begin(), st.generated.end() - 1);
    MNEMO_RETURN_IF_ERROR(save_prompt_cache(*ctx, keep, o.prompt_cache));
  }
  if (st.hit_context) {
    std::fprintf(stderr, "mnemo: stopped at the context size (%lld positions); raise it with -c, or go on with --context-shift or a --kv-policy\n",
                 static_cast<long long>(ctx->n_ctx()));
  }
  if (!o.quiet) print_report(o, *model, *ctx, st, t_load, gp.sampling.seed);
  if (!o.quiet && (o.verbose || !o.engine.mem.empty())) print_roofline_check(hw, *model, *ctx, st);
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  o->model.add_to(app);
  o->engine.add_to(app);
  app.add_option("-p,--prompt", o->prompt, "Prompt text")->default_str("");
  app.add_option("-f,--file", o->prompt_file, "Read the prompt from a file");
  app.add_option("-n,--n-predict", o->n_predict, "Tokens to generate after the prompt (-1 = until the context is full)")
      ->capture_default_str();
  o->context.add_to(app, 0, "Context size in positions (0 = the model file's, shortened if needed to fit --mem)");
  o->context.add_kv_policy(app);
  app.add_flag("--context-shift", o->context_shift,
               "At the context size (full KV policy) keep the first --keep positions, drop half of the rest and go "
               "on generating, keys re-rotated (llama.cpp's context shift); without it generation stops there");
  app.add_option("--keep", o->keep, "Positions a context shift keeps (-1: the prompt's)")->capture_default_str();
  app.add_option("--temp", o->temp, "Temperature (<= 0: greedy)")->capture_default_str();
  app.add_option("--top-k", o->top_k, "Top-k sampling (<= 0: off)")->capture_default_str();
  app.add_option("--top-p", o->top_p, "Top-p sampling (1: off)")->capture_default_str();
  app.add_option("--min-p", o->min_p, "Min-p sampling (0: off)")->capture_default_str();
  app.add_option("--repeat-penalty", o->repeat_penalty, "Repetition penalty over the last 64 tokens (1: off)")
      ->capture_default_str();
  app.add_option("-s,--seed", o->seed, "Random seed (-1: from the clock; printed on stderr)")->capture_default_str();
  app.add_flag("-q,--quiet", o->quiet, "No report on stderr");
  app.add_flag("-v,--verbose", o->verbose, "Also report the memory budget and every lease");
  app.add_flag("--chat", o->chat,
               "Interactive chat: each line on stdin is a user turn, formatted by the model's chat template; the "
               "answer streams to stdout and stops at the template's end-of-turn token (-n bounds each answer)");
  add_chat_template_option(app, o->chat_template, "With --chat: ");
  app.add_option("--system", o->system, "With --chat: the system message that starts the conversation");
  app.add_option("--prompt-cache", o->prompt_cache,
                 "Session file: restore the cache of the prompt's longest saved prefix from it, and save the prompt's "
                 "cache to it after the run (checks the model and KV types; written atomically)");
  app.add_flag("--prompt-cache-all", o->prompt_cache_all, "With --prompt-cache: also save the generated tokens");
  app.add_flag("--prompt-cache-ro", o->prompt_cache_ro, "With --prompt-cache: reuse the file, never update it");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("run", "Generate text from a prompt", setup);

}  // namespace mnemo::cli
