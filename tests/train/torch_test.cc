// The training layer against PyTorch (tests/train/torch_llama.py, run by /usr/bin/python3 beside
// the test): logits, loss, every gradient, and 10 optimizer steps on small random models, per
// tensor ||a - b|| / ||b|| <= 1e-4. Skipped when torch cannot be imported.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "train/graph.h"
#include "train/optimizer.h"
#include "train/schedule.h"
#include "train_test_util.h"

namespace mnemo::train {
namespace {

using test::read_raw;
using test::rel_err;
using test::write_raw;

constexpr double kTol = 1e-4;

struct Case {
  const char* name;
  bool tied;
  OptimizerSettings opt;
  int64_t B, T;
};

OptimizerSettings adamw() {
  OptimizerSettings o;
  o.beta1 = 0.9f;
  o.beta2 = 0.95f;
  o.eps = 1e-8f;
  o.weight_decay = 0.1f;
  o.grad_clip = 1.0f;
  return o;
}

OptimizerSettings galore(const char* proj) {
  OptimizerSettings o = adamw();
  o.type = "galore";
  o.rank = 8;
  o.update_interval = 4;
  o.scale = 0.25f;
  o.proj_type = proj;
  return o;
}

void run_case(const Case& c) {
  const TrainShape s = test::tiny_shape(c.tied);
  const ParamLayout layout = ParamLayout::build(s);
  const int64_t n = layout.n_params(), B = c.B, T = c.T, N = B * T, V = s.n_vocab;
  constexpr int64_t kSteps = 10;
  const uint64_t seed = mnemo::test::test_seed();
  SCOPED_TRACE(testing::Message() << c.name << " seed " << seed);
  std::vector<float> params(static_cast<size_t>(n));
  init_params(s, layout, 0.2f, seed, params.data());
  const std::vector<int32_t> inputs = test::random_tokens(kSteps * N, V, seed + 1);
  const std::vector<int32_t> targets = test::random_tokens(kSteps * N, V, seed + 2);
  LrSchedule sched;
  sched.max_lr = 3e-3;
  sched.min_lr = 3e-4;
  sched.warmup = 3;
  sched.total = kSteps;

  const std::string dir = mnemo::test::temp_dir();
  nlohmann::json cfg;
  cfg["n_vocab"] = s.n_vocab;
  cfg["n_embd"] = s.n_embd;
  cfg["n_layer"] = s.n_layer;
  cfg["n_head"] = s.n_head;
  cfg["n_head_kv"] = s.n_head_kv;
  cfg["rms_eps"] = s.rms_eps;
  cfg["rope_base"] = s.rope_base;
  cfg["tied_output"] = s.tied_output;
  cfg["n_params"] = n;
  cfg["B"] = B;
  cfg["T"] = T;
  cfg["steps"] = kSteps;
  cfg["threads"] = 1;
  for (const ParamInfo& t : layout.tensors()) {
    cfg["tensors"].push_back(
        {{"name", t.name}, {"rows", t.rows}, {"cols", t.cols}, {"offset", t.offset}, {"matrix", t.is_matrix()}});
  }
  const OptimizerSettings& o = c.opt;
  cfg["optimizer"] = {{"type", o.type},       {"beta1", o.beta1},   {"beta2", o.beta2},
                      {"eps", o.eps},         {"weight_decay", o.weight_decay}, {"grad_clip", o.grad_clip},
                      {"rank", o.rank},       {"update_interval", o.update_interval},
                      {"scale", o.scale},     {"proj_type", o.proj_type}};
  cfg["schedule"] = {{"max", sched.max_lr}, {"min", sched.min_lr}, {"warmup", sched.warmup}, {"total", sched.total}};
  {
    std::ofstream f(dir + "/config.json");
    f << cfg.dump();
  }
  write_raw(dir + "/params.f32", params);
  write_raw(dir + "/inputs.i32", inputs);
  write_raw(dir + "/targets.i32", targets);
  auto r = mnemo::test::run_process({"/usr/bin/python3", test::torch_script(), dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ref_logits = read_raw<float>(dir + "/logits.f32");
  const auto ref_grads = read_raw<float>(dir + "/grads.f32");
  const auto ref_losses = read_raw<double>(dir + "/losses.f64");
  const auto ref_final = read_raw<float>(dir + "/params_final.f32");
  ASSERT_EQ(ref_logits.size(), static_cast<size_t>(N * V));
  ASSERT_EQ(ref_grads.size(), static_cast<size_t>(n));
  ASSERT_EQ(ref_losses.size(), static_cast<size_t>(kSteps));
  ASSERT_EQ(ref_final.size(), static_cast<size_t>(n));

  ThreadPool pool(2);
  TrainGraph g(s, layout, B, T, &pool);
  // Logits and loss.
  const double loss0 = g.forward(params.data(), inputs.data(), targets.data(), 0.0f);
  const double logits_err = rel_err(g.logits(), ref_logits.data(), N * V);
  EXPECT_LE(logits_err, kTol) << "logits";
  EXPECT_NEAR(loss0, ref_losses[0], kTol * ref_losses[0]);
  // Gradients, per tensor.
  std::vector<float> grads(static_cast<size_t>(n));
  g.forward(params.data(), inputs.data(), targets.data(), 1.0f / static_cast<float>(N));
  g.backward(params.data(), grads.data());
  double worst_grad = 0.0;
  for (const ParamInfo& t : layout.tensors()) {
    const double e = rel_err(grads.data() + t.offset, ref_grads.data() + t.offset, t.numel());
    worst_grad = std::max(worst_grad, e);
    EXPECT_LE(e, kTol) << "gradient of " << t.name;
  }
  // The optimizer steps.
  auto opt = Optimizer::create(o, layout, pool.size(), "test");
  ASSERT_TRUE(opt.has_value()) << opt.status().message();
  std::vector<float> p = params;
  for (int64_t step = 0; step < kSteps; ++step) {
    std::fill(grads.begin(), grads.end(), 0.0f);
    const double loss = g.forward(p.data(), inputs.data() + step * N, targets.data() + step * N,
                                  1.0f / static_cast<float>(N));
    EXPECT_NEAR(loss, ref_losses[static_cast<size_t>(step)], kTol * ref_losses[static_cast<size_t>(step)])
        << "loss at step " << step;
    g.backward(p.data(), grads.data());
    auto norm = (*opt)->step(p.data(), grads.data(), static_cast<float>(sched.at(step)), pool);
    ASSERT_TRUE(norm.has_value()) << norm.status().message();
  }
  double worst_param = 0.0, worst_update = 0.0;
  for (const ParamInfo& t : layout.tensors()) {
    const double e = rel_err(p.data() + t.offset, ref_final.data() + t.offset, t.numel());
    worst_param = std::max(worst_param, e);
    EXPECT_LE(e, kTol) << "parameters of " << t.name << " after " << kSteps << " steps";
    // The change made by the 10 steps, a stricter view than the parameters themselves.
    std::vector<float> dm(static_cast<size_t>(t.numel())), dr(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) {
      dm[static_cast<size_t>(i)] = p[static_cast<size_t>(t.offset + i)] - params[static_cast<size_t>(t.offset + i)];
      dr[static_cast<size_t>(i)] = ref_final[static_cast<size_t>(t.offset + i)] - params[static_cast<size_t>(t.offset + i)];
    }
    const double eu = rel_err(dm.data(), dr.data(), t.numel());
    worst_update = std::max(worst_update, eu);
    EXPECT_LE(eu, 1e-3) << "update of " << t.name;
  }
  std::printf("%s: logits %.2e, worst gradient %.2e, worst parameters after %lld steps %.2e (update %.2e)\n", c.name,
              logits_err, worst_grad, static_cast<long long>(kSteps), worst_param,
              worst_update);
}

TEST(TrainTorch, AdamWUntied) {
  MNEMO_REQUIRE_TORCH();
  run_case({"adamw", false, adamw(), 2, 80});
}

TEST(TrainTorch, AdamWTied) {
  MNEMO_REQUIRE_TORCH();
  run_case({"adamw tied", true, adamw(), 3, 20});
}

TEST(TrainTorch, GaloreReverseStd) {
  MNEMO_REQUIRE_TORCH();
  run_case({"galore reverse_std", false, galore("reverse_std"), 2, 80});
}

TEST(TrainTorch, GaloreStd) {
  MNEMO_REQUIRE_TORCH();
  run_case({"galore std", false, galore("std"), 2, 80});
}

}  // namespace
}  // namespace mnemo::train
