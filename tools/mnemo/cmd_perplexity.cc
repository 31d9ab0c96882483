// mnemo perplexity: llama.cpp's perplexity method, exactly. The file is tokenized once with BOS
// first; it is cut into n_chunks = floor(n_tokens / ctx) chunks (or --chunks); the first token of
// each chunk is replaced by BOS; positions ctx/2 .. ctx-2 of each chunk are scored against the
// next token; sums are in double.
//
// --kl-ref REF: the reference model (e.g. the F32 original of a quantized model) is evaluated on
// the same chunks, and at every scored position the KL divergence KL(p_ref || p) of the model's
// next-token distribution from the reference's is accumulated, with whether the two argmax tokens
// agree (top-1), as llama.cpp's perplexity --kl-divergence reports them (mean KL, "same top").
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "common_options.h"
#include "mnemo/mnemo.h"

namespace mnemo::cli {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  ThreadOptions threads;
  std::string text_file;
  int64_t n_ctx = 512;
  int64_t n_chunks = -1;
  bool json = false;
  std::string kl_ref;
};

// log p(tok) under softmax(logits), as llama.cpp's log_softmax computes it.
double log_prob(std::span<const float> logits, int32_t tok) {
  float max_logit = logits[0];
  for (float l : logits) max_logit = std::max(max_logit, l);
  double sum_exp = 0.0;
  for (float l : logits) sum_exp += std::exp(l - max_logit);
  return static_cast<double>(logits[static_cast<size_t>(tok)] - max_logit) - std::log(sum_exp);
}

// log-softmax of logits into out (double), and the index of the largest logit (first on ties).
size_t log_softmax(std::span<const float> logits, std::vector<double>& out) {
  size_t arg = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[arg]) arg = i;
  }
  const double mx = logits[arg];
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - mx);
  const double lse = mx + std::log(sum);
  out.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - lse;
  return arg;
}

Status run(const PerplexityOptions& o) {
  FILE* f = std::fopen(o.text_file.c_str(), "rb");
  if (f == nullptr) return not_found(o.text_file + ": cannot open text file");
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);

  MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(o.model.model, o.model.params()));
  const Tokenizer& tok = model->tokenizer();
  if (o.n_ctx < 8) return usage_error("--ctx-size: expected at least 8");
  const std::vector<Token> tokens = tok.encode(text, /*add_bos=*/true);
  const int64_t n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2 * o.n_ctx) {
    return out_of_range(str_printf("%s: expected at least %lld tokens (2 x context), found %lld", o.text_file.c_str(),
                                   static_cast<long long>(2 * o.n_ctx), static_cast<long long>(n_tokens)));
  }
  int64_t n_chunks = n_tokens / o.n_ctx;
  if (o.n_chunks >= 0) n_chunks = std::min(n_chunks, o.n_chunks);

  ContextParams cp;
  cp.n_ctx = o.n_ctx;
  cp.n_batch = o.n_ctx;
  cp.n_threads = o.threads.threads;
  cp.logits_all = true;
  MNEMO_ASSIGN_OR_RETURN(auto ctx, Context::create(*model, cp));
  std::unique_ptr<Model> ref;
  std::unique_ptr<Context> ref_ctx;
  if (!o.kl_ref.empty()) {
    MNEMO_ASSIGN_OR_RETURN(ref, Model::load(o.kl_ref, o.model.params()));
    if (ref->info().n_vocab != model->info().n_vocab) {
      return invalid_argument(str_printf("--kl-ref %s: expected the model's vocabulary of %lld tokens, found %lld",
                                         o.kl_ref.c_str(), static_cast<long long>(model->info().n_vocab),
                                         static_cast<long long>(ref->info().n_vocab)));
    }
    MNEMO_ASSIGN_OR_RETURN(ref_ctx, Context::create(*ref, cp));
  }
  double kl_sum = 0.0, kl_sum2 = 0.0, ref_nll = 0.0;
  int64_t top1 = 0;
  std::vector<double> lp_ref, lp;

  const int64_t first = o.n_ctx / 2;
  double nll = 0.0, nll2 = 0.0;
  int64_t count = 0;
  std::vector<Token> chunk(static_cast<size_t>(o.n_ctx));
  const double t0 = now_seconds();
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy(tokens.begin() + c * o.n_ctx, tokens.begin() + (c + 1) * o.n_ctx, chunk.begin());
    if (tok.bos() >= 0) chunk[0] = tok.bos();
    ctx->reset();
    MNEMO_RETURN_IF_ERROR(ctx->eval(chunk, 0, /*all_logits=*/true));
    if (ref_ctx) {
      ref_ctx->reset();
      MNEMO_RETURN_IF_ERROR(ref_ctx->eval(chunk, 0, /*all_logits=*/true));
    }
    for (int64_t j = first; j < o.n_ctx - 1; ++j) {
      const Token next = tokens[static_cast<size_t>(c * o.n_ctx + j + 1)];
      const double lpt = log_prob(ctx->logits(j), next);
      nll -= lpt;
      nll2 += lpt * lpt;
      ++count;
      if (ref_ctx) {
        const size_t a_ref = log_softmax(ref_ctx->logits(j), lp_ref);
        const size_t a = log_softmax(ctx->logits(j), lp);
        double kl = 0.0;
        for (size_t v = 0; v < lp.size(); ++v) kl += std::exp(lp_ref[v]) * (lp_ref[v] - lp[v]);
        kl_sum += kl;
        kl_sum2 += kl * kl;
        top1 += a == a_ref ? 1 : 0;
        ref_nll -= lp_ref[static_cast<size_t>(next)];
      }
    }
    if (!o.json && (c % 64 == 63 || c + 1 == n_chunks)) {
      std::fprintf(stderr, "\rmnemo: perplexity: chunk %lld/%lld, running ppl %.4f, %.1f s", static_cast<long long>(c + 1),
                   static_cast<long long>(n_chunks), std::exp(nll / count), now_seconds() - t0);
      std::fflush(stderr);
    }
  }
  if (!o.json) std::fputc('\n', stderr);
  const double mean = nll / count;
  const double ppl = std::exp(mean);
  double var = nll2 / count - mean * mean;
  const double ppl_stderr = var > 0 && count > 1 ? std::sqrt(var / (count - 1)) * ppl : 0.0;
  if (o.json) {
    nlohmann::ordered_json j;
    j["ppl"] = ppl;
    j["ppl_stderr"] = ppl_stderr;
    j["n_chunks"] = n_chunks;
    j["n_scored"] = count;
    if (ref_ctx) {
      const double kl_mean = kl_sum / count;
      const double kl_var = kl_sum2 / count - kl_mean * kl_mean;
      j["kl"] = kl_mean;
      j["kl_stderr"] = kl_var > 0 && count > 1 ? std::sqrt(kl_var / (count - 1)) : 0.0;
      j["top1"] = static_cast<double>(top1) / count;
      j["ref_ppl"] = std::exp(ref_nll / count);
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("perplexity: %.4f +/- %.5f (%lld chunks of %lld tokens, %lld scored, %lld tokens in the file)\n", ppl,
                ppl_stderr, static_cast<long long>(n_chunks), static_cast<long long>(o.n_ctx),
                static_cast<long long>(count), static_cast<long long>(n_tokens));
    if (ref_ctx) {
      const double kl_mean = kl_sum / count;
      const double kl_var = kl_sum2 / count - kl_mean * kl_mean;
      std::printf("kl divergence from %s: %.6f +/- %.6f, top-1 agreement %.4f%% (reference perplexity %.4f)\n",
                  o.kl_ref.c_str(), kl_mean, kl_var > 0 && count > 1 ? std::sqrt(kl_var / (count - 1)) : 0.0,
                  100.0 * static_cast<double>(top1) / count, std::exp(ref_nll / count));
    }
  }
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  o->model.add_to(app);
  o->threads.add_to(app);
  app.add_option("-f,--file", o->text_file, "Text file to score")->required();
  app.add_option("-c,--ctx-size,--ctx", o->n_ctx, "Tokens per chunk")->capture_default_str();
  app.add_option("--chunks", o->n_chunks, "Score at most this many chunks (-1: all)")->capture_default_str();
  app.add_option("--kl-ref", o->kl_ref,
                 "Reference model (e.g. the unquantized one): also report the mean KL divergence from its token "
                 "distribution and the top-1 agreement");
  app.add_flag("--json", o->json, "Print one JSON line {ppl, ppl_stderr, n_chunks, n_scored; with --kl-ref: kl, kl_stderr, top1, ref_ppl}");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("perplexity", "Perplexity of a model on a text file (llama.cpp's method)", setup);

}  // namespace mnemo::cli
