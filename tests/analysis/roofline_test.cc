// The roofline cost model (include/mnemo/roofline.h) on a tiny llama config whose counts are worked
// out by hand below: d 64, 4 heads of 16 (dq 64), 2 KV heads (dkv 32), n_ff 128, vocab 100, 2 layers,
// n_rot 16, Q8_0 matrices (a row of 64 is 2 blocks of 34 bytes = 68 bytes; of 128, 136 bytes).
#include <gtest/gtest.h>

#include <cmath>

#include "mnemo/roofline.h"

namespace mnemo {
namespace {

ModelInfo tiny_model() {
  ModelInfo info;
  info.path = "tiny.gguf";
  info.arch = "llama";
  info.n_vocab = 100;
  info.n_embd = 64;
  info.n_layer = 2;
  info.n_head = 4;
  info.n_head_kv = 2;
  info.head_dim = 16;
  info.n_ff = 128;
  info.n_rot = 16;
  auto matrix = [&](const std::string& name, int64_t n, int64_t m) {
    info.tensors.push_back({name, "q8_0", {n, m}, static_cast<uint64_t>(m * (n / 32) * 34)});
  };
  auto vec = [&](const std::string& name) { info.tensors.push_back({name, "f32", {64}, 64 * 4}); };
  matrix("token_embd.weight", 64, 100);
  for (int l = 0; l < 2; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    vec(b + "attn_norm.weight");
    matrix(b + "attn_q.weight", 64, 64);
    matrix(b + "attn_k.weight", 64, 32);
    matrix(b + "attn_v.weight", 64, 32);
    matrix(b + "attn_output.weight", 64, 64);
    vec(b + "ffn_norm.weight");
    matrix(b + "ffn_gate.weight", 64, 128);
    matrix(b + "ffn_up.weight", 64, 128);
    matrix(b + "ffn_down.weight", 128, 64);
  }
  vec("output_norm.weight");
  matrix("output.weight", 64, 100);
  return info;
}

const OpCost& op(const StageCost& st, const std::string& name) {
  for (const OpCost& c : st.ops) {
    if (c.name == name) return c;
  }
  ADD_FAILURE() << "no op " << name;
  static OpCost none;
  return none;
}

RooflineRequest decode_at(int64_t n_ctx, int64_t n_tokens = 1) {
  RooflineRequest r;
  r.stage = Stage::kDecode;
  r.n_tokens = n_tokens;
  r.n_ctx = n_ctx;
  return r;
}

// One decode step after 3 cached positions (P = 4 positions, 4 heads x 4 scores = 16 scores per
// layer); every layer figure below is per layer, doubled for the 2 layers.
TEST(RooflineCounts, DecodeStepByHand) {
  Expected<StageCost> st = count_stage(tiny_model(), decode_at(3));
  ASSERT_TRUE(st.has_value()) << st.status().message();
  // q_proj: 2 x 64 x 64 flops; 64 rows x 68 B; reads 64 floats, writes 64 floats.
  const OpCost& q = op(*st, "q_proj");
  EXPECT_EQ(q.kind, "q8_0");
  EXPECT_EQ(q.count, 2);
  EXPECT_DOUBLE_EQ(q.flops, 2 * 8192.0);
  EXPECT_DOUBLE_EQ(q.weight_bytes, 2 * 4352.0);
  EXPECT_DOUBLE_EQ(q.act_read_bytes, 2 * 256.0);
  EXPECT_DOUBLE_EQ(q.act_write_bytes, 2 * 256.0);
  // k_proj: 2 x 64 x 32 flops; its output is the K row: 32 values x 4 B into the cache.
  const OpCost& k = op(*st, "k_proj");
  EXPECT_DOUBLE_EQ(k.flops, 2 * 4096.0);
  EXPECT_DOUBLE_EQ(k.weight_bytes, 2 * 2176.0);
  EXPECT_DOUBLE_EQ(k.act_write_bytes, 0.0);
  EXPECT_DOUBLE_EQ(k.kv_write_bytes, 2 * 128.0);
  // rope: 3 x (4 + 2) heads x 16 dims; reads q and k (96 floats) and the table row (16), writes 96.
  const OpCost& rope = op(*st, "rope");
  EXPECT_DOUBLE_EQ(rope.flops, 2 * 288.0);
  EXPECT_DOUBLE_EQ(rope.act_read_bytes, 2 * 448.0);
  EXPECT_DOUBLE_EQ(rope.act_write_bytes, 2 * 384.0);
  // qk: 2 x 16 x 16 scores; reads Q (64 floats) and K of 4 positions x 32 values x 4 B.
  const OpCost& qk = op(*st, "qk");
  EXPECT_EQ(qk.kind, "attention");
  EXPECT_DOUBLE_EQ(qk.flops, 2 * 512.0);
  EXPECT_DOUBLE_EQ(qk.act_read_bytes, 2 * 256.0);
  EXPECT_DOUBLE_EQ(qk.kv_read_bytes, 2 * 512.0);
  // softmax: 5 per score, fused (no traffic); sv as qk with V, writing the 64 outputs.
  EXPECT_DOUBLE_EQ(op(*st, "softmax").flops, 2 * 80.0);
  EXPECT_DOUBLE_EQ(op(*st, "softmax").bytes(), 0.0);
  EXPECT_DOUBLE_EQ(op(*st, "sv").flops, 2 * 512.0);
  EXPECT_DOUBLE_EQ(op(*st, "sv").kv_read_bytes, 2 * 512.0);
  EXPECT_DOUBLE_EQ(op(*st, "sv").act_write_bytes, 2 * 256.0);
  // down_proj: 2 x 128 x 64 flops; 64 rows x 136 B; reads 128 floats, writes 64.
  const OpCost& down = op(*st, "down_proj");
  EXPECT_DOUBLE_EQ(down.flops, 2 * 16384.0);
  EXPECT_DOUBLE_EQ(down.weight_bytes, 2 * 8704.0);
  EXPECT_DOUBLE_EQ(down.act_read_bytes, 2 * 512.0);
  // swiglu: 5 x 128; reads gate and up, writes 128. Norm: 4 x 64, its weight 64 floats.
  EXPECT_DOUBLE_EQ(op(*st, "swiglu").flops, 2 * 640.0);
  EXPECT_DOUBLE_EQ(op(*st, "swiglu").act_read_bytes, 2 * 1024.0);
  EXPECT_DOUBLE_EQ(op(*st, "attn_norm").flops, 2 * 256.0);
  EXPECT_DOUBLE_EQ(op(*st, "attn_norm").weight_bytes, 2 * 256.0);
  EXPECT_DOUBLE_EQ(op(*st, "attn_add").flops, 2 * 64.0);
  EXPECT_DOUBLE_EQ(op(*st, "attn_add").act_read_bytes, 2 * 512.0);
  // Once per pass: one embedding row (68 B), the head 2 x 64 x 100 over all 100 rows (6800 B).
  const OpCost& embd = op(*st, "token_embd");
  EXPECT_FALSE(embd.per_layer);
  EXPECT_DOUBLE_EQ(embd.flops, 0.0);
  EXPECT_DOUBLE_EQ(embd.weight_bytes, 68.0);
  const OpCost& head = op(*st, "lm_head");
  EXPECT_EQ(head.count, 1);
  EXPECT_DOUBLE_EQ(head.flops, 12800.0);
  EXPECT_DOUBLE_EQ(head.weight_bytes, 6800.0);
  EXPECT_DOUBLE_EQ(head.act_write_bytes, 400.0);
  // Forward order: embedding first, head last.
  EXPECT_EQ(st->ops.front().name, "token_embd");
  EXPECT_EQ(st->ops.back().name, "lm_head");
}

// Prefill of 4 tokens: 4 heads x (1 + 2 + 3 + 4) = 40 scores per layer; the head for the last token.
TEST(RooflineCounts, PrefillByHand) {
  RooflineRequest r;
  r.stage = Stage::kPrefill;
  r.n_tokens = 4;
  r.n_batch = 4;
  Expected<StageCost> st = count_stage(tiny_model(), r);
  ASSERT_TRUE(st.has_value()) << st.status().message();
  EXPECT_DOUBLE_EQ(op(*st, "q_proj").flops, 2 * 32768.0);
  EXPECT_DOUBLE_EQ(op(*st, "q_proj").weight_bytes, 2 * 4352.0);  // read once for the 4 tokens
  EXPECT_DOUBLE_EQ(op(*st, "q_proj").act_read_bytes, 2 * 1024.0);
  EXPECT_DOUBLE_EQ(op(*st, "qk").flops, 2 * 1280.0);
  EXPECT_DOUBLE_EQ(op(*st, "qk").kv_read_bytes, 2 * 512.0);
  EXPECT_DOUBLE_EQ(op(*st, "k_proj").kv_write_bytes, 2 * 512.0);
  EXPECT_DOUBLE_EQ(op(*st, "lm_head").flops, 12800.0);
  EXPECT_DOUBLE_EQ(op(*st, "token_embd").weight_bytes, 4 * 68.0);

  // Two passes of 2: the same scores (12 + 28), the weights and K read twice (2 + 4 positions), the
  // head once.
  r.n_batch = 2;
  Expected<StageCost> two = count_stage(tiny_model(), r);
  ASSERT_TRUE(two.has_value());
  EXPECT_DOUBLE_EQ(op(*two, "qk").flops, 2 * 1280.0);
  EXPECT_DOUBLE_EQ(op(*two, "qk").kv_read_bytes, 2 * (256.0 + 512.0));
  EXPECT_DOUBLE_EQ(op(*two, "q_proj").weight_bytes, 2 * 2 * 4352.0);
  EXPECT_DOUBLE_EQ(op(*two, "lm_head").flops, 12800.0);

  // logits_all: the head for every token.
  r.n_batch = 4;
  r.logits_all = true;
  Expected<StageCost> all = count_stage(tiny_model(), r);
  ASSERT_TRUE(all.has_value());
  EXPECT_DOUBLE_EQ(op(*all, "lm_head").flops, 4 * 12800.0);
  EXPECT_DOUBLE_EQ(op(*all, "lm_head").weight_bytes, 6800.0);
}

// Decode of 3 tokens on an empty cache: 4 x (1 + 2 + 3) = 24 scores per layer; F16 KV halves it.
TEST(RooflineCounts, DecodeStageSumsStepsAndKvBytesIsAParameter) {
  Expected<StageCost> st = count_stage(tiny_model(), decode_at(0, 3));
  ASSERT_TRUE(st.has_value());
  EXPECT_DOUBLE_EQ(op(*st, "qk").flops, 2 * 768.0);
  EXPECT_DOUBLE_EQ(op(*st, "qk").kv_read_bytes, 2 * (1 + 2 + 3) * 32 * 4.0);
  EXPECT_DOUBLE_EQ(op(*st, "q_proj").weight_bytes, 3 * 2 * 4352.0);
  RooflineRequest r = decode_at(0, 3);
  r.kv_bytes_per_value = 2;
  Expected<StageCost> f16 = count_stage(tiny_model(), r);
  ASSERT_TRUE(f16.has_value());
  EXPECT_DOUBLE_EQ(op(*f16, "qk").kv_read_bytes, 2 * (1 + 2 + 3) * 32 * 2.0);
  EXPECT_DOUBLE_EQ(op(*f16, "v_proj").kv_write_bytes, 3 * 2 * 32 * 2.0);
}

TEST(RooflineCounts, RejectsBadRequestsAndModels) {
  RooflineRequest r = decode_at(0, 0);
  Expected<StageCost> st = count_stage(tiny_model(), r);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.status().message().find("n_tokens"), std::string::npos) << st.status().message();
  r = decode_at(-1);
  EXPECT_NE(count_stage(tiny_model(), r).status().message().find("n_ctx"), std::string::npos);
  r = decode_at(0);
  r.n_threads = 0;
  EXPECT_NE(count_stage(tiny_model(), r).status().message().find("n_threads"), std::string::npos);
  r = decode_at(0);
  r.kv_bytes_per_value = 0;
  EXPECT_NE(count_stage(tiny_model(), r).status().message().find("kv_bytes_per_value"), std::string::npos);

  ModelInfo broken = tiny_model();
  broken.tensors.erase(broken.tensors.begin() + 3);  // blk.0.attn_k.weight
  st = count_stage(broken, decode_at(0));
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.status().message().find("blk.0.attn_k.weight"), std::string::npos) << st.status().message();
}

// Ridge: q_proj's intensity is 16384 / 9728 flop/B (both layers); with 8 GFLOP/s and 4.75 GB/s
// its compute and memory times are both 2.048 us: at the ridge exactly, compute-bound.
HardwareProfile ridge_profile(double gb_s) {
  HardwareProfile p;
  p.name = "ridge";
  p.bandwidth = {{0, gb_s}};
  p.compute = {{"q8_0", 1, 0, 8.0}, {"*", 1, 0, 1000.0}};
  return p;
}

TEST(RooflineBounds, ClassificationAtTheRidge) {
  Expected<StageCost> at = analyze_stage(ridge_profile(4.75), tiny_model(), decode_at(3));
  ASSERT_TRUE(at.has_value()) << at.status().message();
  const OpCost& q = op(*at, "q_proj");
  EXPECT_DOUBLE_EQ(q.compute_seconds, 2.048e-6);
  EXPECT_DOUBLE_EQ(q.memory_seconds, 2.048e-6);
  EXPECT_FALSE(q.memory_bound());
  EXPECT_DOUBLE_EQ(q.seconds, 2.048e-6);
  EXPECT_DOUBLE_EQ(q.gflop_s_roof, 8.0);
  // k_proj (8192 / 5120 = 1.6 flop/B) is below the ridge (8 / 4.75 = 1.68), down_proj
  // (32768 / 18944 = 1.73) above it.
  EXPECT_TRUE(op(*at, "k_proj").memory_bound());
  EXPECT_FALSE(op(*at, "down_proj").memory_bound());
  // A little more bandwidth lowers the ridge below q_proj; a little less raises it above.
  EXPECT_FALSE(op(*analyze_stage(ridge_profile(4.75 * 1.01), tiny_model(), decode_at(3)), "q_proj").memory_bound());
  EXPECT_TRUE(op(*analyze_stage(ridge_profile(4.75 * 0.99), tiny_model(), decode_at(3)), "q_proj").memory_bound());
  // The token embedding has no flops: memory-bound, and its kind needs no compute figure.
  EXPECT_TRUE(op(*at, "token_embd").memory_bound());
  // Totals: the stage's time is the sum of its operations', tokens/s its inverse for one token.
  double sum = 0;
  for (const OpCost& c : at->ops) sum += c.seconds;
  EXPECT_DOUBLE_EQ(at->seconds, sum);
  EXPECT_DOUBLE_EQ(at->tokens_per_s, 1.0 / sum);
  Expected<Prediction> pred = predict(ridge_profile(4.75), tiny_model(), Stage::kDecode, 1, 3, 1);
  ASSERT_TRUE(pred.has_value());
  EXPECT_DOUBLE_EQ(pred->seconds, at->seconds);
}

// A weight type's own streaming roof applies to its matrix products only.
TEST(RooflineBounds, WeightStreamingRoof) {
  HardwareProfile p = ridge_profile(4.75);
  p.bandwidth.push_back({0, 2.375, "q8_0"});
  Expected<StageCost> st = analyze_stage(p, tiny_model(), decode_at(3));
  ASSERT_TRUE(st.has_value()) << st.status().message();
  const OpCost& q = op(*st, "q_proj");
  EXPECT_DOUBLE_EQ(q.gb_s_roof, 2.375);
  EXPECT_DOUBLE_EQ(q.memory_seconds, 4.096e-6);  // 9728 B at 2.375 GB/s
  EXPECT_TRUE(q.memory_bound());
  EXPECT_DOUBLE_EQ(op(*st, "qk").gb_s_roof, 4.75);
  EXPECT_DOUBLE_EQ(op(*st, "token_embd").gb_s_roof, 4.75);
  EXPECT_DOUBLE_EQ(st->bandwidth_gb_s, 4.75);
}

TEST(RooflineBounds, MissingComputeKindIsAnError) {
  HardwareProfile p;
  p.name = "partial";
  p.bandwidth = {{1, 10}};
  p.compute = {{"q8_0", 1, 1, 10}};
  Expected<StageCost> st = analyze_stage(p, tiny_model(), decode_at(0));
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.status().message().find("'partial'"), std::string::npos) << st.status().message();
}

// The ridge batch: the first T at which every layer product is compute-bound. With a ridge of 5
// flop/B, k_proj (and v_proj) at T tokens has intensity 2 T 64 32 / (2176 + 4 T 64 + 4 T 32) per
// layer, >= 5 from T = 5 on; q_proj from T = 4, the FFN products from T = 4: the answer is 5.
TEST(RooflineBounds, PrefillRidgeBatch) {
  HardwareProfile p;
  p.name = "cpu";
  p.bandwidth = {{0, 1.0}};
  p.compute = {{"*", 1, 0, 5.0}};
  Expected<int64_t> T = prefill_ridge_batch(p, tiny_model(), 1);
  ASSERT_TRUE(T.has_value()) << T.status().message();
  EXPECT_EQ(*T, 5);
  // A product's intensity never exceeds n m / (2 (n + m)) (k_proj: 10.7 flop/B), so a ridge of
  // 1000 flop/B is out of reach: 0.
  p.compute = {{"*", 1, 0, 1000.0}};
  Expected<int64_t> none = prefill_ridge_batch(p, tiny_model(), 1, 256);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(*none, 0);
}

TEST(RooflineReport, JsonAndSvg) {
  HardwareProfile p = ridge_profile(4.75);
  RooflineRequest r;
  r.stage = Stage::kPrefill;
  r.n_tokens = 4;
  std::vector<StageCost> stages = {*analyze_stage(p, tiny_model(), r), *analyze_stage(p, tiny_model(), decode_at(4))};
  const std::string json = roofline_json(p, tiny_model(), stages);
  EXPECT_NE(json.find("\"stage\": \"prefill\""), std::string::npos);
  EXPECT_NE(json.find("\"name\": \"q_proj\""), std::string::npos);
  const std::string svg = roofline_svg(p, tiny_model(), stages);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("4.75 GB/s"), std::string::npos);
  EXPECT_NE(svg.find("q8_0 (decode)"), std::string::npos);
}

}  // namespace
}  // namespace mnemo
