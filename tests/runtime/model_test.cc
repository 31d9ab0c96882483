// The public API on the real model files: loading, shapes, logits that agree across file formats,
// across batch sizes and with llama.cpp, and clear errors for misuse.
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mnemo/mnemo.h"
#include "test_util.h"

namespace mnemo {
namespace {

std::unique_ptr<Model> load(const std::string& rel, const std::string& tok_rel = "", ModelParams p = {}) {
  if (!tok_rel.empty()) p.tokenizer_path = test::data_path(tok_rel);
  auto m = Model::load(test::data_path(rel), p);
  EXPECT_TRUE(m.has_value()) << m.status().message();
  return m.has_value() ? std::move(m).value() : nullptr;
}

std::vector<float> last_logits(const Model& m, const std::vector<Token>& tokens, int64_t n_batch = 512) {
  ContextParams cp;
  cp.n_ctx = 512;
  cp.n_batch = n_batch;
  auto ctx = Context::create(m, cp);
  EXPECT_TRUE(ctx.has_value()) << ctx.status().message();
  EXPECT_TRUE((*ctx)->eval(tokens, 0).is_ok());
  auto l = (*ctx)->logits();
  return std::vector<float>(l.begin(), l.end());
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

TEST(Runtime, Stories260KShapes) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  auto m = load("models/stories260K.bin", "models/tok512.bin");
  ASSERT_TRUE(m);
  const ModelInfo& i = m->info();
  EXPECT_EQ(i.format, "llama2.c");
  EXPECT_EQ(i.n_vocab, 512);
  EXPECT_EQ(i.n_embd, 64);
  EXPECT_EQ(i.n_layer, 5);
  EXPECT_EQ(i.n_head, 8);
  EXPECT_EQ(i.n_head_kv, 4);
  EXPECT_EQ(i.n_ff, 172);
  EXPECT_EQ(i.n_ctx_train, 512);
  EXPECT_TRUE(i.tied_output);
  EXPECT_EQ(m->tokenizer().bos(), 1);
  EXPECT_EQ(m->tokenizer().eos(), 2);

  auto g = load("models/stories260K.gguf");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->info().n_ctx_train, 128);  // the converter's default, recorded in the file
  EXPECT_FALSE(g->info().tied_output);
  EXPECT_EQ(g->info().bytes_by_type.at("f32"), g->info().weight_bytes);

  auto q4 = load("models/stories260K-Q4_0.gguf");
  ASSERT_TRUE(q4);
  EXPECT_GT(q4->info().bytes_by_type.at("q4_0"), 0u);
  EXPECT_GT(q4->info().bytes_by_type.at("f32"), 0u);  // ffn_down stays F32
}

// The .bin and the GGUF hold the same F32 weights: the logits are bit-identical.
TEST(Runtime, SameLogitsFromBinAndGguf) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  auto bin = load("models/stories260K.bin", "models/tok512.bin");
  auto gguf = load("models/stories260K.gguf");
  ASSERT_TRUE(bin && gguf);
  const std::vector<Token> toks = bin->tokenizer().encode("One day, a little dog found a ball in the garden.", true);
  EXPECT_EQ(toks, gguf->tokenizer().encode("One day, a little dog found a ball in the garden.", true));
  EXPECT_EQ(last_logits(*bin, toks), last_logits(*gguf, toks));
}

// Prefill in one batch, in chunks, or one token at a time gives the same logits (kernels compute
// each output element the same way whatever the batch).
TEST(Runtime, BatchSizeDoesNotChangeLogits) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  auto m = load("models/stories260K.bin", "models/tok512.bin");
  ASSERT_TRUE(m);
  const std::vector<Token> toks = m->tokenizer().encode(
      "Tom and Sue went to the park. They saw a big tree and a small bird. The bird was sad.", true);
  const auto full = last_logits(*m, toks, 512);
  const float scale = max_abs(full);
  for (int64_t b : {1, 3, 7}) {
    const auto chunked = last_logits(*m, toks, b);
    for (size_t i = 0; i < full.size(); ++i) ASSERT_NEAR(chunked[i], full[i], 1e-5f * scale) << "batch " << b;
  }
}

TEST(Runtime, NoMmapGivesSameLogits) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  ModelParams p;
  p.use_mmap = false;
  auto read = load("models/stories260K.gguf", "", p);
  auto mapped = load("models/stories260K.gguf");
  ASSERT_TRUE(read && mapped);
  EXPECT_EQ(read->memory().mapped_bytes, 0u);
  EXPECT_GT(mapped->memory().mapped_bytes, 0u);
  const std::vector<Token> toks = mapped->tokenizer().encode("The sun was shining.", true);
  EXPECT_EQ(last_logits(*read, toks), last_logits(*mapped, toks));
}

// Logits at 16 positions against llama.cpp's (tests/data/golden/logits_stories260K.json).
TEST(Runtime, LogitsMatchLlamaCpp) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  std::ifstream in(test::golden_path("golden/logits_stories260K.json"));
  ASSERT_TRUE(in.good()) << "missing golden logits";
  nlohmann::json j = nlohmann::json::parse(in);
  auto m = load("models/stories260K.gguf");
  ASSERT_TRUE(m);
  std::vector<Token> toks = j["tokens"].get<std::vector<Token>>();
  ContextParams cp;
  cp.n_ctx = static_cast<int64_t>(toks.size());
  cp.n_batch = cp.n_ctx;
  cp.logits_all = true;
  auto ctx = Context::create(*m, cp);
  ASSERT_TRUE(ctx.has_value());
  ASSERT_TRUE((*ctx)->eval(toks, 0, true).is_ok());
  const auto& positions = j["positions"];
  for (size_t k = 0; k < positions.size(); ++k) {
    const int64_t pos = positions[k];
    const std::vector<float> ref = j["logits"][k].get<std::vector<float>>();
    auto got = (*ctx)->logits(pos);
    ASSERT_EQ(got.size(), ref.size());
    const float tol = 1e-4f * max_abs(ref);
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(got[i], ref[i], tol) << "position " << pos << " token " << i;
  }
}

TEST(Runtime, EvalErrors) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  auto m = load("models/stories260K.bin", "models/tok512.bin");
  ASSERT_TRUE(m);
  ContextParams cp;
  cp.n_ctx = 16;
  auto ctx = std::move(Context::create(*m, cp)).value();
  std::vector<Token> toks(10, 300);
  EXPECT_TRUE(ctx->eval(toks, 0).is_ok());
  EXPECT_EQ(ctx->n_past(), 10);
  Status gap = ctx->eval(toks, 12);
  EXPECT_EQ(gap.code(), StatusCode::kInvalidArgument) << gap.message();
  Status overflow = ctx->eval(toks, 10);
  EXPECT_EQ(overflow.code(), StatusCode::kOutOfRange);
  EXPECT_NE(overflow.message().find("context"), std::string::npos) << overflow.message();
  std::vector<Token> bad = {1, 512};
  EXPECT_EQ(ctx->eval(bad, 0).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(ctx->eval(toks, 0, /*all_logits=*/true).code(), StatusCode::kInvalidArgument);
  // Rewinding is allowed: positions >= pos are replaced.
  EXPECT_TRUE(ctx->eval(toks, 2).is_ok());
  EXPECT_EQ(ctx->n_past(), 12);
}

TEST(Runtime, KvGrowsWithTokens) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  auto m = load("models/stories260K.bin", "models/tok512.bin");
  ASSERT_TRUE(m);
  auto ctx = std::move(Context::create(*m, {})).value();
  EXPECT_EQ(ctx->n_ctx(), 512);
  EXPECT_EQ(ctx->memory().kv_reserved_bytes, 2ull * 5 * 512 * 32 * 4);
  EXPECT_EQ(ctx->memory().kv_used_bytes, 0u);
  std::vector<Token> toks(8, 300);
  ASSERT_TRUE(ctx->eval(toks, 0).is_ok());
  EXPECT_EQ(ctx->memory().kv_used_bytes, 2ull * 5 * 8 * 32 * 4);
}

TEST(Runtime, DirectoryAsModelIsAClearError) {
  const std::string dir = test::temp_dir();
  auto m = Model::load(dir);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.status().code(), StatusCode::kIoError);
  EXPECT_EQ(m.status().message(), dir + ": is a directory, expected a model file");
  ModelParams p;
  p.tokenizer_path = dir;
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  m = Model::load(test::data_path("models/stories260K.bin"), p);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.status().message(), dir + ": is a directory, expected a tokenizer file");
}

TEST(Runtime, LoadErrors) {
  auto missing = Model::load("/nonexistent.gguf");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  auto no_tok = Model::load(test::data_path("models/stories260K.bin"));
  ASSERT_FALSE(no_tok.has_value());
  EXPECT_EQ(no_tok.status().code(), StatusCode::kInvalidArgument);
  ModelParams p;
  p.tokenizer_path = test::data_path("models/tokenizer.bin");  // 32000 tokens, model has 512
  auto wrong_vocab = Model::load(test::data_path("models/stories260K.bin"), p);
  ASSERT_FALSE(wrong_vocab.has_value());
  EXPECT_NE(wrong_vocab.status().message().find("512"), std::string::npos) << wrong_vocab.status().message();
}

}  // namespace
}  // namespace mnemo
