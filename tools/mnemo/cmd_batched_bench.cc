// mnemo batched-bench: throughput of many sequences decoded together, measured the way llama.cpp's
// llama-batched-bench measures it. For every (PP, TG, B): all sequences emptied; B prompts of PP
// tokens in one batch (position-major: token i of every sequence, then token i + 1, ...), evaluated
// in chunks of -b entries with logits for the last entry only (T_PP); then TG steps of one token
// per sequence, each with logits (T_TG). Configurations that need more than -c KV positions in all
// (B * (PP + TG)) are skipped, as there.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "command.h"
#include "common_options.h"
#include "mnemo/mnemo.h"

namespace mnemo::cli {
namespace {

struct BatchedBenchOptions {
  ModelOptions model;
  EngineOptions engine;
  int64_t n_kv_max = 2048;
  int64_t n_batch = 2048;
  int64_t n_ubatch = 512;
  std::string npp = "128,256,512", ntg = "128,256", npl = "1,2,4,8,16,32";
  bool json = false;
};

Expected<std::vector<int64_t>> parse_list(const std::string& flag, const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0) {
      return usage_error(flag + ": expected a comma-separated list of positive integers, found '" + s + "'");
    }
    out.push_back(v);
  }
  if (out.empty()) return usage_error(flag + ": expected at least one value");
  return out;
}

struct Row {
  int64_t pp, tg, pl, n_kv;
  double t_pp, t_tg;
};

// Evaluates `batch` in chunks of n_batch entries (llama-batched-bench's decode_helper).
Status eval_chunks(Context& ctx, const std::vector<BatchEntry>& batch, int64_t n_batch) {
  for (size_t i = 0; i < batch.size(); i += static_cast<size_t>(n_batch)) {
    const size_t n = std::min(batch.size() - i, static_cast<size_t>(n_batch));
    MNEMO_RETURN_IF_ERROR(ctx.eval(std::span<const BatchEntry>(batch.data() + i, n)));
  }
  return Status::ok();
}

Status empty_all(Context& ctx, int64_t n_seq) {
  for (SeqId s = 0; s < n_seq; ++s) MNEMO_RETURN_IF_ERROR(ctx.truncate_sequence(s, 0));
  return Status::ok();
}

Expected<Row> measure(Context& ctx, int64_t pp, int64_t tg, int64_t pl, int64_t n_batch) {
  MNEMO_RETURN_IF_ERROR(empty_all(ctx, ctx.n_seq_max()));
  std::vector<BatchEntry> batch;
  for (int64_t i = 0; i < pp; ++i) {
    for (int64_t j = 0; j < pl; ++j) batch.push_back({0, static_cast<SeqId>(j), i, false});
  }
  batch.back().logits = true;
  const double t0 = now_seconds();
  MNEMO_RETURN_IF_ERROR(eval_chunks(ctx, batch, n_batch));
  const double t1 = now_seconds();
  for (int64_t i = 0; i < tg; ++i) {
    batch.clear();
    for (int64_t j = 0; j < pl; ++j) batch.push_back({0, static_cast<SeqId>(j), pp + i, true});
    MNEMO_RETURN_IF_ERROR(eval_chunks(ctx, batch, n_batch));
  }
  const double t2 = now_seconds();
  return Row{pp, tg, pl, pl * (pp + tg), t1 - t0, t2 - t1};
}

void print_row(const Row& r, bool json) {
  const double s_pp = static_cast<double>(r.pl * r.pp) / r.t_pp, s_tg = static_cast<double>(r.pl * r.tg) / r.t_tg;
  const double t = r.t_pp + r.t_tg, s = static_cast<double>(r.n_kv) / t;
  if (json) {
    nlohmann::ordered_json j = {{"pp", r.pp}, {"tg", r.tg}, {"pl", r.pl}, {"n_kv", r.n_kv}, {"t_pp", r.t_pp},
                                {"speed_pp", s_pp}, {"t_tg", r.t_tg}, {"speed_tg", s_tg}, {"t", t}, {"speed", s}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("|%6lld | %6lld | %4lld | %6lld | %8.3f | %8.2f | %8.3f | %8.2f | %8.3f | %8.2f |\n",
                static_cast<long long>(r.pp), static_cast<long long>(r.tg), static_cast<long long>(r.pl),
                static_cast<long long>(r.n_kv), r.t_pp, s_pp, r.t_tg, s_tg, t, s);
  }
  std::fflush(stdout);
}

Status run(const BatchedBenchOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(std::vector<int64_t> pps, parse_list("--npp", o.npp));
  MNEMO_ASSIGN_OR_RETURN(std::vector<int64_t> tgs, parse_list("--ntg", o.ntg));
  MNEMO_ASSIGN_OR_RETURN(std::vector<int64_t> pls, parse_list("--npl", o.npl));
  if (o.n_kv_max <= 0 || o.n_batch <= 0 || o.n_ubatch <= 0) return usage_error("-c, -b, --ub: expected positive sizes");
  MNEMO_ASSIGN_OR_RETURN(auto engine, o.engine.create());
  MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(o.model.model, o.model.params(engine)));
  // One context for every configuration: as many sequences as the largest B, each reserving the
  // longest PP + TG (address space only; pages are committed as tokens arrive), a KV pool of -c
  // positions in all, and batches of min(-b, --ub) tokens (llama.cpp computes -ub at a time).
  int64_t n_ctx = 1, n_seq = 1;
  for (int64_t pp : pps) {
    for (int64_t tg : tgs) n_ctx = std::max(n_ctx, pp + tg);
  }
  for (int64_t pl : pls) n_seq = std::max(n_seq, pl);
  ContextParams cp;
  cp.n_ctx = n_ctx;
  cp.n_seq_max = static_cast<int32_t>(n_seq);
  cp.n_batch = std::min(o.n_batch, o.n_ubatch);
  MNEMO_ASSIGN_OR_RETURN(auto ctx, Context::create(*model, cp));
  const int64_t n_batch = ctx->n_batch();
  for (SeqId s = 1; s < n_seq; ++s) MNEMO_RETURN_IF_ERROR(ctx->open_sequence().status());
  {  // warm up, as llama-batched-bench: 16 tokens of sequence 0
    std::vector<BatchEntry> warm;
    for (int64_t i = 0; i < std::min<int64_t>(16, n_ctx); ++i) warm.push_back({0, 0, i, false});
    MNEMO_RETURN_IF_ERROR(eval_chunks(*ctx, warm, n_batch));
  }
  if (!o.json) {
    std::printf("\nmnemo batched-bench: n_kv_max = %lld, n_batch = %lld, n_seq_max = %lld, n_ctx per sequence = %lld, "
                "n_threads = %d\n\n",
                static_cast<long long>(o.n_kv_max), static_cast<long long>(n_batch), static_cast<long long>(n_seq),
                static_cast<long long>(n_ctx), ctx->n_threads());
    std::printf("|%6s | %6s | %4s | %6s | %8s | %8s | %8s | %8s | %8s | %8s |\n", "PP", "TG", "B", "N_KV", "T_PP s",
                "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s");
    std::printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "-------", "--------", "------", "--------", "----------",
                "----------", "----------", "----------", "----------", "----------");
  }
  for (int64_t pp : pps) {
    for (int64_t tg : tgs) {
      for (int64_t pl : pls) {
        if (pl * (pp + tg) > o.n_kv_max) continue;
        MNEMO_ASSIGN_OR_RETURN(Row r, measure(*ctx, pp, tg, pl, n_batch));
        print_row(r, o.json);
      }
    }
  }
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<BatchedBenchOptions>();
  o->model.add_to(app);
  o->engine.add_to(app);
  app.add_option("-c,--ctx-size", o->n_kv_max, "KV positions of all sequences together (llama.cpp's n_kv_max)")
      ->capture_default_str();
  app.add_option("-b,--batch-size", o->n_batch, "Entries per eval (llama-batched-bench -b)")->capture_default_str();
  app.add_option("--ub,--ubatch-size", o->n_ubatch, "Tokens per forward pass (llama-batched-bench -ub)")
      ->capture_default_str();
  app.add_option("--npp", o->npp, "Prompt lengths, comma-separated (llama-batched-bench -npp)")->capture_default_str();
  app.add_option("--ntg", o->ntg, "Generated tokens per sequence, comma-separated (-ntg)")->capture_default_str();
  app.add_option("--npl", o->npl, "Sequences decoded together, comma-separated (-npl)")->capture_default_str();
  app.add_flag("--json", o->json, "One JSON object per configuration (like llama-batched-bench --output-format jsonl)");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("batched-bench", "Throughput of many sequences decoded together (like llama-batched-bench)", setup);

}  // namespace mnemo::cli
