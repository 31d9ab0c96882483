// KV budget policies inside a session (model/llama.h, model/kv_policy.h): positions after a
// compaction, the accumulated attention against a brute-force recomputation, compaction of every
// cache type, and the errors. Models: the committed models/mnemo-longctx.gguf (head size 16) and
// models/mnemo-stories.gguf (head size a multiple of 32, so every cache type fits).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/aligned_block.h"
#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "mnemo/context.h"
#include "mnemo/model.h"
#include "model/llama.h"
#include "runtime/model_impl.h"
#include "test_util.h"

namespace mnemo {
namespace {

// ||a - b|| / ||b|| over n values.
double rel_err(const float* a, const float* b, int64_t n) {
  double d = 0, r = 0;
  for (int64_t i = 0; i < n; ++i) {
    d += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    r += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(d / std::max(r, 1e-30));
}

std::string model_path(const char* name) { return std::string(MNEMO_SOURCE_DIR) + "/models/" + name; }

// A session over its own block, with the given cache types and policy.
struct Session {
  AlignedBlock block;
  std::unique_ptr<LlamaSession> s;
};
Session make_session(const Model& model, ThreadPool& pool, int64_t n_ctx, KvPolicyParams policy,
                     KvType type = KvType::kF32) {
  SessionShape shape;
  shape.n_ctx = n_ctx;
  shape.n_batch = n_ctx;
  shape.n_threads = pool.size();
  shape.type_k = shape.type_v = type;
  shape.kv_policy = policy;
  auto l = LlamaSession::layout(*model.impl().model, shape);
  EXPECT_TRUE(l.has_value()) << l.status().message();
  Session out;
  out.block = AlignedBlock(l->block_bytes);
  auto s = LlamaSession::create(model.impl().model, *l, &pool, out.block.span());
  EXPECT_TRUE(s.has_value()) << s.status().message();
  out.s = std::move(*s);
  return out;
}

std::vector<int32_t> some_tokens(const Model& model, int64_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = static_cast<int32_t>((i * 37 + 11) % model.info().n_vocab);
  t[0] = 1;
  return t;
}

// Positions are cache positions: after a window policy has evicted the first tokens, slot j's key
// in layer 0 (which depends only on the token and its position) is the key a fresh evaluation of
// the kept tokens computes at position j: the compaction re-rotated it by its slot change.
TEST(KvPolicySession, WindowKeysAreReRotatedToTheirCachePositions) {
  auto model = Model::load(model_path("mnemo-longctx.gguf"));
  ASSERT_TRUE(model.has_value()) << model.status().message();
  ThreadPool pool(2);
  KvPolicyParams p;
  p.policy = KvPolicy::kWindow;
  p.budget = 24;
  Session a = make_session(**model, pool, 64, p);
  const std::vector<int32_t> tokens = some_tokens(**model, 57);
  ASSERT_TRUE(a.s->forward(tokens, 0, false).is_ok());
  const int64_t n = a.s->sequence_length(0);
  ASSERT_LE(n, p.budget);
  ASSERT_GT(a.s->n_compactions(), 0);
  // The window keeps the last n tokens.
  const std::vector<int32_t> kept(tokens.end() - n, tokens.end());
  Session b = make_session(**model, pool, 64, KvPolicyParams{});
  ASSERT_TRUE(b.s->forward(kept, 0, false).is_ok());
  const int64_t dkv = (*model)->info().head_dim * (*model)->info().n_head_kv;
  const float* ka = a.s->kv().k_f32(0, 0);
  const float* kb = b.s->kv().k_f32(0, 0);
  const float* va = a.s->kv().v_f32(0, 0);
  const float* vb = b.s->kv().v_f32(0, 0);
  EXPECT_LE(rel_err(ka, kb, n * dkv), 2e-5);  // a rotation by -delta after one by pos: float rounding only
  EXPECT_LE(rel_err(va, vb, n * dkv), 2e-5);
  // Unrotated, the keys would be far off: the check has teeth.
  Session c = make_session(**model, pool, 64, KvPolicyParams{});
  ASSERT_TRUE(c.s->forward(tokens, 0, false).is_ok());
  EXPECT_GT(rel_err(c.s->kv().k_f32(0, 0) + (57 - n) * dkv, kb, n * dkv), 1e-2);
}

// llama.cpp's context shift: after dropping positions [4, 20) of 40, layer 0's keys are those of
// the kept tokens evaluated afresh at their new positions, for an F32 and an F16 cache.
TEST(KvPolicySession, ContextShiftReRotatesKeys) {
  auto model = Model::load(model_path("mnemo-longctx.gguf"));
  ASSERT_TRUE(model.has_value()) << model.status().message();
  ThreadPool pool(2);
  const std::vector<int32_t> tokens = some_tokens(**model, 40);
  std::vector<int32_t> kept(tokens.begin(), tokens.begin() + 4);
  kept.insert(kept.end(), tokens.begin() + 20, tokens.end());
  for (KvType t : {KvType::kF32, KvType::kF16}) {
    Session a = make_session(**model, pool, 64, KvPolicyParams{}, t);
    ASSERT_TRUE(a.s->forward(tokens, 0, false).is_ok());
    ASSERT_TRUE(a.s->shift_sequence(0, 4, 16).is_ok());
    EXPECT_EQ(a.s->sequence_length(0), 24);
    EXPECT_FALSE(a.s->shift_sequence(0, 20, 10).is_ok());  // beyond what it holds
    Session b = make_session(**model, pool, 64, KvPolicyParams{}, t);
    ASSERT_TRUE(b.s->forward(kept, 0, false).is_ok());
    const int64_t dkv = (*model)->info().head_dim * (*model)->info().n_head_kv;
    std::vector<float> ka(static_cast<size_t>(24 * dkv)), kb(ka.size());
    for (int64_t j = 0; j < 24; ++j) {
      kernels::dequantize_row(kv_dtype(t), a.s->kv().k_row(0, 0, j), ka.data() + j * dkv, dkv);
      kernels::dequantize_row(kv_dtype(t), b.s->kv().k_row(0, 0, j), kb.data() + j * dkv, dkv);
    }
    EXPECT_LE(rel_err(ka.data(), kb.data(), 24 * dkv), t == KvType::kF32 ? 2e-5 : 2e-3) << kv_type_name(t);
  }
}

// H2O's scores: what the attention kernel accumulates for layer 0 equals a brute-force softmax of
// q . k over every query so far, with q computed here from the weights (layer 0's input is the
// embedding) and k read from the cache, summed over the query heads of each KV head.
TEST(KvPolicySession, H2OScoresEqualBruteForceAttention) {
  auto model = Model::load(model_path("mnemo-longctx.gguf"));
  ASSERT_TRUE(model.has_value()) << model.status().message();
  const LlamaModel& lm = *(*model)->impl().model;
  const LlamaConfig& c = lm.config();
  ThreadPool pool(2);
  KvPolicyParams p;
  p.policy = KvPolicy::kH2O;
  p.budget = 48;
  Session a = make_session(**model, pool, 64, p);
  const std::vector<int32_t> tokens = some_tokens(**model, 40);  // steps of 3: accumulated over 14 forwards
  ASSERT_TRUE(a.s->forward(tokens, 0, false).is_ok());
  ASSERT_EQ(a.s->sequence_length(0), 40);
  ASSERT_EQ(a.s->n_compactions(), 0);
  const int64_t hd = c.head_dim, group = c.n_head / c.n_head_kv, n = 40;
  const LlamaLayerWeights& lw = lm.weights().layers[0];
  std::vector<float> x(static_cast<size_t>(c.n_embd)), xn(x.size()), wrow(x.size()), q(static_cast<size_t>(c.n_embd_q()));
  std::vector<double> brute(static_cast<size_t>(c.n_head_kv * n), 0.0);
  kernels::RopeParams rope = c.rope;
  rope.freq_factors = lm.weights().rope_freqs;
  const float* K = a.s->kv().k_f32(0, 0);
  for (int64_t t = 0; t < n; ++t) {
    kernels::get_row(lm.weights().token_embd, tokens[static_cast<size_t>(t)], x.data());
    kernels::rmsnorm(x.data(), lw.attn_norm, c.rms_eps, c.n_embd, xn.data());
    for (int64_t r = 0; r < c.n_embd_q(); ++r) {
      kernels::dequantize_row(lw.wq.type, lw.wq.row(r), wrow.data(), c.n_embd);
      double acc = 0;
      for (int64_t i = 0; i < c.n_embd; ++i) acc += static_cast<double>(wrow[static_cast<size_t>(i)]) * xn[static_cast<size_t>(i)];
      q[static_cast<size_t>(r)] = static_cast<float>(acc);
    }
    kernels::rope(q.data(), c.n_head, hd, t, rope);
    for (int64_t h = 0; h < c.n_head; ++h) {
      const int64_t hk = h / group;
      std::vector<double> s(static_cast<size_t>(t + 1));
      double m = -1e300, sum = 0;
      for (int64_t j = 0; j <= t; ++j) {
        double d = 0;
        for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(q[static_cast<size_t>(h * hd + i)]) * K[j * c.n_embd_kv() + hk * hd + i];
        s[static_cast<size_t>(j)] = d / std::sqrt(static_cast<double>(hd));
        m = std::max(m, s[static_cast<size_t>(j)]);
      }
      for (double& v : s) sum += (v = std::exp(v - m));
      for (int64_t j = 0; j <= t; ++j) brute[static_cast<size_t>(hk * n + j)] += s[static_cast<size_t>(j)] / sum;
    }
  }
  const float* got = a.s->scores(0);  // layer 0: rows [0, n_head_kv) of `budget` slots
  double total = 0;
  for (int64_t hk = 0; hk < c.n_head_kv; ++hk) {
    for (int64_t j = 0; j < n; ++j) {
      const double want = brute[static_cast<size_t>(hk * n + j)];
      EXPECT_NEAR(got[hk * p.budget + j], want, 2e-3 * std::max(1.0, want)) << "kv head " << hk << " slot " << j;
      total += got[hk * p.budget + j];
    }
  }
  EXPECT_NEAR(total, static_cast<double>(c.n_head * n), 1e-2);  // every query's softmax sums to 1
}

// Every cache type compacts (rows dequantized to f32, compacted, stored back in the type): with a
// window policy, layer 0's rows after 13 compactions are those of the kept tokens evaluated afresh
// in that type, within what re-storing a re-rotated key costs per compaction (one rounding of the
// type each time a row moves; values move unrotated, so they lose nearly nothing); and every
// policy keeps the budget on every type.
TEST(KvPolicySession, CompactionOfEveryKvType) {
  auto model = Model::load(model_path("mnemo-stories.gguf"));
  ASSERT_TRUE(model.has_value()) << model.status().message();
  ThreadPool pool(2);
  const std::vector<int32_t> tokens = some_tokens(**model, 57);
  const int64_t dkv = (*model)->info().head_dim * (*model)->info().n_head_kv;
  struct Case {
    KvType t;
    double k_tol, v_tol, unrotated;
  };
  for (const Case& c : {Case{KvType::kF32, 2e-5, 2e-6, 1e-2}, Case{KvType::kF16, 2e-3, 2e-5, 1e-2},
                        Case{KvType::kQ8_0, 3e-2, 1e-3, 1e-1}, Case{KvType::kQ4_0, 0.3, 1e-2, 0.6}}) {
    KvPolicyParams p;
    p.policy = KvPolicy::kWindow;
    p.budget = 32;
    Session a = make_session(**model, pool, 64, p, c.t);
    ASSERT_TRUE(a.s->forward(tokens, 0, false).is_ok());
    const int64_t n = a.s->sequence_length(0);
    EXPECT_GT(a.s->n_compactions(), 5);
    const std::vector<int32_t> kept(tokens.end() - n, tokens.end());
    Session b = make_session(**model, pool, 64, KvPolicyParams{}, c.t);
    ASSERT_TRUE(b.s->forward(kept, 0, false).is_ok());
    std::vector<float> ka(static_cast<size_t>(n * dkv)), kb(ka.size()), va(ka.size()), vb(ka.size());
    const DType dt = kv_dtype(c.t);
    for (int64_t j = 0; j < n; ++j) {
      kernels::dequantize_row(dt, a.s->kv().k_row(0, 0, j), ka.data() + j * dkv, dkv);
      kernels::dequantize_row(dt, b.s->kv().k_row(0, 0, j), kb.data() + j * dkv, dkv);
      kernels::dequantize_row(dt, a.s->kv().v_row(0, 0, j), va.data() + j * dkv, dkv);
      kernels::dequantize_row(dt, b.s->kv().v_row(0, 0, j), vb.data() + j * dkv, dkv);
    }
    const double ek = rel_err(ka.data(), kb.data(), n * dkv), ev = rel_err(va.data(), vb.data(), n * dkv);
    std::printf("%s: K rel err %.3g, V rel err %.3g\n", std::string(kv_type_name(c.t)).c_str(), ek, ev);
    EXPECT_LE(ek, c.k_tol) << kv_type_name(c.t);
    EXPECT_LE(ev, c.v_tol) << kv_type_name(c.t);
    // Keys left at their old rotation would be much further off.
    Session u = make_session(**model, pool, 64, KvPolicyParams{}, c.t);
    ASSERT_TRUE(u.s->forward(tokens, 0, false).is_ok());
    for (int64_t j = 0; j < n; ++j) {
      kernels::dequantize_row(dt, u.s->kv().k_row(0, 0, 57 - n + j), ka.data() + j * dkv, dkv);
    }
    EXPECT_GT(rel_err(ka.data(), kb.data(), n * dkv), c.unrotated) << kv_type_name(c.t);
    for (KvPolicy pol : {KvPolicy::kSinks, KvPolicy::kH2O, KvPolicy::kKvMerger}) {
      p.policy = pol;
      Session s = make_session(**model, pool, 64, p, c.t);
      ASSERT_TRUE(s.s->forward(tokens, 0, false).is_ok()) << kv_policy_name(pol);
      EXPECT_LE(s.s->sequence_length(0), p.budget);
      EXPECT_GT(s.s->n_compactions(), 5);
      for (float x : s.s->logits()) ASSERT_TRUE(std::isfinite(x)) << kv_policy_name(pol) << " " << kv_type_name(c.t);
    }
  }
}

TEST(KvPolicySession, BadBudgetsAndContextsAreClearErrors) {
  auto model = Model::load(model_path("mnemo-longctx.gguf"));
  ASSERT_TRUE(model.has_value()) << model.status().message();
  ContextParams cp;
  cp.n_ctx = 64;
  cp.kv_policy = "sinks";
  cp.kv_budget = "4";  // 4 sinks + 1 at least
  auto c = Context::create(**model, cp);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.status().message().find("--kv-budget"), std::string::npos) << c.status().message();
  cp.kv_budget = "5";  // the minimum itself leaves no room for a token
  c = Context::create(**model, cp);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.status().message().find("--kv-budget"), std::string::npos) << c.status().message();
  cp.kv_policy = "h2o";
  cp.kv_budget = "";
  c = Context::create(**model, cp);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.status().message().find("--kv-budget"), std::string::npos) << c.status().message();
  cp.kv_policy = "full";
  cp.kv_budget = "0.5";
  c = Context::create(**model, cp);
  ASSERT_FALSE(c.has_value());
  cp.kv_policy = "lru";
  c = Context::create(**model, cp);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.status().message().find("--kv-policy"), std::string::npos) << c.status().message();
  // Beyond the context without a policy: an error naming the context size; with one: compaction.
  cp.kv_policy = "";
  cp.kv_budget = "";
  c = Context::create(**model, cp);
  ASSERT_TRUE(c.has_value()) << c.status().message();
  std::vector<Token> tokens(80, 5);
  const Status st = (*c)->eval(tokens, 0);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.message().find("context size"), std::string::npos) << st.message();
  cp.kv_policy = "kvmerger";
  cp.kv_budget = "0.5";
  c = Context::create(**model, cp);
  ASSERT_TRUE(c.has_value()) << c.status().message();
  EXPECT_TRUE((*c)->eval(tokens, 0).is_ok());
  EXPECT_LE((*c)->n_past(), 32);
  EXPECT_GT((*c)->memory().kv_compactions, 0);
}

}  // namespace
}  // namespace mnemo
