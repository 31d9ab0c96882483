// time_decode_kernel (include/mnemo/quantize.h): the decode (one-token) matrix-vector product of a
// weight type on a seeded random matrix, through kernels::matmul (the path the forward pass takes),
// or for bipolar types with another activation precision, through bipolar_gemv.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "base/check.h"
#include "compress/ggml_quantize.h"
#include "compress/model_quantizer.h"
#include "kernels/kernels.h"
#include "kernels/mnemo_formats.h"
#include "kernels/mnemo_types.h"
#include "mnemo/quantize.h"

namespace mnemo {

Expected<KernelTiming> time_decode_kernel(const std::string& type, int group, int64_t n, int64_t m, int n_threads,
                                          int reps, int act_bits) {
  MNEMO_ASSIGN_OR_RETURN(compress::TypeSpec spec, compress::parse_type(type, group, n));
  if (n <= 0 || m <= 0 || n % static_cast<int64_t>(traits(spec.dtype).block_elems) != 0) {
    return invalid_argument("time_decode_kernel: n must be a positive multiple of the type's block");
  }
  if (act_bits < 1 || act_bits > 8) return invalid_argument("--act-bits: expected 1..8");
  ThreadPool pool(n_threads);
  const uint64_t rb = *row_bytes(spec.dtype, static_cast<uint64_t>(n));
  std::vector<uint8_t> wbytes(rb * static_cast<uint64_t>(m) + 64);
  uint8_t* wdata = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(wbytes.data()) + 63) / 64 * 64);
  // Weights ~ N(0, 1/n), one seeded stream per row so any thread count gives the same matrix.
  pool.run([&](int ith, int nth) {
    int64_t r0, r1;
    ThreadPool::split_range(m, 1, ith, nth, &r0, &r1);
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      std::mt19937_64 rng(0x5eed0000ull + static_cast<uint64_t>(r));
      std::normal_distribution<float> nd(0.0f, 1.0f / std::sqrt(static_cast<float>(n)));
      for (float& v : row) v = nd(rng);
      MNEMO_CHECK(quantize_row(spec.dtype, row.data(), wdata + static_cast<uint64_t>(r) * rb, n).is_ok());
    }
  });
  TensorView W;
  W.type = spec.dtype;
  W.n_dims = 2;
  W.ne[0] = n;
  W.ne[1] = m;
  W.data = wdata;
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(m));
  std::mt19937_64 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float& v : x) v = nd(rng);

  const bool custom_bipolar = mformat::bipolar_bits(spec.dtype) > 0 && act_bits != kernels::kBipolarModelActBits;
  std::vector<uint8_t> work(kernels::matmul_work_size(spec.dtype, n, 1, pool.size()) + 64);
  std::vector<uint8_t> act(custom_bipolar ? kernels::bipolar_act_bytes(n, act_bits) : 0);
  auto once = [&] {
    if (custom_bipolar) {
      kernels::bipolar_quantize_act(x.data(), n, act_bits, act.data());
      pool.run([&](int ith, int nth) {
        int64_t r0, r1;
        ThreadPool::split_range(m, 16, ith, nth, &r0, &r1);
        kernels::bipolar_gemv(W, act.data(), act_bits, y.data() + r0, r0, r1);
      });
    } else {
      kernels::matmul(W, x.data(), 1, y.data(), work.data(), work.size(), pool);
    }
  };
  once();
  std::vector<double> t(static_cast<size_t>(std::max(1, reps)));
  for (double& s : t) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(t.begin(), t.end());
  KernelTiming k;
  k.type = std::string(dtype_name(spec.dtype));
  k.seconds = t[t.size() / 2];
  k.gbytes_per_s = static_cast<double>(rb) * static_cast<double>(m) / k.seconds / 1e9;
  k.bpw = 8.0 * static_cast<double>(rb) / static_cast<double>(n);
  return k;
}

}  // namespace mnemo
