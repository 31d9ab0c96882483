// mnemo bench: prompt processing (pp) and text generation (tg) throughput, measured the way
// llama-bench measures it. pp<N>: one batch of N tokens on an empty cache. tg<N>: N single-token
// steps on an empty cache. One warm-up run, then the mean and standard deviation of tokens/s over
// the repetitions.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "command.h"
#include "common_options.h"
#include "mnemo/mnemo.h"

namespace mnemo::cli {
namespace {

struct BenchOptions {
  ModelOptions model;
  EngineOptions engine;    // --mem (-t is a list here, as in llama-bench)
  ContextOptions context;  // --cache-type-k/-v only (the context is sized per test)
  std::string threads = "0";
  std::string n_prompt = "512";
  std::string n_gen = "128";
  int reps = 5;
  bool json = false;
  bool verbose = false;
};

struct Row;
Status bench_threads(const BenchOptions& o, const Model& model, const std::optional<HardwareProfile>& hw,
                     const std::vector<int>& pps, const std::vector<int>& tgs, std::mt19937& rng, std::vector<Row>& rows,
                     uint64_t* minimum);
void print_json(const std::vector<Row>& rows);

Expected<std::vector<int>> parse_list(const std::string& flag, const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      int v = std::stoi(item, &used);
      if (used != item.size() || v < 0) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      return usage_error(flag + ": expected a comma-separated list of non-negative integers, found '" + s + "'");
    }
  }
  return out;
}

struct Row {
  std::string model, model_type;
  uint64_t model_size, n_params;
  std::string test;
  int n_prompt, n_gen, n_threads;
  int64_t n_batch;
  std::string type_k, type_v;
  double avg_ts, stddev_ts;
};

Status run(const BenchOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(std::vector<int> pps, parse_list("-p", o.n_prompt));
  MNEMO_ASSIGN_OR_RETURN(std::vector<int> tgs, parse_list("-n", o.n_gen));
  MNEMO_ASSIGN_OR_RETURN(std::vector<int> ths, parse_list("-t", o.threads));
  if (o.reps < 1) return usage_error("-r: expected at least 1 repetition");
  MNEMO_ASSIGN_OR_RETURN(const std::optional<HardwareProfile> hw, o.engine.profile());
  std::mt19937 rng(42);
  std::vector<Row> rows;
  for (int nt : ths) {
    // One engine per thread count (its pool has that many threads); the mapped file stays cached.
    MNEMO_ASSIGN_OR_RETURN(auto engine, o.engine.create(nt));
    MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(o.model.model, o.model.params(engine)));
    MNEMO_RETURN_IF_ERROR(o.context.check_kv_types(*model));
    uint64_t minimum = 0;
    MNEMO_RETURN_IF_ERROR(bench_threads(o, *model, hw, pps, tgs, rng, rows, &minimum));
    if (o.verbose || !o.engine.mem.empty()) print_memory_report(*engine, nullptr, minimum);
  }
  if (o.json) print_json(rows);
  return Status::ok();
}

Status bench_threads(const BenchOptions& o, const Model& model_ref, const std::optional<HardwareProfile>& hw,
                     const std::vector<int>& pps, const std::vector<int>& tgs, std::mt19937& rng, std::vector<Row>& rows,
                     uint64_t* minimum) {
  const Model* model = &model_ref;
  const ModelInfo& info = model->info();
  const Tokenizer& tok = model->tokenizer();
  auto random_tokens = [&](int n) {
    std::vector<Token> t(static_cast<size_t>(n));
    for (auto& x : t) x = static_cast<Token>(rng() % static_cast<uint32_t>(info.n_vocab));
    if (n > 0 && tok.bos() >= 0) t[0] = tok.bos();
    return t;
  };

  {
    auto measure = [&](const std::string& name, int np, int ng) -> Status {
      const int n = np > 0 ? np : ng;
      if (n == 0) return Status::ok();
      ContextParams cp;
      cp.n_ctx = std::max(np, ng) + 1;
      cp.n_batch = std::max(np, 1);
      cp.n_batch_floor = ridge_batch(hw, *model, cp.n_batch);
      o.context.apply(cp);
      MNEMO_ASSIGN_OR_RETURN(auto ctx, Context::create(*model, cp));
      *minimum = std::max(*minimum, minimum_budget(model->engine(), ctx.get()));
      std::vector<double> ts;
      for (int r = 0; r <= o.reps; ++r) {  // r == 0 is the warm-up
        ctx->reset();
        double t0 = now_seconds();
        if (np > 0) {
          std::vector<Token> t = random_tokens(np);
          MNEMO_RETURN_IF_ERROR(ctx->eval(t, 0));
        } else {
          Token t = tok.bos() >= 0 ? tok.bos() : 0;
          for (int i = 0; i < ng; ++i) {
            Token one[1] = {t};
            MNEMO_RETURN_IF_ERROR(ctx->eval(one, i));
            t = static_cast<Token>(rng() % static_cast<uint32_t>(info.n_vocab));
          }
        }
        double dt = now_seconds() - t0;
        if (r > 0) ts.push_back(n / dt);
      }
      double mean = 0, sd = 0;
      for (double v : ts) mean += v;
      mean /= ts.size();
      for (double v : ts) sd += (v - mean) * (v - mean);
      sd = ts.size() > 1 ? std::sqrt(sd / (ts.size() - 1)) : 0.0;
      const ContextMemory cm = ctx->memory();
      rows.push_back({info.path, info.weight_type, info.weight_bytes, info.n_params, name, np, ng,
                      ctx->n_threads(), ctx->n_batch(), cm.type_k, cm.type_v, mean, sd});
      if (!o.json) {
        std::printf("| %-24s | %10s | %8.2f M | %7d | %10s | %10.2f ± %6.2f |\n", info.name.empty() ? info.arch.c_str() : info.name.c_str(),
                    format_bytes(info.weight_bytes).c_str(), info.n_params / 1e6, ctx->n_threads(), name.c_str(), mean, sd);
        std::fflush(stdout);
      }
      return Status::ok();
    };
    if (!o.json && rows.empty()) {
      std::printf("| %-24s | %10s | %10s | %7s | %10s | %19s |\n", "model", "size", "params", "threads", "test", "t/s");
      std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(26, '-').c_str(), std::string(12, '-').c_str(),
                  std::string(12, '-').c_str(), std::string(9, '-').c_str(), std::string(12, '-').c_str(),
                  std::string(21, '-').c_str());
    }
    for (int p : pps) MNEMO_RETURN_IF_ERROR(measure("pp" + std::to_string(p), p, 0));
    for (int g : tgs) MNEMO_RETURN_IF_ERROR(measure("tg" + std::to_string(g), 0, g));
  }
  return Status::ok();
}

void print_json(const std::vector<Row>& rows) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const Row& r : rows) {
    arr.push_back({{"model", r.model},
                   {"model_type", r.model_type},
                   {"model_size", r.model_size},
                   {"model_n_params", r.n_params},
                   {"test", r.test},
                   {"n_prompt", r.n_prompt},
                   {"n_gen", r.n_gen},
                   {"n_threads", r.n_threads},
                   {"n_batch", r.n_batch},
                   {"type_k", r.type_k},
                   {"type_v", r.type_v},
                   {"avg_ts", r.avg_ts},
                   {"stddev_ts", r.stddev_ts}});
  }
  std::printf("%s\n", arr.dump(2).c_str());
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  o->model.add_to(app);
  o->engine.add_to(app, /*with_threads=*/false);
  app.add_option("-t,--threads", o->threads, "Thread counts, comma-separated (0 = all CPUs)")
      ->capture_default_str();
  app.add_option("-p,--n-prompt", o->n_prompt,
                 "Prompt sizes for pp tests, comma-separated (0: none)")
      ->capture_default_str();
  app.add_option("-n,--n-gen", o->n_gen,
                 "Generation lengths for tg tests, comma-separated (0: none)")
      ->capture_default_str();
  app.add_option("-r,--repetitions", o->reps, "Measured repetitions after one warm-up")
      ->capture_default_str();
  o->context.add_kv_types(app);
  app.add_flag("--json", o->json, "Print a JSON array of rows like llama-bench -o json");
  app.add_flag("-v,--verbose", o->verbose, "Report the memory budget and every lease on stderr");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("bench", "Prompt-processing and generation throughput (like llama-bench)", setup);

}  // namespace mnemo::cli
