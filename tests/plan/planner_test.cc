// The planner fits a session into what is left of a budget, shrinking the batch, then (when
// allowed) the context, and refuses with the smallest session's needs.
#include "plan/planner.h"

#include "model/llama.h"
#include "test_util.h"

namespace mnemo {
namespace {

// stories260K's shape with F32 weights (zeros; only the shapes matter to the planner).
struct TinyModel {
  LlamaConfig c;
  std::vector<float> data;
  std::shared_ptr<const LlamaModel> model;

  TinyModel() {
    c.n_vocab = 512;
    c.n_embd = 64;
    c.n_layer = 5;
    c.n_head = 8;
    c.n_head_kv = 4;
    c.head_dim = 8;
    c.n_ff = 172;
    c.n_ctx_train = 512;
    c.rope.n_rot = 8;
    data.assign(1 << 20, 0.0f);
    auto view = [&](int64_t cols, int64_t rows) {
      TensorView v;
      v.type = DType::F32;
      v.n_dims = 2;
      v.ne[0] = cols;
      v.ne[1] = rows;
      v.data = data.data();
      return v;
    };
    LlamaWeights w;
    w.token_embd = view(c.n_embd, c.n_vocab);
    w.output = view(c.n_embd, c.n_vocab);
    w.output_norm = data.data();
    for (int64_t i = 0; i < c.n_layer; ++i) {
      LlamaLayerWeights l;
      l.attn_norm = l.ffn_norm = data.data();
      l.wq = view(c.n_embd, c.n_embd_q());
      l.wk = view(c.n_embd, c.n_embd_kv());
      l.wv = view(c.n_embd, c.n_embd_kv());
      l.wo = view(c.n_embd_q(), c.n_embd);
      l.ffn_gate = view(c.n_embd, c.n_ff);
      l.ffn_up = view(c.n_embd, c.n_ff);
      l.ffn_down = view(c.n_ff, c.n_embd);
      w.layers.push_back(l);
    }
    auto m = LlamaModel::create(c, w);
    EXPECT_TRUE(m.has_value()) << m.status().message();
    model = *m;
  }
};

TEST(SessionLayout, EveryBufferFromTheShape) {
  TinyModel t;
  auto l = LlamaSession::layout(*t.model, {256, 1024, false, 2});
  ASSERT_TRUE(l.has_value()) << l.status().message();
  EXPECT_EQ(l->shape.n_batch, 256);  // capped at the context
  EXPECT_EQ(l->kv_bytes, 2ull * 5 * 256 * 32 * 4);
  EXPECT_EQ(l->x.bytes, 256u * 64 * 4);
  EXPECT_EQ(l->hb.bytes, 256u * 172 * 4);
  EXPECT_EQ(l->logits.bytes, 512u * 4);        // one row without logits_all
  EXPECT_EQ(l->rope.bytes, 256u * 8 * 4);      // (n_ctx, n_rot) cos/sin table
  EXPECT_EQ(l->arena.bytes, 2 * l->arena_layout.thread_bytes);
  EXPECT_GE(l->block_bytes, l->arena.offset + l->arena.bytes);
  // Slices are 64-byte aligned and do not overlap.
  const SessionLayout::Slice* s[] = {&l->x, &l->xn, &l->q, &l->attn, &l->hb, &l->hb2, &l->logits, &l->rope, &l->arena};
  for (size_t i = 0; i + 1 < std::size(s); ++i) {
    EXPECT_EQ(s[i]->offset % 64, 0u);
    EXPECT_LE(s[i]->offset + s[i]->bytes, s[i + 1]->offset);
  }
  auto all = LlamaSession::layout(*t.model, {256, 128, true, 2});
  EXPECT_EQ(all->logits.bytes, 128u * 512 * 4);
}

// The KV cache's size follows the row types (KvCache::bytes_for), and a cache of another type than
// F32 gets f32 staging rows for the new tokens' K and V.
TEST(SessionLayout, KvTypesSizeTheCache) {
  TinyModel t;
  auto f32 = LlamaSession::layout(*t.model, {256, 64, false, 1});
  auto f16 = LlamaSession::layout(*t.model, {256, 64, false, 1, KvType::kF16, KvType::kF16});
  auto mixed = LlamaSession::layout(*t.model, {256, 64, false, 1, KvType::kF32, KvType::kF16});
  ASSERT_TRUE(f32.has_value() && f16.has_value() && mixed.has_value());
  EXPECT_EQ(f16->kv_bytes, 5ull * 256 * (32 * 2 + 32 * 2));
  EXPECT_EQ(mixed->kv_bytes, 5ull * 256 * (32 * 4 + 32 * 2));
  // One sequence's slot: the rows of both types (kv_row_bytes), each plane rounded up to pages.
  EXPECT_EQ(f16->kv_bytes, KvCache::bytes_for(5, 256, kv_row_bytes(KvType::kF16, 32), kv_row_bytes(KvType::kF16, 32),
                                              KvCache::page_bytes()));
  EXPECT_EQ(f32->k_new.bytes + f32->v_new.bytes, 0u);
  EXPECT_EQ(f16->k_new.bytes, 64u * 32 * 4);
  EXPECT_EQ(mixed->k_new.bytes, 0u);
  EXPECT_EQ(mixed->v_new.bytes, 64u * 32 * 4);
  EXPECT_EQ(KvCache::bytes_for(22, 2048, kv_row_bytes(KvType::kQ8_0, 256), kv_row_bytes(KvType::kQ4_0, 256)),
            22ull * 2048 * (8 * 34 + 8 * 18));
  // Sequences: n_seq_max slots of the typed rows (or the pool asked for).
  auto seqs = LlamaSession::layout(*t.model, {256, 64, false, 1, KvType::kF16, KvType::kF16, 3});
  ASSERT_TRUE(seqs.has_value());
  EXPECT_EQ(seqs->kv_slot_bytes, f16->kv_bytes);
  EXPECT_EQ(seqs->kv_bytes, 3 * f16->kv_bytes);
  EXPECT_EQ(seqs->k_new.bytes, 64u * 32 * 4);
  // Head size 8: the block types do not fit, a clear error before anything is allocated.
  auto q8 = LlamaSession::layout(*t.model, {256, 64, false, 1, KvType::kQ8_0, KvType::kF16});
  ASSERT_FALSE(q8.has_value());
  EXPECT_EQ(q8.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(q8.status().message().find("head size 8"), std::string::npos) << q8.status().message();
}

TEST(SessionLayout, AbsurdSizesAreRefusedNotAllocated) {
  TinyModel t;
  EXPECT_EQ(LlamaSession::layout(*t.model, {-5, 1, false, 1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LlamaSession::layout(*t.model, {10, 0, false, 1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LlamaSession::layout(*t.model, {int64_t{1} << 62, 1, false, 1}).status().code(), StatusCode::kOutOfRange);
}

TEST(Planner, AsAskedWhenItFits) {
  TinyModel t;
  SessionRequest r;
  r.shape = {512, 512, false, 1};
  auto p = plan_session(*t.model, r, uint64_t{1} << 30);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->layout.shape.n_batch, 512);
  EXPECT_TRUE(p->adjusted.empty());
}

TEST(Planner, ShrinksTheBatchThenTheContextToFit) {
  TinyModel t;
  SessionRequest r;
  r.shape = {512, 512, false, 1};
  r.n_batch_floor = 32;
  const uint64_t full = LlamaSession::layout(*t.model, r.shape)->total_bytes();
  const uint64_t at32 = LlamaSession::layout(*t.model, {512, 32, false, 1})->total_bytes();
  auto p = plan_session(*t.model, r, at32);
  ASSERT_TRUE(p.has_value()) << p.status().message();
  EXPECT_EQ(p->layout.shape.n_batch, 32);
  EXPECT_EQ(p->layout.shape.n_ctx, 512);
  EXPECT_LT(at32, full);
  EXPECT_EQ(p->adjusted, "batch 512 -> 32");
  // Below that: the context is fixed unless n_ctx_min allows shortening it.
  EXPECT_EQ(plan_session(*t.model, r, at32 - 1)->layout.shape.n_batch, 16);
  const uint64_t tiny = LlamaSession::layout(*t.model, {512, 1, false, 1})->total_bytes();
  auto refused = plan_session(*t.model, r, tiny - 1);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("lower it with -c"), std::string::npos) << refused.status().message();
  r.n_ctx_min = 64;
  auto shorter = plan_session(*t.model, r, tiny - 1);
  ASSERT_TRUE(shorter.has_value()) << shorter.status().message();
  EXPECT_LT(shorter->layout.shape.n_ctx, 512);
  EXPECT_GE(shorter->layout.shape.n_ctx, 64);
  EXPECT_LE(shorter->layout.total_bytes(), tiny - 1);
}

}  // namespace
}  // namespace mnemo
