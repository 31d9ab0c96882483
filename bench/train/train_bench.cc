// train_bench: training throughput of mnemo's fp32 trainer on one model shape, beside the
// OpenBLAS SGEMM peak measured in the same process with the same threads.
//
//   train_bench [--dim 256 --layers 8 --heads 8 --kv-heads 4 --ff 768 --vocab 512]
//               [--batch 4 --seq 1024 --threads 2 --steps 5 --warmup 1]
//
// Prints one JSON line: tokens/s, model FLOP/s (6 per matrix weight per token + causal attention,
// as train_flops_per_step counts them), SGEMM GFLOP/s (square 1024 products, one per thread, each
// thread running OpenBLAS single-threaded, as training does) and the ratio.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "mnemo/util.h"
#include "train/blas.h"
#include "train/graph.h"
#include "train/optimizer.h"
#include "train/rng.h"

using namespace mnemo;
using namespace mnemo::train;

namespace {

int64_t arg(int argc, char** argv, const char* name, int64_t def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  }
  return def;
}

// GFLOP/s of n_threads concurrent single-threaded 1024^3 SGEMMs (the best of `reps`).
double sgemm_peak(ThreadPool& pool, int reps) {
  const int64_t n = 1024;
  const int nt = pool.size();
  std::vector<std::vector<float>> a(static_cast<size_t>(nt)), b(a.size()), c(a.size());
  for (int t = 0; t < nt; ++t) {
    a[static_cast<size_t>(t)].assign(static_cast<size_t>(n * n), 0.5f);
    b[static_cast<size_t>(t)].assign(static_cast<size_t>(n * n), 0.25f);
    c[static_cast<size_t>(t)].assign(static_cast<size_t>(n * n), 0.0f);
  }
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_seconds();
    pool.run([&](int ith, int) {
      gemm(false, false, n, n, n, 1.0f, a[static_cast<size_t>(ith)].data(), n, b[static_cast<size_t>(ith)].data(), n,
           0.0f, c[static_cast<size_t>(ith)].data(), n);
    });
    const double dt = now_seconds() - t0;
    best = std::max(best, 2.0 * n * n * n * nt / dt / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  TrainShape s;
  s.n_embd = arg(argc, argv, "--dim", 256);
  s.n_layer = arg(argc, argv, "--layers", 8);
  s.n_head = arg(argc, argv, "--heads", 8);
  s.n_head_kv = arg(argc, argv, "--kv-heads", 4);
  s.n_ff = arg(argc, argv, "--ff", 768);
  s.n_vocab = arg(argc, argv, "--vocab", 512);
  const int64_t B = arg(argc, argv, "--batch", 4), T = arg(argc, argv, "--seq", 1024);
  s.n_ctx = T;
  const int threads = static_cast<int>(arg(argc, argv, "--threads", 2));
  const int64_t steps = arg(argc, argv, "--steps", 5), warmup = arg(argc, argv, "--warmup", 1);
  if (Status st = validate_shape(s, "train_bench"); !st.is_ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 2;
  }
  use_single_threaded_blas();
  ThreadPool pool(threads);
  const double peak_before = sgemm_peak(pool, 3);
  const ParamLayout layout = ParamLayout::build(s);
  std::vector<float> params(static_cast<size_t>(layout.n_params())), grads(params.size());
  init_params(s, layout, 0.02f, 1, params.data());
  OptimizerSettings o;
  auto opt = Optimizer::create(o, layout, threads, "train_bench");
  if (!opt.has_value()) return 1;
  TrainGraph g(s, layout, B, T, &pool);
  Rng rng(2);
  std::vector<int32_t> tokens(static_cast<size_t>(B * T + 1));
  double seconds = 0, loss = 0;
  for (int64_t i = 0; i < warmup + steps; ++i) {
    for (auto& t : tokens) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(s.n_vocab)));
    const double t0 = now_seconds();
    std::fill(grads.begin(), grads.end(), 0.0f);
    loss = g.forward(params.data(), tokens.data(), tokens.data() + 1, 1.0f / static_cast<float>(B * T));
    g.backward(params.data(), grads.data());
    (void)(*opt)->step(params.data(), grads.data(), 1e-3f, pool);
    const double dt = now_seconds() - t0;
    if (i >= warmup) seconds += dt;
  }
  const double peak_after = sgemm_peak(pool, 3);
  const double tokens_per_s = static_cast<double>(B * T * steps) / seconds;
  const double flops = train_flops_per_step(s, B, T) / static_cast<double>(B * T) * tokens_per_s;
  const double peak = std::max(peak_before, peak_after);
  std::printf(
      "{\"engine\":\"mnemo\",\"dim\":%lld,\"layers\":%lld,\"heads\":%lld,\"kv_heads\":%lld,\"ff\":%lld,\"vocab\":%lld,"
      "\"params\":%lld,\"batch\":%lld,\"seq\":%lld,\"threads\":%d,\"steps\":%lld,\"seconds\":%.3f,\"tokens_per_s\":%.1f,"
      "\"model_gflops\":%.2f,\"sgemm_peak_gflops\":%.2f,\"share_of_sgemm_peak\":%.3f,\"loss\":%.4f,"
      "\"flops_per_token\":%.0f}\n",
      static_cast<long long>(s.n_embd), static_cast<long long>(s.n_layer), static_cast<long long>(s.n_head),
      static_cast<long long>(s.n_head_kv), static_cast<long long>(s.n_ff), static_cast<long long>(s.n_vocab),
      static_cast<long long>(layout.n_params()), static_cast<long long>(B), static_cast<long long>(T), threads,
      static_cast<long long>(steps), seconds, tokens_per_s, flops / 1e9, peak, flops / 1e9 / peak, loss,
      train_flops_per_step(s, B, T) / static_cast<double>(B * T));
  return 0;
}
