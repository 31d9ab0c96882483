#include "compress/awq.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/check.h"
#include "compress/ggml_quantize.h"
#include "kernels/kernels.h"

namespace mnemo::compress {

double awq_output_error(const AwqTensor& t, int64_t n, const std::vector<float>& s, const float* X, int64_t rows,
                        ThreadPool& pool) {
  const uint64_t rb = *row_bytes(t.type, static_cast<uint64_t>(n));
  std::vector<float> err(static_cast<size_t>(t.m * n));
  const int nth = pool.size();
  std::vector<std::vector<float>> scaled(static_cast<size_t>(nth), std::vector<float>(static_cast<size_t>(n)));
  std::vector<std::vector<uint8_t>> q(static_cast<size_t>(nth), std::vector<uint8_t>(rb));
  // E = Q(W diag(s)) diag(s)^-1 - W, row by row.
  pool.run([&](int ith, int nth_run) {
    int64_t r0, r1;
    ThreadPool::split_range(t.m, 1, ith, nth_run, &r0, &r1);
    float* sc = scaled[static_cast<size_t>(ith)].data();
    uint8_t* qb = q[static_cast<size_t>(ith)].data();
    for (int64_t r = r0; r < r1; ++r) {
      const float* w = t.w + r * n;
      for (int64_t j = 0; j < n; ++j) sc[j] = s.empty() ? w[j] : w[j] * s[static_cast<size_t>(j)];
      MNEMO_CHECK(quantize_row(t.type, sc, qb, n).is_ok());
      float* e = err.data() + r * n;
      kernels::dequantize_row(t.type, qb, e, n);
      for (int64_t j = 0; j < n; ++j) e[j] = (s.empty() ? e[j] : e[j] / s[static_cast<size_t>(j)]) - w[j];
    }
  });
  TensorView ev;
  ev.type = DType::F32;
  ev.n_dims = 2;
  ev.ne[0] = n;
  ev.ne[1] = t.m;
  ev.data = err.data();
  std::vector<float> y(static_cast<size_t>(rows * t.m));
  std::vector<uint8_t> work(kernels::matmul_work_size(DType::F32, n, rows, pool.size()) + 64);
  kernels::matmul(ev, X, rows, y.data(), work.data(), work.size(), pool);
  double loss = 0.0;
  for (float v : y) loss += static_cast<double>(v) * v;
  return loss;
}

AwqResult awq_search(const std::vector<AwqTensor>& tensors, int64_t n, const float* X, int64_t rows,
                     const std::vector<double>& abs_mean, ThreadPool& pool) {
  AwqResult best;
  best.loss = std::numeric_limits<double>::infinity();
  constexpr int kGrid = 20;
  for (int gi = 0; gi < kGrid; ++gi) {
    const double alpha = static_cast<double>(gi) / kGrid;
    std::vector<float> s;
    if (gi > 0) {
      std::vector<double> p(static_cast<size_t>(n));
      double mx = 0.0, mn = std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < n; ++j) {
        p[static_cast<size_t>(j)] = std::pow(std::max(abs_mean[static_cast<size_t>(j)], 1e-4), alpha);
        mx = std::max(mx, p[static_cast<size_t>(j)]);
        mn = std::min(mn, p[static_cast<size_t>(j)]);
      }
      const double norm = std::sqrt(mx * mn);
      s.resize(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) s[static_cast<size_t>(j)] = static_cast<float>(p[static_cast<size_t>(j)] / norm);
    }
    double loss = 0.0;
    for (const AwqTensor& t : tensors) loss += awq_output_error(t, n, s, X, rows, pool);
    if (gi == 0) best.loss_unscaled = loss;
    if (loss < best.loss) {
      best.loss = loss;
      best.alpha = alpha;
      best.s = s.empty() ? std::vector<float>(static_cast<size_t>(n), 1.0f) : s;
    }
  }
  return best;
}

}  // namespace mnemo::compress
