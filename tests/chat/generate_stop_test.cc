// generate()'s chat additions (include/mnemo/generate.h): stop tokens end a turn like EOS, and
// n_past continues from a cache that already holds the prompt's first tokens, giving what a fresh
// evaluation gives. On the committed models/mnemo-stories.gguf.
#include <gtest/gtest.h>

#include <algorithm>

#include "mnemo/mnemo.h"
#include "mnemo/generate.h"
#include "test_util.h"

namespace mnemo {
namespace {

struct Result {
  GenerateStats stats;
  std::string text;
};

Result greedy(Context& ctx, const Tokenizer& tok, const std::vector<Token>& prompt, int64_t n, std::vector<Token> stop = {},
           int64_t n_past = 0) {
  GenerateParams gp;
  gp.n_predict = n;
  gp.sampling.temperature = 0;
  gp.stop_tokens = std::move(stop);
  gp.n_past = n_past;
  Result r;
  auto st = generate(ctx, tok, prompt, gp, [&](std::string_view p) {
    r.text.append(p);
    return true;
  });
  EXPECT_TRUE(st.has_value()) << st.status().message();
  if (st) r.stats = *st;
  return r;
}

class GenerateChat : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf";
    if (!test::exists(path)) GTEST_SKIP() << "not found: " << path;
    auto m = Model::load(path);
    ASSERT_TRUE(m.has_value()) << m.status().message();
    model_ = std::move(m).value();
    ContextParams cp;
    cp.n_ctx = 256;
    auto c = Context::create(*model_, cp);
    ASSERT_TRUE(c.has_value()) << c.status().message();
    ctx_ = std::move(c).value();
  }
  std::unique_ptr<Model> model_;
  std::unique_ptr<Context> ctx_;
};

TEST_F(GenerateChat, StopTokenEndsGeneration) {
  const Tokenizer& tok = model_->tokenizer();
  const std::vector<Token> prompt = tok.encode("Once upon a time", true);
  const Result full = greedy(*ctx_, tok, prompt, 16);
  ASSERT_EQ(full.stats.generated.size(), 16u);
  const Token stop = full.stats.generated[5];
  const size_t first = std::find(full.stats.generated.begin(), full.stats.generated.end(), stop) - full.stats.generated.begin();
  const Result cut = greedy(*ctx_, tok, prompt, 16, {stop});
  EXPECT_TRUE(cut.stats.hit_eos);
  EXPECT_EQ(cut.stats.stop_token, stop);
  EXPECT_EQ(cut.stats.n_generated, static_cast<int64_t>(first) + 1);
  EXPECT_EQ(full.text.rfind(cut.text, 0), 0u);  // the same text, up to the stop token (not printed)
}

TEST_F(GenerateChat, ContinuingFromTheCacheEqualsAFreshRun) {
  const Tokenizer& tok = model_->tokenizer();
  std::vector<Token> prompt = tok.encode("Once upon a time", true);
  const Result first = greedy(*ctx_, tok, prompt, 8);
  // The cache now holds the prompt and all generated tokens but the last.
  EXPECT_EQ(ctx_->n_past(), static_cast<int64_t>(prompt.size() + first.stats.generated.size() - 1));
  std::vector<Token> longer = prompt;
  longer.insert(longer.end(), first.stats.generated.begin(), first.stats.generated.end());
  const std::vector<Token> more = tok.encode(" The dog", false);
  longer.insert(longer.end(), more.begin(), more.end());
  const int64_t cached = ctx_->n_past();
  const Result continued = greedy(*ctx_, tok, longer, 8, {}, cached);
  EXPECT_EQ(continued.stats.n_reused, cached);
  EXPECT_EQ(continued.stats.n_prompt, static_cast<int64_t>(longer.size()) - cached);
  const Result fresh = greedy(*ctx_, tok, longer, 8);
  EXPECT_EQ(continued.text, fresh.text);
  GenerateParams bad;
  bad.n_past = static_cast<int64_t>(longer.size());
  auto err = generate(*ctx_, tok, longer, bad, [](std::string_view) { return true; });
  ASSERT_FALSE(err.has_value());
  EXPECT_EQ(err.status().code(), StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace mnemo
