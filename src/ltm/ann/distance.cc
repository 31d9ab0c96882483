// Highway per-target code: this file is compiled once per SIMD target (foreach_target.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ltm/ann/distance.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "ltm/ann/distance.h"

HWY_BEFORE_NAMESPACE();
namespace mnemo::ltm::ann {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE float L2SqOne(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, size_t dim) {
  const hn::ScalableTag<float> d;
  const size_t n = hn::Lanes(d);
  auto s0 = hn::Zero(d);
  auto s1 = hn::Zero(d);
  auto s2 = hn::Zero(d);
  auto s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * n <= dim; i += 4 * n) {
    const auto d0 = hn::Sub(hn::LoadU(d, a + i), hn::LoadU(d, b + i));
    const auto d1 = hn::Sub(hn::LoadU(d, a + i + n), hn::LoadU(d, b + i + n));
    const auto d2 = hn::Sub(hn::LoadU(d, a + i + 2 * n), hn::LoadU(d, b + i + 2 * n));
    const auto d3 = hn::Sub(hn::LoadU(d, a + i + 3 * n), hn::LoadU(d, b + i + 3 * n));
    s0 = hn::MulAdd(d0, d0, s0);
    s1 = hn::MulAdd(d1, d1, s1);
    s2 = hn::MulAdd(d2, d2, s2);
    s3 = hn::MulAdd(d3, d3, s3);
  }
  for (; i + n <= dim; i += n) {
    const auto d0 = hn::Sub(hn::LoadU(d, a + i), hn::LoadU(d, b + i));
    s0 = hn::MulAdd(d0, d0, s0);
  }
  s0 = hn::Add(hn::Add(s0, s1), hn::Add(s2, s3));
  float sum = hn::GetLane(hn::SumOfLanes(d, s0));
  for (; i < dim; ++i) {
    const float t = a[i] - b[i];
    sum += t * t;
  }
  return sum;
}

float L2Sq(const float* a, const float* b, size_t dim) { return L2SqOne(a, b, dim); }

void L2SqBatch(const float* q, const float* base, size_t stride, size_t n, size_t dim, float* out) {
  for (size_t j = 0; j < n; ++j) out[j] = L2SqOne(q, base + j * stride, dim);
}

}  // namespace HWY_NAMESPACE
}  // namespace mnemo::ltm::ann
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <vector>

namespace mnemo::ltm::ann {

HWY_EXPORT(L2Sq);
HWY_EXPORT(L2SqBatch);

float l2_sq(const float* a, const float* b, size_t dim) { return HWY_DYNAMIC_DISPATCH(L2Sq)(a, b, dim); }

void l2_sq_batch(const float* q, const float* base, size_t stride_floats, size_t n, size_t dim,
                 float* out) {
  HWY_DYNAMIC_DISPATCH(L2SqBatch)(q, base, stride_floats, n, dim, out);
}

float l2_sq_reference(const float* a, const float* b, size_t dim) {
  double sum = 0.0;
  for (size_t i = 0; i < dim; ++i) {
    const double t = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    sum += t * t;
  }
  return static_cast<float>(sum);
}

const char* distance_target_name() {
  // Lower bits are better targets; dispatch picks the best one that is supported and compiled.
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  return targets.empty() ? "none" : hwy::TargetName(targets.front());
}

}  // namespace mnemo::ltm::ann
#endif  // HWY_ONCE
