// KV cache types through the CLI: each command reports the types it used, the defaults follow the
// rule (f16; f32 for F32 weights), and -ctk/-ctv are llama.cpp's spellings of the long options.
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace mnemo::test {
namespace {

const std::string kMnemoStories = std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf";

TEST(CliKvTypes, RunReportsTheTypes) {
  ProcessResult r = run_process({mnemo_bin(), "run", "-m", kMnemoStories, "-p", "Once upon a time",
                                 "-n", "8", "--temp", "0", "-ctk", "q8_0", "-ctv", "q4_0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("KV (K q8_0, V q4_0)"), std::string::npos) << r.err;
  r = run_process({mnemo_bin(), "run", "-m", kMnemoStories, "-p", "Once upon a time", "-n", "4",
                   "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("KV (K f16, V f16)"), std::string::npos) << "F16 weights: the F16 default\n"
                                                                << r.err;
}

TEST(CliKvTypes, DefaultIsF32ForF32Weights) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  ProcessResult r =
      run_process({mnemo_bin(), "run", "-m", data_path("models/stories260K.bin"), "-z",
                   data_path("models/tok512.bin"), "-p", "Once", "-n", "4", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("KV (K f32, V f32)"), std::string::npos) << r.err;
}

TEST(CliKvTypes, BenchJsonReportsTypesLikeLlamaBench) {
  ProcessResult r = run_process({mnemo_bin(), "bench", "-m", kMnemoStories, "-p", "16", "-n", "4",
                                 "-r", "1", "-t", "1", "--cache-type-k", "q4_0", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  for (const auto& row : j) {
    EXPECT_EQ(row["type_k"], "q4_0");
    EXPECT_EQ(row["type_v"], "f16");
  }
}

TEST(CliKvTypes, PerplexityJsonReportsTypes) {
  MNEMO_REQUIRE_DATA("text/tinystories_val.txt");
  ProcessResult r = run_process({mnemo_bin(), "perplexity", "-m", kMnemoStories, "-f",
                                 data_path("text/tinystories_val.txt"), "-c", "64", "--chunks", "2",
                                 "-ctk", "f32", "-ctv", "q8_0", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["type_k"], "f32");
  EXPECT_EQ(j["type_v"], "q8_0");
  EXPECT_GT(j["ppl"].get<double>(), 1.0);
}

}  // namespace
}  // namespace mnemo::test
