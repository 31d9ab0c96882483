// Decode (one token) matrix-vector products of 4096 x 4096 weights, single-threaded:
//   BM_GemvQ/<type id>     kernels::matmul with T = 1 (Q8_0, Q4_0 and mnemo's group types: the
//                          activation row quantized to Q8, then the integer-dot kernel)
//   BM_Bipolar/<W>/<A>     bipolar_quantize_act (A bits) + bipolar_gemv: W x A xor-popcount
//                          products per 64 weights
//   BM_PrefillQ/<type id>  kernels::matmul with T = 128 (prefill: Q8_0/Q4_0 through the f32 GEMM or
//                          OpenBLAS, mnemo's group types through their decode kernel with Q8
//                          activations, bipolar:4 with 8-bit activations); counter tokens_per_second
// Weights are random bytes with finite f16 scales (the kernels' cost does not depend on the
// values). Counters: bytes_per_second = weight bytes / time; ns_per_weight.
//
//   build/<dir>/bench/compress/mnemo_quant_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "base/fp16.h"
#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/mnemo_formats.h"
#include "kernels/mnemo_types.h"

namespace mnemo::kernels {
namespace {

constexpr int64_t kN = 4096, kM = 4096;

struct Weights {
  std::vector<uint8_t> bytes;
  TensorView view;
};

// Random bytes; every block's f16 scale set to a finite value near 2^-7.
Weights make_weights(DType type) {
  const DTypeTraits& t = traits(type);
  const size_t rb = static_cast<size_t>(kN / t.block_elems * t.block_bytes);
  Weights w;
  w.bytes.resize(rb * kM + 64);
  std::mt19937_64 rng(static_cast<uint64_t>(type) * 7919u);
  for (size_t i = 0; i + 8 <= w.bytes.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(w.bytes.data() + i, &v, 8);
  }
  const size_t nblocks = static_cast<size_t>(kN / t.block_elems) * kM;
  const int wbits = mformat::bipolar_bits(type);
  for (size_t b = 0; b < nblocks; ++b) {
    uint8_t* blk = w.bytes.data() + b * t.block_bytes;
    size_t off = 0;  // Q8_0, Q4_0 and group types start with the scale
    if (wbits > 0) off = static_cast<size_t>(8 * wbits);
    const uint16_t h = static_cast<uint16_t>(0x2000 | (rng() & 0x3ff) | ((rng() & 1) << 15));
    std::memcpy(blk + off, &h, 2);
  }
  w.view.type = type;
  w.view.n_dims = 2;
  w.view.ne[0] = kN;
  w.view.ne[1] = kM;
  w.view.data = w.bytes.data();
  return w;
}

std::vector<float> activations() {
  std::vector<float> x(kN);
  std::mt19937_64 rng(1);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (float& v : x) v = g(rng);
  return x;
}

void set_counters(benchmark::State& state, const TensorView& W) {
  const double bytes = static_cast<double>(W.n_bytes());
  state.counters["bytes_per_second"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1024);
  state.counters["ns_per_weight"] = benchmark::Counter(static_cast<double>(kN * kM) * 1e-9,
                                                       benchmark::Counter::kIsIterationInvariantRate |
                                                           benchmark::Counter::kInvert);
}

void BM_GemvQ(benchmark::State& state) {
  const DType type = static_cast<DType>(state.range(0));
  state.SetLabel(std::string(dtype_name(type)));
  const Weights w = make_weights(type);
  const std::vector<float> x = activations();
  std::vector<float> y(kM);
  ThreadPool pool(1);
  std::vector<uint8_t> work(matmul_work_size(type, kN, 1, 1));
  for (auto _ : state) {
    matmul(w.view, x.data(), 1, y.data(), work.data(), work.size(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, w.view);
}

void BM_Bipolar(benchmark::State& state) {
  const int W = static_cast<int>(state.range(0)), A = static_cast<int>(state.range(1));
  const DType type = mformat::bipolar_dtype(W);
  char label[16];
  std::snprintf(label, sizeof label, "W%dA%d", W, A);
  state.SetLabel(label);
  const Weights w = make_weights(type);
  const std::vector<float> x = activations();
  std::vector<float> y(kM);
  std::vector<uint8_t> act(bipolar_act_bytes(kN, A));
  for (auto _ : state) {
    bipolar_quantize_act(x.data(), kN, A, act.data());
    bipolar_gemv(w.view, act.data(), A, y.data(), 0, kM);
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, w.view);
}

void BM_PrefillQ(benchmark::State& state) {
  constexpr int64_t kT = 128;
  const DType type = static_cast<DType>(state.range(0));
  state.SetLabel(std::string(dtype_name(type)));
  const Weights w = make_weights(type);
  std::vector<float> x;
  for (int64_t t = 0; t < kT; ++t) {
    const std::vector<float> row = activations();
    x.insert(x.end(), row.begin(), row.end());
  }
  std::vector<float> y(static_cast<size_t>(kT * kM));
  ThreadPool pool(1);
  std::vector<uint8_t> work(matmul_work_size(type, kN, kT, 1));
  for (auto _ : state) {
    matmul(w.view, x.data(), kT, y.data(), work.data(), work.size(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["tokens_per_second"] =
      benchmark::Counter(static_cast<double>(kT), benchmark::Counter::kIsIterationInvariantRate);
}

void q_args(benchmark::internal::Benchmark* b) {
  b->Arg(static_cast<int>(DType::Q8_0))->Arg(static_cast<int>(DType::Q4_0));
  for (int id = 100; id < 124; ++id) b->Arg(id);
}
BENCHMARK(BM_GemvQ)->Apply(q_args)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PrefillQ)
    ->Apply(q_args)
    ->Arg(static_cast<int>(mformat::bipolar_dtype(4)))
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Bipolar)->ArgsProduct({{1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 3, 4, 5, 6, 7, 8}})->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mnemo::kernels

BENCHMARK_MAIN();
