// With an F32 KV cache, logits are bit-identical to mnemo's before KV types existed (commit
// ea8ec02), on every SIMD target this CPU runs: the typed-row attention must not change the F32
// path by a single bit.
//
// tests/data/golden/kv_f32_logits.json holds, per model and Highway target, the SHA-256 of the
// logits of a fixed sequence (a 10-token prompt, then 20 decode steps: 21 rows of n_vocab f32),
// written by this test at ea8ec02 with MNEMO_WRITE_GOLDEN=1 (tests/data/README.md). Fewer than 16
// tokens per forward pass, so OpenBLAS (whose kernels depend on the CPU) is never used: the
// result depends only on the Highway target. Targets absent from the file are skipped.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/sha256.h"
#include "hwy/tests/hwy_gtest.h"
#include "mnemo/mnemo.h"
#include "test_util.h"

namespace mnemo {
namespace {

class KvF32Identity : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(KvF32Identity);

// SHA-256 of the logits of the prompt's last token and of 20 greedy decode steps.
std::string logits_digest(const std::string& path) {
  auto m = Model::load(path);
  EXPECT_TRUE(m.has_value()) << m.status().message();
  if (!m.has_value()) return "";
  ContextParams cp;
  cp.n_ctx = 64;
  cp.n_batch = 16;
  cp.type_k = "f32";
  cp.type_v = "f32";
  auto ctx = Context::create(**m, cp);
  EXPECT_TRUE(ctx.has_value()) << ctx.status().message();
  if (!ctx.has_value()) return "";
  const int64_t nv = (*m)->info().n_vocab;
  std::vector<Token> prompt = {1, 403, 407, 261, 378, 426, 395, 285, 13, 300};
  for (Token& t : prompt) t %= static_cast<Token>(nv);
  std::vector<float> all;
  EXPECT_TRUE((*ctx)->eval(prompt, 0).is_ok());
  int64_t pos = static_cast<int64_t>(prompt.size());
  for (int step = 0; step <= 20; ++step) {
    auto l = (*ctx)->logits();
    all.insert(all.end(), l.begin(), l.end());
    if (step == 20) break;
    const Token next = static_cast<Token>(std::max_element(l.begin(), l.end()) - l.begin());
    EXPECT_TRUE((*ctx)->eval(std::span<const Token>(&next, 1), pos++).is_ok());
  }
  return sha256_hex(all.data(), all.size() * sizeof(float));
}

void check(const std::string& target, const std::string& name, const std::string& path) {
  const std::string got = logits_digest(path);
  if (std::getenv("MNEMO_WRITE_GOLDEN") != nullptr) {
    std::printf("GOLDEN %s %s %s\n", name.c_str(), target.c_str(), got.c_str());
    return;
  }
  std::ifstream in(test::golden_path("golden/kv_f32_logits.json"));
  ASSERT_TRUE(in.good());
  const nlohmann::json j = nlohmann::json::parse(in);
  if (!j["sha256"][name].contains(target)) GTEST_SKIP() << "no digest for target " << target;
  EXPECT_EQ(got, j["sha256"][name][target].get<std::string>()) << name << " on " << target;
}

TEST_P(KvF32Identity, Stories260K) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  check(hwy::TargetName(GetParam()), "stories260K.gguf",
        test::data_path("models/stories260K.gguf"));
}

TEST_P(KvF32Identity, Stories260KQ4_0) {
  MNEMO_REQUIRE_DATA("models/stories260K-Q4_0.gguf");
  check(hwy::TargetName(GetParam()), "stories260K-Q4_0.gguf",
        test::data_path("models/stories260K-Q4_0.gguf"));
}

TEST_P(KvF32Identity, MnemoStories) {
  const std::string path = std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf";
  if (!test::exists(path)) GTEST_SKIP() << path << " absent";
  check(hwy::TargetName(GetParam()), "mnemo-stories.gguf", path);
}

}  // namespace
}  // namespace mnemo
