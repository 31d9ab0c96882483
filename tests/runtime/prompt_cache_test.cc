// Saved sequences and llama.cpp-style prompt caches (Context::save_sequence/load_sequence,
// reuse_prompt_cache): a restored sequence continues with exactly (bit for bit) the logits of the
// run that saved it, for F32 and quantized caches; the reusable prefix is the longest common one,
// never the whole prompt; a file from another model, with other KV types, damaged or truncated is a
// clear error that leaves the sequence and the file as they were. Models: generated "tiny" llama
// models (no data needed).
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "mnemo/convert.h"
#include "mnemo/generate.h"
#include "mnemo/mnemo.h"
#include "test_util.h"

namespace mnemo {
namespace {

std::string model_path(const std::string& dtype, uint64_t seed = 1) {
  static const std::string dir = test::temp_dir();
  const std::string path = dir + "/tiny-" + dtype + "-" + std::to_string(seed) + ".gguf";
  if (!test::exists(path)) {
    GenModelParams gp;
    gp.shape = "tiny";
    gp.dtype = dtype;
    gp.seed = seed;
    gp.output = path;
    EXPECT_TRUE(generate_model(gp).is_ok());
  }
  return path;
}

std::unique_ptr<Model> load(const std::string& dtype, uint64_t seed = 1) {
  EngineParams ep;
  ep.n_threads = 2;
  ep.cap_threads_at_cpus = false;
  auto engine = Engine::create(ep);
  EXPECT_TRUE(engine.has_value());
  ModelParams mp;
  mp.engine = *engine;
  auto model = Model::load(model_path(dtype, seed), mp);
  EXPECT_TRUE(model.has_value()) << model.status().message();
  return model.has_value() ? std::move(*model) : nullptr;
}

std::unique_ptr<Context> context(const Model& m, const std::string& type_k = "", const std::string& type_v = "") {
  ContextParams cp;
  cp.n_ctx = 128;
  cp.n_batch = 32;
  cp.type_k = type_k;
  cp.type_v = type_v;
  auto ctx = Context::create(m, cp);
  EXPECT_TRUE(ctx.has_value()) << ctx.status().message();
  return ctx.has_value() ? std::move(*ctx) : nullptr;
}

std::vector<Token> tokens(int n, int salt = 0) {
  std::vector<Token> t;
  for (int i = 0; i < n; ++i) t.push_back(static_cast<Token>((i * 37 + 11 + salt * 101) % 500 + 3));
  return t;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// Prompt in one context, saved; restored into a fresh one: the next tokens' logits are identical.
void expect_restore_is_exact(const std::string& dtype, const std::string& tk, const std::string& tv) {
  SCOPED_TRACE(dtype + " K " + tk + " V " + tv);
  auto m = load(dtype);
  const std::vector<Token> prompt = tokens(40), next = tokens(3, 1);
  const std::string path = test::temp_dir() + "/seq-" + dtype + tk + tv + ".kvs";
  auto a = context(*m, tk, tv);
  ASSERT_TRUE(a->eval(prompt, 0).is_ok());
  ASSERT_TRUE(a->save_sequence(0, prompt, path).is_ok());
  ASSERT_TRUE(a->eval(next, 40, false).is_ok());
  const std::vector<float> want(a->logits().begin(), a->logits().end());

  auto b = context(*m, tk, tv);
  auto restored = b->load_sequence(0, path);
  ASSERT_TRUE(restored.has_value()) << restored.status().message();
  EXPECT_EQ(*restored, prompt);
  EXPECT_EQ(b->sequence_length(0), 40);
  ASSERT_TRUE(b->eval(next, 40, false).is_ok());
  const std::vector<float> got(b->logits().begin(), b->logits().end());
  EXPECT_EQ(got, want);
}

TEST(PromptCache, RestoredSequenceContinuesBitForBit) {
  expect_restore_is_exact("F32", "", "");
  expect_restore_is_exact("Q8_0", "", "");
  expect_restore_is_exact("Q8_0", "q8_0", "q4_0");
}

TEST(PromptCache, ReusesTheLongestCommonPrefixButNeverTheLastToken) {
  auto m = load("Q8_0");
  const std::string path = test::temp_dir() + "/reuse.kvs";
  std::remove(path.c_str());
  auto ctx = context(*m);
  std::vector<Token> prompt = tokens(30);
  auto n = reuse_prompt_cache(*ctx, prompt, path);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 0);  // no file yet
  ASSERT_TRUE(ctx->eval(prompt, 0).is_ok());
  ASSERT_TRUE(save_prompt_cache(*ctx, prompt, path).is_ok());

  auto fresh = context(*m);
  n = reuse_prompt_cache(*fresh, prompt, path);
  ASSERT_TRUE(n.has_value()) << n.status().message();
  EXPECT_EQ(*n, 29);  // the same prompt: all but its last token
  EXPECT_EQ(fresh->sequence_length(0), 29);
  std::vector<Token> other = prompt;
  other[12] = other[12] + 1;
  other.push_back(7);
  n = reuse_prompt_cache(*fresh, other, path);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 12);
  EXPECT_EQ(fresh->sequence_length(0), 12);
  // Generation from the reused prefix equals generation from scratch.
  GenerateParams gp;
  gp.n_predict = 6;
  gp.sampling.temperature = 0;
  gp.n_past = *n;
  auto sink = [](std::string_view) { return true; };
  auto with = generate(*fresh, m->tokenizer(), other, gp, sink);
  gp.n_past = 0;
  auto without = generate(*ctx, m->tokenizer(), other, gp, sink);
  ASSERT_TRUE(with.has_value() && without.has_value());
  EXPECT_EQ(with->generated, without->generated);
  EXPECT_EQ(with->n_reused, 12);
}

TEST(PromptCache, ForeignDamagedOrTruncatedFilesAreClearErrors) {
  auto m = load("Q8_0");
  const std::vector<Token> prompt = tokens(20);
  const std::string path = test::temp_dir() + "/foreign.kvs";
  {
    auto other = load("Q8_0", 2);  // same shape, other weights
    auto octx = context(*other);
    ASSERT_TRUE(octx->eval(prompt, 0).is_ok());
    ASSERT_TRUE(octx->save_sequence(0, prompt, path).is_ok());
  }
  const std::string before = read_all(path);
  auto ctx = context(*m);
  ASSERT_TRUE(ctx->eval(tokens(5, 3), 0).is_ok());
  auto r = ctx->load_sequence(0, path);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("another model"), std::string::npos) << r.status().message();
  EXPECT_EQ(ctx->sequence_length(0), 5);  // unchanged
  auto n = reuse_prompt_cache(*ctx, prompt, path);
  EXPECT_FALSE(n.has_value());
  EXPECT_EQ(read_all(path), before);  // not overwritten

  ASSERT_TRUE(ctx->eval(prompt, 0).is_ok());
  ASSERT_TRUE(ctx->save_sequence(0, prompt, path).is_ok());
  auto f16 = context(*m, "f16", "q8_0");
  r = f16->load_sequence(0, path);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("KV types"), std::string::npos) << r.status().message();

  std::string bytes = read_all(path);
  const std::string cut = test::temp_dir() + "/cut.kvs", flipped = test::temp_dir() + "/flipped.kvs";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  bytes[bytes.size() / 2] ^= 1;
  std::ofstream(flipped, std::ios::binary) << bytes;
  for (const std::string& p : {cut, flipped}) {
    r = ctx->load_sequence(0, p);
    ASSERT_FALSE(r.has_value()) << p;
    EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().message();
    EXPECT_EQ(ctx->sequence_length(0), 20);
  }
  EXPECT_FALSE(ctx->save_sequence(0, tokens(3), path).is_ok());  // tokens must match the positions
  EXPECT_FALSE(ctx->save_sequence(5, prompt, path).is_ok());     // not open
}

std::unique_ptr<Context> budgeted(const Model& m, const std::string& policy, const std::string& budget) {
  ContextParams cp;
  cp.n_ctx = 128;
  cp.n_batch = 32;
  cp.kv_policy = policy;
  cp.kv_budget = budget;
  auto ctx = Context::create(m, cp);
  EXPECT_TRUE(ctx.has_value()) << ctx.status().message();
  return ctx.has_value() ? std::move(*ctx) : nullptr;
}

// A compacted sequence (h2o: rows and accumulated attention) saved and restored continues bit for
// bit, through further compactions; a file of another policy or budget is refused.
TEST(PromptCache, CompactedSequencesKeepTheirScores) {
  auto m = load("Q8_0");
  const std::string path = test::temp_dir() + "/h2o.kvs";
  for (const char* policy : {"h2o", "kvmerger", "window"}) {
    SCOPED_TRACE(policy);
    const std::vector<Token> text = tokens(80), more = tokens(40, 2);
    auto a = budgeted(*m, policy, "48");
    ASSERT_TRUE(a->eval(text, 0).is_ok());
    const int64_t slots = a->sequence_length(0);
    ASSERT_LT(slots, 80);  // compacted
    ASSERT_TRUE(a->save_sequence(0, text, path).is_ok());
    ASSERT_TRUE(a->eval(more, slots).is_ok());  // compacts again on the way
    const std::vector<float> want(a->logits().begin(), a->logits().end());
    auto b = budgeted(*m, policy, "48");
    auto r = b->load_sequence(0, path);
    ASSERT_TRUE(r.has_value()) << r.status().message();
    EXPECT_EQ(*r, text);
    ASSERT_EQ(b->sequence_length(0), slots);
    ASSERT_TRUE(b->eval(more, slots).is_ok());
    EXPECT_EQ(std::vector<float>(b->logits().begin(), b->logits().end()), want);
    auto fresh = context(*m);
    EXPECT_FALSE(reuse_prompt_cache(*fresh, text, path).has_value());  // full policy here
  }
  auto other_budget = budgeted(*m, "window", "64");
  auto r = other_budget->load_sequence(0, path);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("KV policy"), std::string::npos) << r.status().message();
}

TEST(PromptCache, FingerprintsTellModelsApart) {
  auto a = load("Q8_0"), b = load("Q8_0", 2), c = load("F32");
  EXPECT_EQ(a->info().fingerprint.size(), 64u);
  EXPECT_NE(a->info().fingerprint, b->info().fingerprint);
  EXPECT_NE(a->info().fingerprint, c->info().fingerprint);
  EXPECT_EQ(a->info().fingerprint, load("Q8_0")->info().fingerprint);
}

}  // namespace
}  // namespace mnemo
