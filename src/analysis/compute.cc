// analysis/compute.cc: the compute roofs of this machine, as mnemo's own kernels reach them
// (measure_compute, include/mnemo/hw_profile.h).
//
// A roof must be the kernel's speed when memory is not the limit, so small products (below
// kernels::kBlasMinTokens tokens: the GEMV and mnemo's own GEMM) run on about 512 KiB of weights per
// thread, which stay in that core's L2 cache while the thread multiplies its rows again and again;
// larger products go through kernels::matmul on 2048 rows, where every weight serves T tokens and
// the time is arithmetic. The weights are bytes of one pattern in [0x20, 0x3b]: every 16-bit scale
// they form is a normal half (or bfloat16) in [2^-7, 1) and every f32 a normal number, so no
// sub-normal arithmetic distorts the timing; the values themselves do not matter to the kernels'
// speed. The FLOPs counted are the ones the cost model (mnemo/roofline.h) counts for the same work,
// so the model's times are the measured ones by construction.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>

#include "base/thread_pool.h"
#include "kernels/blas.h"
#include "kernels/kernels.h"
#include "mnemo/hw_profile.h"
#include "mnemo/util.h"
#include "tensor/tensor.h"

namespace mnemo {
namespace {

constexpr size_t kCacheBytesPerThread = 512 << 10;  // weights per thread for in-cache timing
constexpr double kMinPassSeconds = 0.02;            // a timed pass repeats its work at least this long
constexpr int64_t kLargeRows = 2048;                // rows of W for the large-batch products
constexpr int64_t kAttentionPositions = 512;
constexpr int64_t kAttentionHeadDim = 64;

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                              DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K};

Expected<DType> weight_type(const std::string& name) {
  const std::optional<DType> t = dtype_from_name(name);
  if (t && std::find(std::begin(kWeightTypes), std::end(kWeightTypes), *t) != std::end(kWeightTypes)) return *t;
  return invalid_argument("--types: expected weight types among f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, "
                          "q2_k .. q6_k, found '" + name + "'");
}

// 64 KiB of pseudo-random bytes in [0x20, 0x3b], repeated.
void fill_pattern(uint8_t* p, size_t n) {
  constexpr size_t kTile = 64 << 10;
  uint32_t s = 12345;
  for (size_t i = 0; i < std::min(n, kTile); ++i) {
    s = s * 1664525u + 1013904223u;
    p[i] = static_cast<uint8_t>(0x20 + (s >> 24) % 28);
  }
  for (size_t i = kTile; i < n; i += kTile) std::memcpy(p + i, p, std::min(kTile, n - i));
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

// 64-byte aligned scratch.
struct Aligned {
  std::vector<uint8_t> bytes;
  explicit Aligned(size_t n) : bytes(n + 64) {}
  uint8_t* get() { return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(bytes.data()) + 63) / 64 * 64); }
};

// Best seconds per call of `once` over `reps` passes, each pass repeating it enough times to last
// kMinPassSeconds (calibrated on the warm-up call). `once(k)` runs the work k times.
template <typename Fn>
double best_seconds(int reps, Fn&& once) {
  double t0 = now_seconds();
  once(1);
  const double first = std::max(now_seconds() - t0, 1e-7);
  const int k = static_cast<int>(std::clamp(kMinPassSeconds / first, 1.0, 100000.0));
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    t0 = now_seconds();
    once(k);
    best = std::min(best, (now_seconds() - t0) / k);
  }
  return best;
}

// Products of T < kBlasMinTokens tokens on weights that stay in each thread's cache.
double time_small_product(DType type, int64_t n, int64_t T, ThreadPool& pool, int reps, double* flops) {
  const int nth = pool.size();
  const uint64_t rb = *row_bytes(type, static_cast<uint64_t>(n));
  const int64_t grain = kernels::matmul_row_grain(type, n, T);
  const int64_t rows_per_thread = std::max<int64_t>(grain, static_cast<int64_t>(kCacheBytesPerThread / rb) / grain * grain);
  const int64_t m = rows_per_thread * nth;
  TensorStorage w(type, {n, m});
  fill_pattern(w.mutable_data(), w.n_bytes());
  const TensorView W = w.view();

  std::vector<float> x = random_floats(static_cast<size_t>(T * n), 7);
  std::vector<float> y(static_cast<size_t>(T * m));
  kernels::MatmulArgs a;
  a.T = T;
  a.ldx = n;
  a.y = y.data();
  a.ldy = m;
  const kernels::ActRounding r = kernels::activation_rounding(type);
  Aligned xq(static_cast<size_t>(T) * kernels::q8_row_bytes(n));
  if (kernels::matmul_uses_q8(type, T)) {
    for (int64_t t = 0; t < T; ++t) kernels::quantize_q8(x.data() + t * n, n, xq.get() + t * kernels::q8_row_bytes(n), r);
    a.xq = xq.get();
    a.ldq = static_cast<int64_t>(kernels::q8_row_bytes(n));
  } else {
    kernels::round_activations(r, x.data(), T * n, x.data());
    a.x = x.data();
  }
  const size_t per_thread = (kernels::matmul_thread_work_size(type, n, T) + 63) / 64 * 64;
  Aligned scratch(per_thread * static_cast<size_t>(nth));
  *flops = 2.0 * static_cast<double>(T) * static_cast<double>(n) * static_cast<double>(m);
  return best_seconds(reps, [&](int k) {
    pool.run([&](int ith, int n_threads) {
      int64_t r0, r1;
      ThreadPool::split_range(m, grain, ith, n_threads, &r0, &r1);
      for (int i = 0; i < k && r0 < r1; ++i) kernels::matmul_rows(W, a, r0, r1, scratch.get() + ith * per_thread);
    });
  });
}

// Products of T >= kBlasMinTokens tokens through kernels::matmul on kLargeRows rows.
double time_large_product(DType type, int64_t n, int64_t T, ThreadPool& pool, int reps, double* flops) {
  TensorStorage w(type, {n, kLargeRows});
  fill_pattern(w.mutable_data(), w.n_bytes());
  std::vector<float> x = random_floats(static_cast<size_t>(T * n), 7);
  std::vector<float> y(static_cast<size_t>(T * kLargeRows));
  const size_t ws = kernels::matmul_work_size(type, n, T, pool.size());
  Aligned work(ws);
  *flops = 2.0 * static_cast<double>(T) * static_cast<double>(n) * static_cast<double>(kLargeRows);
  return best_seconds(reps, [&](int k) {
    for (int i = 0; i < k; ++i) kernels::matmul(w.view(), x.data(), T, y.data(), work.get(), ws, pool);
  });
}

// Causal attention of T query tokens after kAttentionPositions - T cached positions; flops as the
// cost model counts qk + softmax + sv.
double time_attention(int64_t n, int64_t T, ThreadPool& pool, int reps, double* flops) {
  kernels::AttentionShape shape;
  shape.head_dim = kAttentionHeadDim;
  shape.n_head = std::max<int64_t>(1, n / kAttentionHeadDim);
  shape.n_head_kv = shape.n_head % 8 == 0 ? shape.n_head / 8 : shape.n_head;
  const int64_t L = kAttentionPositions, pos0 = L - T, dkv = shape.n_head_kv * shape.head_dim;
  const int64_t dq = shape.n_head * shape.head_dim;
  std::vector<float> q = random_floats(static_cast<size_t>(T * dq), 1);
  std::vector<float> k = random_floats(static_cast<size_t>(L * dkv), 2);
  std::vector<float> v = random_floats(static_cast<size_t>(L * dkv), 3);
  std::vector<float> out(static_cast<size_t>(T * dq));
  // Scores: query t sees pos0 + t + 1 positions.
  const double scores = static_cast<double>(shape.n_head) * (static_cast<double>(T) * static_cast<double>(pos0) +
                                                             static_cast<double>(T) * static_cast<double>(T + 1) / 2.0);
  *flops = scores * (4.0 * static_cast<double>(shape.head_dim) + 5.0);
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  return best_seconds(reps, [&](int kk) {
    for (int i = 0; i < kk; ++i) {
      kernels::attention(q.data(), T, pos0, k.data(), v.data(), dkv, shape, scale, out.data(), pool);
    }
  });
}

// RMSNorm over in-cache rows split by thread: the "vector" roof (4 flops per element).
double time_vector(int64_t n, ThreadPool& pool, int reps, double* flops) {
  const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(kCacheBytesPerThread / 4 / sizeof(float)) / n) *
                       pool.size();
  std::vector<float> x = random_floats(static_cast<size_t>(rows * n), 4);
  std::vector<float> w = random_floats(static_cast<size_t>(n), 5);
  std::vector<float> y(x.size());
  *flops = 4.0 * static_cast<double>(rows) * static_cast<double>(n);
  return best_seconds(reps, [&](int k) {
    pool.run([&](int ith, int nth) {
      int64_t r0, r1;
      ThreadPool::split_range(rows, 1, ith, nth, &r0, &r1);
      for (int i = 0; i < k; ++i) {
        for (int64_t r = r0; r < r1; ++r) kernels::rmsnorm(x.data() + r * n, w.data(), 1e-5f, n, y.data() + r * n);
      }
    });
  });
}

// The decode GEMV over `bytes` of weights: bytes streamed per second.
double stream_gb_s(DType type, int64_t n, uint64_t bytes, ThreadPool& pool, int reps) {
  const uint64_t rb = *row_bytes(type, static_cast<uint64_t>(n));
  const int64_t m = std::max<int64_t>(16, static_cast<int64_t>(bytes / rb) / 16 * 16);
  TensorStorage w(type, {n, m});
  fill_pattern(w.mutable_data(), w.n_bytes());
  std::vector<float> x = random_floats(static_cast<size_t>(n), 7);
  std::vector<float> y(static_cast<size_t>(m));
  const size_t ws = kernels::matmul_work_size(type, n, 1, pool.size());
  Aligned work(ws);
  const double s = best_seconds(reps, [&](int k) {
    for (int i = 0; i < k; ++i) kernels::matmul(w.view(), x.data(), 1, y.data(), work.get(), ws, pool);
  });
  return static_cast<double>(w.n_bytes()) / s / 1e9;
}

// The options' types and thread counts, checked.
Status resolve(const ComputeOptions& o, std::vector<DType>* types, std::vector<int>* threads) {
  if (o.n < 256 || o.n % 256 != 0) {
    return invalid_argument(str_printf("compute row length: expected a positive multiple of 256, found %lld",
                                       static_cast<long long>(o.n)));
  }
  if (o.repetitions < 1) return invalid_argument("compute repetitions: expected at least 1");
  for (const std::string& name : o.types) {
    MNEMO_ASSIGN_OR_RETURN(DType t, weight_type(name));
    types->push_back(t);
  }
  *threads = o.threads;
  if (threads->empty()) {
    const int n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int t = 1; t <= n; ++t) threads->push_back(t);
  }
  for (int t : *threads) {
    if (t < 1) return invalid_argument(str_printf("compute threads: expected positive counts, found %d", t));
  }
  return Status::ok();
}

}  // namespace

Expected<std::vector<BandwidthFigure>> measure_streaming(const ComputeOptions& o) {
  std::vector<DType> types;
  std::vector<int> threads;
  MNEMO_RETURN_IF_ERROR(resolve(o, &types, &threads));
  if (o.stream_bytes < (1u << 20)) return invalid_argument("streaming weights: expected at least 1 MiB");
  std::vector<BandwidthFigure> out;
  for (int nt : threads) {
    ThreadPool pool(nt);
    for (DType type : types) {
      out.push_back({nt, stream_gb_s(type, o.n, o.stream_bytes, pool, o.repetitions), std::string(dtype_name(type))});
    }
  }
  return out;
}

Expected<std::vector<ComputeFigure>> measure_compute(const ComputeOptions& o) {
  std::vector<DType> types;
  std::vector<int> threads;
  MNEMO_RETURN_IF_ERROR(resolve(o, &types, &threads));
  for (int64_t b : o.batches) {
    if (b < 1 || b > 65536) {
      return invalid_argument(str_printf("--batches: expected tokens in [1, 65536], found %lld", static_cast<long long>(b)));
    }
  }
  std::vector<ComputeFigure> out;
  for (int nt : threads) {
    ThreadPool pool(nt);
    for (DType type : types) {
      for (int64_t T : o.batches) {
        double flops = 0;
        const double s = T < kernels::kBlasMinTokens ? time_small_product(type, o.n, T, pool, o.repetitions, &flops)
                                                     : time_large_product(type, o.n, T, pool, o.repetitions, &flops);
        out.push_back({std::string(dtype_name(type)), T, nt, flops / s / 1e9});
      }
    }
    if (o.attention) {
      for (int64_t T : {int64_t{1}, kAttentionPositions}) {
        double flops = 0;
        const double s = time_attention(o.n, T, pool, o.repetitions, &flops);
        out.push_back({"attention", T, nt, flops / s / 1e9});
      }
      double flops = 0;
      const double s = time_vector(o.n, pool, o.repetitions, &flops);
      out.push_back({"vector", 1, nt, flops / s / 1e9});
    }
  }
  return out;
}

HardwareProfile measured_hardware_profile(const std::string& name, const std::vector<BandwidthPoint>& bandwidth,
                                          const BandwidthOptions& bo, std::vector<ComputeFigure> compute,
                                          std::vector<BandwidthFigure> streaming, const ComputeOptions& co) {
  HardwareProfile p;
  p.name = name;
  for (const BandwidthPoint& b : bandwidth) p.bandwidth.push_back({b.threads, b.best_gb_s, ""});
  for (BandwidthFigure& b : streaming) p.bandwidth.push_back(std::move(b));
  p.compute = std::move(compute);
  p.source = str_printf("measured by mnemo hw (kernels: %s)", kernels::active_target());
  p.notes = str_printf("bandwidth: best of %d reads of %s; per weight type: the decode GEMV streaming %s of weights; "
                       "compute: best of %d timed passes of mnemo's kernels, products below %lld tokens on weights in "
                       "each core's L2, from %lld tokens on %lld x %lld matrices",
                       bo.repetitions, format_bytes(bo.buffer_bytes).c_str(), format_bytes(co.stream_bytes).c_str(),
                       co.repetitions,
                       static_cast<long long>(kernels::kBlasMinTokens), static_cast<long long>(kernels::kBlasMinTokens),
                       static_cast<long long>(kLargeRows), static_cast<long long>(co.n));
  return p;
}

Expected<HardwareProfile> measure_hardware_profile(const std::string& name, const BandwidthOptions& bandwidth,
                                                   const ComputeOptions& compute) {
  MNEMO_ASSIGN_OR_RETURN(std::vector<BandwidthPoint> bw, measure_read_bandwidth(bandwidth));
  MNEMO_ASSIGN_OR_RETURN(std::vector<ComputeFigure> figures, measure_compute(compute));
  MNEMO_ASSIGN_OR_RETURN(std::vector<BandwidthFigure> streaming, measure_streaming(compute));
  return measured_hardware_profile(name, bw, bandwidth, std::move(figures), std::move(streaming), compute);
}

}  // namespace mnemo
