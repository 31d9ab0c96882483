// Microbenchmarks of the inference kernels. Counters:
//   bytes_per_second  weight bytes streamed (GEMV, read kernel): compare with `mnemo hw`
//   GFLOPS            2 * n * m * T / time (GEMV, GEMM), attention's QK and PV products
// Weights of the GEMV cases span 256 MiB, far more than the caches, so they stream from DRAM as in
// decode; the GEMM cases use tinyllama-1.1b shapes (n = 2048) with T = 128 or 512 tokens.
//
//   build/<dir>/bench/kernels/mnemo_kernels_bench --benchmark_filter=Gemv --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "tensor/dtype.h"
#include "tensor/kv_type.h"

namespace mnemo::kernels {
namespace {

constexpr DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K};

// Random but valid bytes of `rows` rows of n elements: finite f16 scales, random quants.
std::vector<uint8_t> random_weights(DType type, int64_t n, int64_t rows, uint64_t seed) {
  const DTypeTraits& t = traits(type);
  const size_t row_bytes = static_cast<size_t>(n / t.block_elems * t.block_bytes);
  std::vector<uint8_t> bytes(row_bytes * static_cast<size_t>(rows) + 64);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(bytes.data() + i, &v, 8);
  }
  // Make every 16-bit word a finite small half (exponent < 15) for the plain 16-bit types, and
  // every float finite for F32; quantized blocks: clear the top exponent bits of the scales by
  // clearing bit 14 of every 16-bit word (scales become |d| < 2, quants stay random).
  if (type == DType::F32) {
    auto* f = reinterpret_cast<uint32_t*>(bytes.data());
    for (size_t i = 0; i < bytes.size() / 4; ++i) f[i] &= 0xBFFFFFFFu;
  } else {
    auto* h = reinterpret_cast<uint16_t*>(bytes.data());
    for (size_t i = 0; i < bytes.size() / 2; ++i) h[i] &= 0xBFFFu;
  }
  return bytes;
}

TensorView view(DType type, int64_t n, int64_t m, const std::vector<uint8_t>& bytes) {
  TensorView v;
  v.type = type;
  v.n_dims = 2;
  v.ne[0] = n;
  v.ne[1] = m;
  v.data = bytes.data();
  return v;
}

// Matrix-vector product over `KiB` KiB of weights (default 256 MiB: from DRAM; 256 KiB: from L2,
// the kernel's compute speed) of rows of 2048 elements. Args: type, threads[, KiB].
void BM_Gemv(benchmark::State& state) {
  const DType type = static_cast<DType>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const int64_t kib = state.range(2);
  const int64_t n = 2048;
  const DTypeTraits& t = traits(type);
  const int64_t row_bytes = n / t.block_elems * t.block_bytes;
  const int64_t m = std::max<int64_t>(16, (kib << 10) / row_bytes / 16 * 16);
  const auto bytes = random_weights(type, n, m, 1);
  const TensorView W = view(type, n, m, bytes);
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(m));
  std::mt19937 rng(2);
  std::normal_distribution<float> g;
  for (auto& v : x) v = g(rng);
  ThreadPool pool(threads);
  std::vector<uint8_t> work(matmul_work_size(type, n, 1, threads));
  for (auto _ : state) {
    matmul(W, x.data(), 1, y.data(), work.data(), work.size(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * row_bytes * m);
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * n * m * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(dtype_name(type)));
}

// Prefill product: m rows of n (default 2048) elements, T tokens. Args: type, T, threads, m[, n].
void BM_Gemm(benchmark::State& state) {
  const DType type = static_cast<DType>(state.range(0));
  const int64_t T = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  const int64_t m = state.range(3);
  const int64_t n = state.range(4) > 0 ? state.range(4) : 2048;
  const auto bytes = random_weights(type, n, m, 3);
  const TensorView W = view(type, n, m, bytes);
  std::vector<float> x(static_cast<size_t>(n * T)), y(static_cast<size_t>(m * T));
  std::mt19937 rng(4);
  std::normal_distribution<float> g;
  for (auto& v : x) v = g(rng);
  ThreadPool pool(threads);
  std::vector<uint8_t> work(matmul_work_size(type, n, T, threads));
  for (auto _ : state) {
    matmul(W, x.data(), T, y.data(), work.data(), work.size(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * n * m * T * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(dtype_name(type)));
}

// As BM_Gemm on one thread through matmul_rows, with activation rows `pad` floats apart beyond n
// (a stride of a multiple of 4 KiB maps every row to the same L1 sets). Args: type, T, m, pad.
void BM_GemmStride(benchmark::State& state) {
  const DType type = static_cast<DType>(state.range(0));
  const int64_t T = state.range(1), m = state.range(2), pad = state.range(3);
  const int64_t n = 2048, ldx = n + pad;
  const auto bytes = random_weights(type, n, m, 3);
  const TensorView W = view(type, n, m, bytes);
  std::vector<float> x(static_cast<size_t>(ldx * T), 0.5f), y(static_cast<size_t>(m * T));
  std::vector<uint8_t> scratch(matmul_thread_work_size(type, n, T) + 64);
  void* aligned = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) / 64 * 64);
  MatmulArgs a;
  a.T = T;
  a.x = x.data();
  a.ldx = ldx;
  a.y = y.data();
  a.ldy = m;
  for (auto _ : state) {
    matmul_rows(W, a, 0, m, aligned);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * n * m * T * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// Read bandwidth of a 512 MiB buffer. Arg: threads.
void BM_ReadBytes(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const size_t n = size_t{512} << 20;
  std::vector<uint8_t> buf(n + 64, 1);
  auto* p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) / 64 * 64);
  ThreadPool pool(threads);
  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  for (auto _ : state) {
    pool.run([&](int ith, int nth) {
      int64_t b, e;
      ThreadPool::split_range(static_cast<int64_t>(n), 4096, ith, nth, &b, &e);
      sums[static_cast<size_t>(ith)] = read_bytes(p + b, static_cast<size_t>(e - b));
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}

void BM_QuantizeQ8(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<float> x(static_cast<size_t>(n), 0.5f);
  std::vector<uint8_t> q(q8_row_bytes(n));
  for (auto _ : state) {
    quantize_q8(x.data(), n, q.data(), ActRounding::kQ8x32);
    benchmark::DoNotOptimize(q.data());
  }
  state.SetBytesProcessed(state.iterations() * n * 4);
}

void BM_RmsNormQ8(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<float> x(static_cast<size_t>(n), 0.5f), w(static_cast<size_t>(n), 1.0f), y(static_cast<size_t>(n));
  std::vector<uint8_t> q(q8_row_bytes(n));
  for (auto _ : state) {
    rmsnorm_q8(x.data(), w.data(), 1e-5f, n, y.data(), q.data(), ActRounding::kQ8x32);
    benchmark::DoNotOptimize(q.data());
  }
  state.SetBytesProcessed(state.iterations() * n * 4);
}

// Attention of tinyllama's shape (32 heads, 4 KV heads, head_dim 64) over a cache of one KV type
// (K and V). Args: T, n_past, threads, KvType.
void BM_Attention(benchmark::State& state) {
  const int64_t T = state.range(0), pos0 = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  const KvType type = static_cast<KvType>(state.range(3));
  const AttentionShape shape{32, 4, 64};
  const int64_t kv = shape.n_head_kv * shape.head_dim, n_pos = pos0 + T;
  const size_t row = kv_row_bytes(type, kv);
  std::vector<float> q(static_cast<size_t>(T * 2048), 0.1f), out(static_cast<size_t>(T * 2048)), x(static_cast<size_t>(kv));
  std::vector<uint8_t> K(static_cast<size_t>(n_pos) * row), V(static_cast<size_t>(n_pos) * row);
  std::mt19937 rng(5);
  std::normal_distribution<float> g;
  for (int64_t p = 0; p < n_pos; ++p) {
    for (auto& v : x) v = g(rng);
    kv_store_row(type, x.data(), kv, K.data() + p * row);
    for (auto& v : x) v = g(rng);
    kv_store_row(type, x.data(), kv, V.data() + p * row);
  }
  const KvRows rows{K.data(), V.data(), row, row, type, type};
  ThreadPool pool(threads);
  for (auto _ : state) {
    attention(q.data(), T, pos0, rows, shape, 0.125f, out.data(), pool);
    benchmark::DoNotOptimize(out.data());
  }
  double pairs = 0;
  for (int64_t t = 0; t < T; ++t) pairs += static_cast<double>(pos0 + t + 1);
  state.counters["GFLOPS"] = benchmark::Counter(4.0 * 64 * 32 * pairs * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(kv_type_name(type)));
}

void AttentionArgs(benchmark::internal::Benchmark* b) {
  for (KvType t : kAllKvTypes) {
    const int64_t ti = static_cast<int64_t>(t);
    b->Args({1, 127, 1, ti})->Args({1, 1023, 1, ti})->Args({1, 4095, 1, ti})->Args({128, 0, 2, ti})->Args({512, 0, 2, ti});
  }
}

void GemvArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (DType t : kTypes) b->Args({static_cast<int64_t>(t), threads, 256 << 10});
  }
  for (DType t : kTypes) b->Args({static_cast<int64_t>(t), 1, 256});
}
void GemmArgs(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
      b->Args({static_cast<int64_t>(t), 128, threads, 2048, 2048});
    }
  }
  b->Args({static_cast<int64_t>(DType::F16), 512, 2, 5632, 2048});
  // Cache-resident: the register tile's compute speed (F32 weights read in place).
  b->Args({static_cast<int64_t>(DType::F32), 6, 1, 16, 2048});
  // tinyllama's other shapes: K/V (256 x 2048), ffn_down (2048 x 5632), gate (5632 x 2048).
  for (int64_t mn : {256 * 10000 + 2048, 2048 * 10000 + 5632, 5632 * 10000 + 2048}) {
    b->Args({static_cast<int64_t>(DType::F16), 128, 1, mn / 10000, mn % 10000});
  }
}

BENCHMARK(BM_Gemv)->Apply(GemvArgs)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Gemm)->Apply(GemmArgs)->UseRealTime()->Unit(benchmark::kMillisecond);
// Batched decode: T GEMV tokens over 256 rows of 2048 (from L2), one thread: the per-token compute
// of decoding T sequences together (kernels.h: tokens share each row's unpacking).
BENCHMARK(BM_Gemm)->ArgsProduct({{static_cast<int64_t>(DType::Q4_0), static_cast<int64_t>(DType::Q8_0)}, {1, 2, 4}, {1}, {256}})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GemmStride)->Args({1, 128, 512, 0})->Args({1, 128, 512, 16})->Args({1, 128, 512, 64})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadBytes)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QuantizeQ8)->Arg(2048)->Arg(5632);
BENCHMARK(BM_RmsNormQ8)->Arg(2048);
BENCHMARK(BM_Attention)->Apply(AttentionArgs)->UseRealTime();

}  // namespace
}  // namespace mnemo::kernels

BENCHMARK_MAIN();
