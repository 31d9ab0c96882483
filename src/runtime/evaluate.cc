// runtime/evaluate.cc: perplexity and KL against a reference (llama.cpp's method).
#include "mnemo/evaluate.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>

#include "base/strings.h"
#include "mnemo/util.h"

namespace mnemo {
namespace {

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

// log p(tok) under softmax(logits), as llama.cpp's log_softmax computes it (float max, double sum).
double log_prob(std::span<const float> logits, int32_t tok) {
  float max_logit = logits[0];
  for (float l : logits) max_logit = std::max(max_logit, l);
  double sum_exp = 0.0;
  for (float l : logits) sum_exp += std::exp(l - max_logit);
  return static_cast<double>(logits[static_cast<size_t>(tok)] - max_logit) - std::log(sum_exp);
}

struct Sums {
  double nll = 0, nll2 = 0, kl = 0, kl2 = 0, ref_nll = 0;
  int64_t top1 = 0, count = 0;

  PerplexityResult result(bool has_reference) const {
    PerplexityResult r;
    r.n_scored = count;
    if (count == 0) return r;
    const double n = static_cast<double>(count);
    const double mean = nll / n;
    r.ppl = std::exp(mean);
    const double var = nll2 / n - mean * mean;
    r.ppl_stderr = var > 0 && count > 1 ? std::sqrt(var / (n - 1)) * r.ppl : 0.0;
    r.has_reference = has_reference;
    if (has_reference) {
      r.kl = kl / n;
      const double kl_var = kl2 / n - r.kl * r.kl;
      r.kl_stderr = kl_var > 0 && count > 1 ? std::sqrt(kl_var / (n - 1)) : 0.0;
      r.top1 = static_cast<double>(top1) / n;
      r.ref_ppl = std::exp(ref_nll / n);
    }
    return r;
  }
};

Status check_context(const Context& c, const PerplexityParams& p, const char* which) {
  if (c.n_ctx() < p.n_ctx || c.n_batch() < p.n_ctx) {
    return invalid_argument(str_printf("perplexity: the %s context holds %lld positions in batches of %lld; chunks of "
                                       "%lld tokens need both at least that",
                                       which, static_cast<long long>(c.n_ctx()), static_cast<long long>(c.n_batch()),
                                       static_cast<long long>(p.n_ctx)));
  }
  return Status::ok();
}

}  // namespace

Expected<std::vector<PerplexityResult>> evaluate_perplexity(std::span<const Token> tokens, Token bos,
                                                            std::span<Context* const> models, Context* reference,
                                                            const PerplexityParams& p, const EvalProgress& progress) {
  if (p.n_ctx < 8) return invalid_argument(str_printf("perplexity: chunks of %lld tokens: expected at least 8", static_cast<long long>(p.n_ctx)));
  const int64_t n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2 * p.n_ctx) {
    return out_of_range(str_printf("perplexity: expected at least %lld tokens (2 x context), found %lld",
                                   static_cast<long long>(2 * p.n_ctx), static_cast<long long>(n_tokens)));
  }
  for (Context* c : models) MNEMO_RETURN_IF_ERROR(check_context(*c, p, "model's"));
  if (reference != nullptr) MNEMO_RETURN_IF_ERROR(check_context(*reference, p, "reference's"));
  int64_t n_chunks = n_tokens / p.n_ctx;
  if (p.n_chunks >= 0) n_chunks = std::min(n_chunks, p.n_chunks);

  const int64_t first = p.n_ctx / 2, last = p.n_ctx - 1;  // scored positions [first, last)
  std::vector<Sums> sums(models.size());
  std::vector<std::vector<double>> lp_ref(reference ? static_cast<size_t>(last - first) : 0);
  std::vector<size_t> arg_ref(lp_ref.size());
  double ref_nll = 0;
  std::vector<double> lp;
  std::vector<Token> chunk(static_cast<size_t>(p.n_ctx));
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy(tokens.begin() + c * p.n_ctx, tokens.begin() + (c + 1) * p.n_ctx, chunk.begin());
    if (bos >= 0) chunk[0] = bos;
    auto next_token = [&](int64_t j) { return tokens[static_cast<size_t>(c * p.n_ctx + j + 1)]; };
    if (reference != nullptr) {
      reference->reset();
      MNEMO_RETURN_IF_ERROR(reference->eval(chunk, 0, /*all_logits=*/true));
      for (int64_t j = first; j < last; ++j) {
        std::vector<double>& lr = lp_ref[static_cast<size_t>(j - first)];
        arg_ref[static_cast<size_t>(j - first)] = log_softmax(reference->logits(j), lr);
        ref_nll -= lr[static_cast<size_t>(next_token(j))];
      }
    }
    for (size_t m = 0; m < models.size(); ++m) {
      Context& ctx = *models[m];
      Sums& s = sums[m];
      ctx.reset();
      MNEMO_RETURN_IF_ERROR(ctx.eval(chunk, 0, /*all_logits=*/true));
      for (int64_t j = first; j < last; ++j) {
        const Token next = next_token(j);
        ++s.count;
        const double lpt = log_prob(ctx.logits(j), next);
        s.nll -= lpt;
        s.nll2 += lpt * lpt;
        if (reference == nullptr) continue;
        const std::vector<double>& lr = lp_ref[static_cast<size_t>(j - first)];
        if (ctx.logits(j).size() != lr.size()) return invalid_argument("perplexity: the model's and the reference's vocabularies differ");
        const size_t a = log_softmax(ctx.logits(j), lp);
        double kl = 0.0;
        for (size_t v = 0; v < lp.size(); ++v) kl += std::exp(lr[v]) * (lr[v] - lp[v]);
        s.kl += kl;
        s.kl2 += kl * kl;
        s.top1 += a == arg_ref[static_cast<size_t>(j - first)] ? 1 : 0;
      }
      s.ref_nll = ref_nll;
    }
    if (progress && !sums.empty()) progress(c + 1, n_chunks, sums[0].result(reference != nullptr));
  }
  std::vector<PerplexityResult> out;
  for (const Sums& s : sums) {
    PerplexityResult r = s.result(reference != nullptr);
    r.n_tokens = n_tokens;
    r.n_chunks = n_chunks;
    out.push_back(r);
  }
  return out;
}

Expected<std::vector<Token>> tokenize_file(const std::string& path, Engine& engine, const Tokenizer& tok,
                                           std::unique_ptr<MemoryReservation>* lease) {
  struct stat st;
  const uint64_t file_bytes = ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  MNEMO_ASSIGN_OR_RETURN(*lease, engine.reserve("text and tokens", file_bytes));
  std::vector<Token> tokens;
  {
    MNEMO_ASSIGN_OR_RETURN(const std::string text, read_text_file(path));
    MNEMO_RETURN_IF_ERROR((*lease)->resize(text.size() + tok.encode_work_bytes(text)));
    tokens = tok.encode(text, /*add_bos=*/true);
  }
  MNEMO_RETURN_IF_ERROR((*lease)->resize(tokens.size() * sizeof(Token)));
  return tokens;
}

Expected<PerplexityResult> perplexity(std::span<const Token> tokens, Token bos, Context& model, Context* reference,
                                      const PerplexityParams& params, const EvalProgress& progress) {
  Context* models[1] = {&model};
  MNEMO_ASSIGN_OR_RETURN(auto results, evaluate_perplexity(tokens, bos, models, reference, params, progress));
  return results[0];
}

}  // namespace mnemo
