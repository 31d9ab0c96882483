// mnemo perplexity: llama.cpp's perplexity method, exactly (see mnemo/evaluate.h), with
// --kl-ref REF: the KL divergence from a reference model's next-token distribution and the top-1
// agreement, as llama.cpp's perplexity --kl-divergence reports them. Both models are loaded with
// the same engine: one budget, one thread pool. With --kv-policy/--kv-budget the model's context
// compacts each chunk's cache as it goes (steps of kv_step tokens, model/kv_policy.h) while the
// reference keeps every position.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "common_options.h"
#include "mnemo/evaluate.h"
#include "mnemo/mnemo.h"

namespace mnemo::cli {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  EngineOptions engine;
  ContextOptions context;
  JsonOption json;
  std::string text_file;
  int64_t n_chunks = -1;
  std::string kl_ref;
  bool verbose = false;
};

// KV bytes one sequence holds at most: its budget's rows (every layer, K and V, the cache's types).
double kv_bytes_at_budget(const ContextMemory& cm) {
  return static_cast<double>(cm.kv_budget) * cm.kv_bytes_per_value * 2.0 * cm.kv_values_per_position;
}

void print_result(const PerplexityOptions& o, const PerplexityResult& r, const ContextMemory& cm) {
  if (o.json.json) {
    nlohmann::ordered_json j;
    j["ppl"] = r.ppl;
    j["ppl_stderr"] = r.ppl_stderr;
    j["n_chunks"] = r.n_chunks;
    j["n_scored"] = r.n_scored;
    j["type_k"] = cm.type_k;
    j["type_v"] = cm.type_v;
    j["kv_policy"] = cm.kv_policy;
    j["kv_budget"] = cm.kv_budget;
    j["kv_bytes"] = kv_bytes_at_budget(cm);
    j["kv_compactions"] = cm.kv_compactions;
    if (r.has_reference) {
      j["kl"] = r.kl;
      j["kl_stderr"] = r.kl_stderr;
      j["top1"] = r.top1;
      j["ref_ppl"] = r.ref_ppl;
    }
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf(
      "perplexity: %.4f +/- %.5f (%lld chunks of %lld tokens, %lld scored, %lld tokens in the "
      "file; KV cache "
      "K %s, V %s)\n",
      r.ppl, r.ppl_stderr, static_cast<long long>(r.n_chunks),
      static_cast<long long>(o.context.n_ctx), static_cast<long long>(r.n_scored),
      static_cast<long long>(r.n_tokens), cm.type_k.c_str(), cm.type_v.c_str());
  if (cm.kv_policy != "full") {
    std::printf("kv policy %s: at most %lld slots per sequence (%.0f bytes of KV), %lld compactions\n",
                cm.kv_policy.c_str(), static_cast<long long>(cm.kv_budget), kv_bytes_at_budget(cm),
                static_cast<long long>(cm.kv_compactions));
  }
  if (r.has_reference) {
    std::printf("kl divergence from %s: %.6f +/- %.6f, top-1 agreement %.4f%% (reference perplexity %.4f)\n",
                o.kl_ref.c_str(), r.kl, r.kl_stderr, 100.0 * r.top1, r.ref_ppl);
  }
}

Status run(const PerplexityOptions& o) {
  if (o.context.n_ctx < 8) return usage_error("--ctx-size: expected at least 8");
  MNEMO_ASSIGN_OR_RETURN(auto engine, o.engine.create());
  MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(o.model.model, o.model.params(engine)));
  MNEMO_RETURN_IF_ERROR(o.context.check(*model));
  std::unique_ptr<Model> ref;
  if (!o.kl_ref.empty()) {
    MNEMO_ASSIGN_OR_RETURN(ref, Model::load(o.kl_ref, o.model.params(engine)));
    if (ref->info().n_vocab != model->info().n_vocab) {
      return invalid_argument(str_printf("--kl-ref %s: expected the model's vocabulary of %lld tokens, found %lld",
                                         o.kl_ref.c_str(), static_cast<long long>(model->info().n_vocab),
                                         static_cast<long long>(ref->info().n_vocab)));
    }
  }
  std::unique_ptr<MemoryReservation> tokens_lease;
  MNEMO_ASSIGN_OR_RETURN(const std::vector<Token> tokens,
                         tokenize_file(o.text_file, *engine, model->tokenizer(), &tokens_lease));
  const uint64_t peak_tokenizing = engine->peak_bytes();  // before any context: the text and its scratch
  ContextParams cp;
  cp.n_ctx = o.context.n_ctx;
  cp.n_batch = o.context.n_ctx;  // one chunk is one batch: logits of every position are kept
  cp.n_batch_min = o.context.n_ctx;
  cp.logits_all = true;
  o.context.apply(cp);
  MNEMO_ASSIGN_OR_RETURN(auto ctx, Context::create(*model, cp));
  std::unique_ptr<Context> ref_ctx;
  if (ref) {
    ContextParams rp = cp;  // the reference keeps every position: KL(full || budgeted)
    rp.kv_policy.clear();
    rp.kv_budget.clear();
    MNEMO_ASSIGN_OR_RETURN(ref_ctx, Context::create(*ref, rp));
  }

  PerplexityParams pp;
  pp.n_ctx = o.context.n_ctx;
  pp.n_chunks = o.n_chunks;
  const double t0 = now_seconds();
  auto progress = [&](int64_t done, int64_t n, const PerplexityResult& r) {
    if (o.json.json || (done % 64 != 0 && done != n)) return;
    std::fprintf(stderr, "\rmnemo: perplexity: chunk %lld/%lld, running ppl %.4f, %.1f s", static_cast<long long>(done),
                 static_cast<long long>(n), r.ppl, now_seconds() - t0);
    std::fflush(stderr);
  };
  auto r = perplexity(tokens, model->tokenizer().bos(), *ctx, ref_ctx.get(), pp, progress);
  if (!r.has_value()) return r.status().with_context(o.text_file);
  if (!o.json.json) std::fputc('\n', stderr);
  print_result(o, *r, ctx->memory());
  if (o.verbose || !o.engine.mem.empty()) {
    print_memory_report(*engine, ctx.get(), std::max(peak_tokenizing, minimum_budget(*engine, ctx.get())));
  }
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  o->model.add_to(app);
  o->engine.add_to(app);
  app.add_option("-f,--file", o->text_file, "Text file to score")->required();
  o->context.add_to(app, 512, "Tokens per chunk");
  o->context.add_kv_policy(app);
  app.add_option("--chunks", o->n_chunks, "Score at most this many chunks (-1: all)")->capture_default_str();
  app.add_option("--kl-ref", o->kl_ref,
                 "Reference model (e.g. the unquantized one, or the same model: it always runs with the full KV "
                 "cache, so with --kv-policy this measures the policy): also report the mean KL divergence from "
                 "its token distribution and the top-1 agreement");
  o->json.add_to(app, "Print one JSON line {ppl, ppl_stderr, n_chunks, n_scored, type_k, type_v, kv_policy, kv_budget, kv_bytes, kv_compactions; with --kl-ref: kl, kl_stderr, top1, ref_ppl}");
  app.add_flag("-v,--verbose", o->verbose, "Report the memory budget and every lease on stderr");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("perplexity", "Perplexity of a model on a text file (llama.cpp's method)", setup);

}  // namespace mnemo::cli
