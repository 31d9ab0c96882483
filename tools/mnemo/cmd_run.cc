// mnemo run: generate text from a prompt, printing it as llama2.c's run does.
#include <chrono>
#include <cstdio>

#include "command.h"
#include "common_options.h"
#include "mnemo/mnemo.h"
#include "mnemo/util.h"
#include "text_output.h"

namespace mnemo::cli {
namespace {

struct RunOptions {
  ModelOptions model;
  ThreadOptions threads;
  std::string prompt;
  std::string prompt_file;
  int n_predict = 256;
  int64_t n_ctx = 0;
  float temp = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int64_t seed = -1;
  bool quiet = false;
};

Status run(const RunOptions& o) {
  std::string prompt = o.prompt;
  if (!o.prompt_file.empty()) {
    if (!o.prompt.empty()) return usage_error("-p and -f: give the prompt one way, not both");
    FILE* f = std::fopen(o.prompt_file.c_str(), "rb");
    if (f == nullptr) return not_found(o.prompt_file + ": cannot open prompt file");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) prompt.append(buf, n);
    std::fclose(f);
  }

  const double t0 = now_seconds();
  MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(o.model.model, o.model.params()));
  const double t_load = now_seconds() - t0;
  const Tokenizer& tok = model->tokenizer();

  ContextParams cp;
  cp.n_ctx = o.n_ctx;
  cp.n_threads = o.threads.threads;
  MNEMO_ASSIGN_OR_RETURN(auto ctx, Context::create(*model, cp));

  std::vector<Token> tokens = tok.encode(prompt, /*add_bos=*/true);
  if (tokens.empty()) return internal_error("the tokenizer produced no tokens (the vocabulary has no BOS)");
  if (static_cast<int64_t>(tokens.size()) > ctx->n_ctx()) {
    return out_of_range(str_printf("prompt: expected at most %lld tokens (the context size), found %zu",
                                       static_cast<long long>(ctx->n_ctx()), tokens.size()));
  }

  uint64_t seed = o.seed >= 0 ? static_cast<uint64_t>(o.seed)
                              : static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  SamplerParams sp;
  sp.temperature = o.temp;
  sp.top_k = o.top_k;
  sp.top_p = o.top_p;
  sp.min_p = o.min_p;
  sp.repeat_penalty = o.repeat_penalty;
  sp.seed = seed;
  Sampler sampler(model->info().n_vocab, sp);

  TextOutput out(stdout);
  for (size_t i = 1; i < tokens.size(); ++i) out.write_piece(tok.decode_piece(tokens[i - 1], tokens[i]));
  out.flush();
  for (Token t : tokens) sampler.accept(t);

  const double t_prompt0 = now_seconds();
  MNEMO_RETURN_IF_ERROR(ctx->eval(tokens, 0));
  const double t_prompt = now_seconds() - t_prompt0;

  int64_t pos = static_cast<int64_t>(tokens.size());
  Token prev = tokens.back();
  int n_gen = 0;
  bool hit_context = false;
  const double t_gen0 = now_seconds();
  while (o.n_predict < 0 || n_gen < o.n_predict) {
    Token next = sampler.sample(ctx->logits());
    ++n_gen;
    if (next == tok.eos() || next == tok.bos()) break;
    out.write_piece(tok.decode_piece(prev, next));
    out.flush();
    sampler.accept(next);
    prev = next;
    if (o.n_predict >= 0 && n_gen >= o.n_predict) break;
    if (pos >= ctx->n_ctx()) {
      hit_context = true;
      break;
    }
    Token one[1] = {next};
    MNEMO_RETURN_IF_ERROR(ctx->eval(one, pos));
    ++pos;
  }
  const double t_gen = now_seconds() - t_gen0;
  std::fputc('\n', stdout);
  std::fflush(stdout);

  if (hit_context) {
    std::fprintf(stderr, "mnemo: stopped at the context size (%lld positions); raise it with -c\n",
                 static_cast<long long>(ctx->n_ctx()));
  }
  if (!o.quiet) {
    ModelMemory mm = model->memory();
    ContextMemory cm = ctx->memory();
    std::fprintf(stderr,
                 "mnemo: load %.3f s | prompt %zu tokens, %.1f tok/s | generation %d tokens, %.1f tok/s | "
                 "%d threads, seed %llu\n",
                 t_load, tokens.size(), t_prompt > 0 ? static_cast<double>(tokens.size()) / t_prompt : 0.0, n_gen,
                 t_gen > 0 ? n_gen / t_gen : 0.0, ctx->n_threads(), static_cast<unsigned long long>(seed));
    std::fprintf(stderr,
                 "mnemo: weights %s mapped, %s resident | KV %s used of %s reserved | activations and kernel "
                 "workspace %s | peak RSS %s\n",
                 format_bytes(mm.mapped_bytes).c_str(), format_bytes(mm.resident_bytes).c_str(),
                 format_bytes(cm.kv_used_bytes).c_str(), format_bytes(cm.kv_reserved_bytes).c_str(),
                 format_bytes(cm.activation_bytes).c_str(), format_bytes(process_memory().peak_rss_bytes).c_str());
  }
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  o->model.add_to(app);
  o->threads.add_to(app);
  app.add_option("-p,--prompt", o->prompt, "Prompt text")->default_str("");
  app.add_option("-f,--file", o->prompt_file, "Read the prompt from a file");
  app.add_option("-n,--n-predict", o->n_predict, "Tokens to generate after the prompt (-1 = until the context is full)")
      ->capture_default_str();
  app.add_option("-c,--ctx-size", o->n_ctx, "Context size in positions (0 = the model file's)")->capture_default_str();
  app.add_option("--temp", o->temp, "Temperature (<= 0: greedy)")->capture_default_str();
  app.add_option("--top-k", o->top_k, "Top-k sampling (<= 0: off)")->capture_default_str();
  app.add_option("--top-p", o->top_p, "Top-p sampling (1: off)")->capture_default_str();
  app.add_option("--min-p", o->min_p, "Min-p sampling (0: off)")->capture_default_str();
  app.add_option("--repeat-penalty", o->repeat_penalty, "Repetition penalty over the last 64 tokens (1: off)")
      ->capture_default_str();
  app.add_option("-s,--seed", o->seed, "Random seed (-1: from the clock; printed on stderr)")->capture_default_str();
  app.add_flag("-q,--quiet", o->quiet, "No report on stderr");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("run", "Generate text from a prompt", setup);

}  // namespace mnemo::cli
