// KV budget policies through the CLI (--kv-policy, --kv-budget, --kv-sinks, --kv-recent, declared
// once in tools/mnemo/common_options.h): perplexity against the full-cache reference, passkey and
// run with a policy, and the errors (exit codes and the option named).
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace mnemo::test {
namespace {

const std::string kLongCtx = std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-longctx.gguf";

TEST(CliKvPolicy, PerplexityAgainstTheFullCache) {
  MNEMO_REQUIRE_DATA("text/tinystories_val.txt");
  ProcessResult r = run_process({mnemo_bin(), "perplexity", "-m", kLongCtx, "-f", data_path("text/tinystories_val.txt"),
                                 "-c", "256", "--chunks", "2", "--kv-policy", "h2o", "--kv-budget", "0.35",
                                 "--kl-ref", kLongCtx, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kv_policy"], "h2o");
  EXPECT_EQ(j["kv_budget"], 89);  // floor(0.35 * 256)
  EXPECT_GT(j["kv_compactions"].get<int64_t>(), 0);
  EXPECT_GT(j["kl"].get<double>(), 0.0);  // the budget matters
  EXPECT_LT(j["top1"].get<double>(), 1.0 + 1e-12);
  EXPECT_GT(j["ppl"].get<double>(), 1.0);
}

TEST(CliKvPolicy, PasskeyAndRunWithAPolicy) {
  ProcessResult r = run_process({mnemo_bin(), "eval", "passkey", "-m", kLongCtx, "--lengths", "256", "--depths", "0.5",
                                 "--trials", "2", "--kv-policy", "sinks", "--kv-budget", "128", "--kv-sinks", "4",
                                 "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kv_policy"], "sinks");
  EXPECT_EQ(j["kv_budget"], 128);
  // run: generation goes past the context size when a policy compacts.
  r = run_process({mnemo_bin(), "run", "-m", kLongCtx, "-p", "Once upon a time", "-n", "100", "--temp", "0", "-c", "64",
                   "--kv-policy", "window", "--kv-budget", "32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("stopped at the context size"), std::string::npos) << r.err;
}

TEST(CliKvPolicy, ContextShiftGoesPastTheContext) {
  ProcessResult r = run_process({mnemo_bin(), "run", "-m", kLongCtx, "-p", "Once upon a time", "-n", "150", "--temp", "0",
                                 "-c", "64", "--context-shift", "--keep", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("context shifts"), std::string::npos) << r.err;
  r = run_process({mnemo_bin(), "run", "-m", kLongCtx, "-p", "Once upon a time", "-n", "150", "--temp", "0", "-c", "64"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("stopped at the context size"), std::string::npos) << r.err;
}

TEST(CliKvPolicy, BadOptionsAreClearErrors) {
  ProcessResult r = run_process({mnemo_bin(), "eval", "passkey", "-m", kLongCtx, "--lengths", "256", "--kv-policy", "lru",
                                 "--kv-budget", "0.5"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // a usage error: not one of the policies
  EXPECT_NE(r.err.find("--kv-policy"), std::string::npos) << r.err;
  r = run_process({mnemo_bin(), "eval", "passkey", "-m", kLongCtx, "--lengths", "256", "--kv-policy", "sinks",
                   "--kv-budget", "3"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--kv-budget"), std::string::npos) << r.err;
  r = run_process({mnemo_bin(), "eval", "passkey", "-m", kLongCtx, "--lengths", "256", "--kv-policy", "h2o",
                   "--kv-budget", "1.5"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--kv-budget"), std::string::npos) << r.err;
  r = run_process({mnemo_bin(), "eval", "passkey", "-m", kLongCtx, "--lengths", "256", "--kv-budget", "0.5"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--kv-budget"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mnemo::test
