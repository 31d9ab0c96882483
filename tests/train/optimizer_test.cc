// Optimizer state bytes equal their formulas; GaLore's projections are orthonormal and its update
// stays in the projected subspace; AdamW's first step matches its closed form.
#include <gtest/gtest.h>

#include <cmath>

#include "base/thread_pool.h"
#include "train/optimizer.h"
#include "train/setup.h"
#include "train_run_util.h"

namespace mnemo::train {
namespace {

TrainShape stories_shape() {
  TrainShape s;
  s.n_vocab = 512;
  s.n_embd = 256;
  s.n_layer = 8;
  s.n_head = 8;
  s.n_head_kv = 4;
  s.n_ff = 768;
  s.n_ctx = 1024;
  return s;
}

TEST(TrainOptimizer, StateBytesEqualTheFormulas) {
  const TrainShape s = stories_shape();
  const ParamLayout layout = ParamLayout::build(s);
  OptimizerSettings o;
  auto adamw = Optimizer::create(o, layout, 2, "t");
  ASSERT_TRUE(adamw.has_value());
  EXPECT_EQ((*adamw)->state_bytes(), 2ull * 4 * static_cast<uint64_t>(layout.n_params()));
  EXPECT_EQ((*adamw)->state_bytes(), optimizer_state_bytes(o, layout));
  for (const char* proj : {"reverse_std", "std"}) {
    for (int64_t r : {32, 64, 128}) {
      o.type = "galore";
      o.rank = r;
      o.proj_type = proj;
      auto g = Optimizer::create(o, layout, 2, "t");
      ASSERT_TRUE(g.has_value()) << g.status().message();
      // Per projected m x n matrix with m >= n (m, n its larger and smaller sides):
      // reverse_std: m r + 2 n r; std: n r + 2 m r. Everything else: AdamW, 2 floats each.
      uint64_t want = 0, matrices = 0;
      for (const ParamInfo& t : layout.tensors()) {
        const uint64_t m = static_cast<uint64_t>(std::max(t.rows, t.cols)), n = static_cast<uint64_t>(std::min(t.rows, t.cols));
        if (galore_target(t)) {
          want += std::string(proj) == "reverse_std" ? m * r + 2 * n * r : n * r + 2 * m * r;
          ++matrices;
        } else {
          want += 2 * static_cast<uint64_t>(t.numel());
        }
      }
      EXPECT_EQ(matrices, 7u * 8u);
      EXPECT_EQ((*g)->state_bytes(), 4 * want) << proj << " rank " << r;
      EXPECT_EQ(optimizer_state_bytes(o, layout), 4 * want);
      // Each projected matrix's own state, from the state list.
      for (const StateTensor& st : (*g)->state()) {
        const bool rev = std::string(proj) == "reverse_std";
        if (st.name == "blk.0.ffn_gate.weight.P") {
          EXPECT_EQ(st.n, rev ? 768 * r : 256 * r);
        }
        if (st.name == "blk.0.ffn_gate.weight.m") {
          EXPECT_EQ(st.n, rev ? 256 * r : 768 * r);
        }
        if (st.name == "blk.0.attn_k.weight.P") {
          EXPECT_EQ(st.n, rev ? 256 * r : 128 * r);
        }
      }
    }
  }
  // Rank 64 on the committed model: the matrices' state is a third of AdamW's.
  o.rank = 64;
  o.proj_type = "reverse_std";
  EXPECT_LT(optimizer_state_bytes(o, layout), (*adamw)->state_bytes() / 2);
}

TEST(TrainOptimizer, GaloreUpdateLiesInTheProjectedSubspace) {
  TrainShape s = test::tiny_shape();
  const ParamLayout layout = ParamLayout::build(s);
  OptimizerSettings o;
  o.type = "galore";
  o.rank = 4;
  o.weight_decay = 0.0f;
  o.grad_clip = 0.0f;
  auto g = Optimizer::create(o, layout, 1, "t");
  ASSERT_TRUE(g.has_value());
  std::vector<float> p(static_cast<size_t>(layout.n_params()), 0.0f), grad(p.size());
  Rng rng(3);
  for (auto& x : grad) x = static_cast<float>(rng.normal());
  ThreadPool pool(1);
  ASSERT_TRUE((*g)->step(p.data(), grad.data(), 1e-2f, pool).has_value());
  // blk.0.ffn_gate (44 x 32, tall): reverse_std projects the left side: P = U[:, :4] (44 x 4), and
  // the update P N has rank <= 4 with columns in span(P).
  const ParamInfo* t = layout.find("blk.0.ffn_gate.weight");
  const float* P = nullptr;
  for (const StateTensor& st : (*g)->state()) {
    if (st.name == "blk.0.ffn_gate.weight.P") P = st.data;
  }
  ASSERT_NE(P, nullptr);
  const int64_t m = t->rows, n = t->cols, r = 4;
  // Orthonormal columns.
  for (int64_t a = 0; a < r; ++a) {
    for (int64_t b = 0; b < r; ++b) {
      double dot = 0;
      for (int64_t i = 0; i < m; ++i) dot += static_cast<double>(P[i * r + a]) * P[i * r + b];
      EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-5);
    }
  }
  // (I - P P^T) W = 0 for the update W (the parameters started at 0).
  const float* W = p.data() + t->offset;
  double resid = 0, total = 0;
  for (int64_t j = 0; j < n; ++j) {
    std::vector<double> c(static_cast<size_t>(r), 0.0);
    for (int64_t a = 0; a < r; ++a) {
      for (int64_t i = 0; i < m; ++i) c[static_cast<size_t>(a)] += static_cast<double>(P[i * r + a]) * W[i * n + j];
    }
    for (int64_t i = 0; i < m; ++i) {
      double proj = 0;
      for (int64_t a = 0; a < r; ++a) proj += static_cast<double>(P[i * r + a]) * c[static_cast<size_t>(a)];
      resid += (W[i * n + j] - proj) * (W[i * n + j] - proj);
      total += static_cast<double>(W[i * n + j]) * W[i * n + j];
    }
  }
  EXPECT_GT(total, 0.0);
  EXPECT_LT(std::sqrt(resid / total), 1e-5);
}

TEST(TrainOptimizer, AdamWFirstStepIsSignTimesLr) {
  // After one step from zero moments, m / (sqrt(v) / sqrt(bc2)) = g / |g|: p -= lr sign(g) (up to eps).
  TrainShape s = test::tiny_shape();
  const ParamLayout layout = ParamLayout::build(s);
  OptimizerSettings o;
  o.weight_decay = 0.0f;
  o.grad_clip = 0.0f;
  auto a = Optimizer::create(o, layout, 2, "t");
  ASSERT_TRUE(a.has_value());
  std::vector<float> p(static_cast<size_t>(layout.n_params()), 1.0f), g(p.size());
  Rng rng(4);
  for (auto& x : g) x = static_cast<float>(rng.normal());
  ThreadPool pool(2);
  ASSERT_TRUE((*a)->step(p.data(), g.data(), 0.01f, pool).has_value());
  for (size_t i = 0; i < p.size(); i += 97) EXPECT_NEAR(p[i], 1.0f - 0.01f * (g[i] > 0 ? 1.0f : -1.0f), 1e-6) << i;
}

TEST(TrainOptimizer, GlobalNormDoesNotDependOnThreads) {
  std::vector<float> x(100003);
  Rng rng(5);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  ThreadPool p1(1, ThreadPool::kExact), p2(2, ThreadPool::kExact), p3(3, ThreadPool::kExact);
  const double a = global_norm(x.data(), static_cast<int64_t>(x.size()), p1);
  EXPECT_EQ(a, global_norm(x.data(), static_cast<int64_t>(x.size()), p2));
  EXPECT_EQ(a, global_norm(x.data(), static_cast<int64_t>(x.size()), p3));
}

TEST(TrainOptimizer, EstimateEqualsWhatTheRunAllocates) {
  const std::string dir = mnemo::test::temp_dir();
  for (const char* type : {"adamw", "galore"}) {
    nlohmann::json j = test::tiny_config(dir);
    j["steps"] = 2;
    j["optimizer"] = {{"type", type}, {"galore", {{"rank", 8}}}};
    const TrainConfig c = test::config_from(j);
    auto e = estimate_train_memory(c);
    ASSERT_TRUE(e.has_value()) << e.status().message();
    auto r = run_training(c);
    ASSERT_TRUE(r.has_value()) << r.status().message();
    EXPECT_EQ(e->parameters, r->allocated.parameters) << type;
    EXPECT_EQ(e->gradients, r->allocated.gradients) << type;
    EXPECT_EQ(e->optimizer, r->allocated.optimizer) << type;
    EXPECT_EQ(e->activations, r->allocated.activations) << type;
    EXPECT_EQ(e->data, r->allocated.data) << type;
  }
}

}  // namespace
}  // namespace mnemo::train
