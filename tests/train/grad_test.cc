// The backward pass against finite differences of the forward pass, for every tensor: the
// derivative of the loss along a direction u restricted to one tensor, (L(p + h u) - L(p - h u)) /
// 2h, must equal <grad, u>. Two directions per tensor: the gradient itself (the largest signal)
// and a random one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "base/thread_pool.h"
#include "train/graph.h"
#include "train/rng.h"
#include "train_test_util.h"

namespace mnemo::train {
namespace {

void check_tensors(const TrainShape& s, int64_t B, int64_t T) {
  const ParamLayout layout = ParamLayout::build(s);
  const int64_t n = layout.n_params(), N = B * T;
  const uint64_t seed = mnemo::test::test_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::vector<float> p(static_cast<size_t>(n));
  init_params(s, layout, 0.15f, seed, p.data());
  // Norm weights away from 1 so that their gradients are not special.
  Rng rng(seed + 7);
  for (const ParamInfo& t : layout.tensors()) {
    if (t.kind == ParamKind::kNorm) {
      for (int64_t i = 0; i < t.numel(); ++i) p[static_cast<size_t>(t.offset + i)] = 1.0f + 0.2f * static_cast<float>(rng.normal());
    }
  }
  const auto in = test::random_tokens(N, s.n_vocab, seed + 1);
  const auto tg = test::random_tokens(N, s.n_vocab, seed + 2);
  ThreadPool pool(2);
  TrainGraph g(s, layout, B, T, &pool);
  std::vector<float> grad(static_cast<size_t>(n));
  g.forward(p.data(), in.data(), tg.data(), 1.0f / static_cast<float>(N));
  g.backward(p.data(), grad.data());
  auto loss_at = [&](const std::vector<float>& u, const ParamInfo& t, double h) {
    std::vector<float> q = p;
    for (int64_t i = 0; i < t.numel(); ++i) q[static_cast<size_t>(t.offset + i)] += static_cast<float>(h * u[static_cast<size_t>(i)]);
    return g.forward(q.data(), in.data(), tg.data(), 0.0f);
  };
  double worst = 0.0;
  for (const ParamInfo& t : layout.tensors()) {
    const float* gt = grad.data() + t.offset;
    double gnorm = 0.0;
    for (int64_t i = 0; i < t.numel(); ++i) gnorm += static_cast<double>(gt[i]) * gt[i];
    gnorm = std::sqrt(gnorm);
    ASSERT_GT(gnorm, 0.0) << t.name;
    for (int dir = 0; dir < 2; ++dir) {
      std::vector<float> u(static_cast<size_t>(t.numel()));
      double unorm = 0.0;
      for (int64_t i = 0; i < t.numel(); ++i) {
        u[static_cast<size_t>(i)] = dir == 0 ? gt[i] : static_cast<float>(rng.normal());
        unorm += static_cast<double>(u[static_cast<size_t>(i)]) * u[static_cast<size_t>(i)];
      }
      unorm = std::sqrt(unorm);
      for (auto& x : u) x = static_cast<float>(x / unorm);
      double analytic = 0.0;
      for (int64_t i = 0; i < t.numel(); ++i) analytic += static_cast<double>(gt[i]) * u[static_cast<size_t>(i)];
      const double h = 1e-2;
      const double fd = (loss_at(u, t, h) - loss_at(u, t, -h)) / (2.0 * h);
      // Relative to |grad| (the largest derivative along any unit direction in this tensor).
      const double err = std::fabs(fd - analytic) / gnorm;
      worst = std::max(worst, err);
      EXPECT_LE(err, 1e-2) << t.name << (dir == 0 ? " along its gradient" : " along a random direction")
                           << ": finite difference " << fd << ", backward " << analytic;
    }
  }
  std::printf("worst |fd - <g,u>| / |g| over %zu tensors: %.2e\n", layout.tensors().size(), worst);
}

TEST(TrainGrad, EveryTensorMatchesFiniteDifferences) {
  // T above one attention tile (64 queries), GQA, untied head.
  check_tensors(test::tiny_shape(false), 2, 70);
}

TEST(TrainGrad, TiedHeadMatchesFiniteDifferences) { check_tensors(test::tiny_shape(true), 3, 16); }

TEST(TrainGrad, MultiQueryAttentionMatchesFiniteDifferences) {
  TrainShape s = test::tiny_shape(false);
  s.n_head_kv = 1;
  check_tensors(s, 2, 20);
}

}  // namespace
}  // namespace mnemo::train
