// `mnemo eval passkey` and `mnemo gen-longctx` through the CLI: option errors (one line, exit 2 for
// usage, 1 for files), and the committed long-context model recalling the key from far back while
// failing without the needle.
#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

#include "test_util.h"

namespace mnemo::test {
namespace {

std::string repo_model(const std::string& name) { return std::string(MNEMO_SOURCE_DIR) + "/models/" + name; }

void expect_error(const ProcessResult& r, int code, const std::string& needle) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_EQ(r.err.rfind("mnemo: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

std::vector<std::string> passkey(std::vector<std::string> extra) {
  std::vector<std::string> a{mnemo_bin(), "eval", "passkey", "-m", repo_model("mnemo-stories.gguf")};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(EvalPasskeyCli, OptionErrors) {
  // mnemo-stories has a context of 1024: the default lengths (up to 2048) do not fit.
  expect_error(run_process(passkey({})), 2, "--lengths 2048: expected at most the context of 1024 positions (-c)");
  expect_error(run_process(passkey({"--lengths", "256", "--depths", "0,1.5"})), 2, "--depths 1.5");
  expect_error(run_process(passkey({"--lengths", "10"})), 2, "--lengths 10: expected at least");
  expect_error(run_process(passkey({"--lengths", "256", "--trials", "0"})), 2, "--trials 0");
  expect_error(run_process(passkey({"--lengths", "256", "--digits", "19"})), 2, "--digits 19");
  expect_error(run_process(passkey({"--lengths", "256", "-c", "-5"})), 1, "-c -5");
  expect_error(run_process(passkey({"--lengths", "256", "--filler", "/nonexistent/filler.txt"})), 1,
               "/nonexistent/filler.txt");
  const std::string empty = temp_dir() + "/empty.txt";
  std::ofstream(empty) << "\n  \n";
  expect_error(run_process(passkey({"--lengths", "256", "--filler", empty})), 1, "expected filler text");
  expect_error(run_process({mnemo_bin(), "eval", "passkey", "-m", "/nonexistent/model.gguf", "--lengths", "256"}), 1,
               "/nonexistent/model.gguf");
  // Usage: no task, no model, unparsable values (CLI11's messages).
  EXPECT_EQ(run_process({mnemo_bin(), "eval"}).exit_code, 2);
  EXPECT_EQ(run_process({mnemo_bin(), "eval", "passkey"}).exit_code, 2);
  EXPECT_EQ(run_process(passkey({"--lengths", "abc"})).exit_code, 2);
  EXPECT_EQ(run_process(passkey({"--depths", "x"})).exit_code, 2);
}

TEST(EvalPasskeyCli, RunsOnAShortContextModelWithJson) {
  const ProcessResult r = run_process(passkey({"--lengths", "128,256", "--depths", "0,1", "--trials", "2", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["n"], 8);
  EXPECT_EQ(j["cells"].size(), 4u);
  EXPECT_EQ(j["cells"][3]["length"], 256);
  EXPECT_EQ(j["cells"][3]["depth"], 1.0);
  EXPECT_GE(j["accuracy"].get<double>(), 0.0);
}

TEST(GenLongCtxCli, DeterministicAndErrors) {
  const std::string dir = temp_dir();
  auto gen = [&](const std::string& out, const std::string& seed) {
    return run_process({mnemo_bin(), "gen-longctx", "-z", repo_model("mnemo-stories.gguf"), "--builtin-filler", "1",
                        "--docs", "3", "--seq-len", "512", "--seed", seed, "-o", out, "--index", out + ".jsonl", "--json"});
  };
  ASSERT_EQ(gen(dir + "/a.txt", "3").exit_code, 0);
  ASSERT_EQ(gen(dir + "/b.txt", "3").exit_code, 0);
  ASSERT_EQ(gen(dir + "/c.txt", "4").exit_code, 0);
  auto read = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(read(dir + "/a.txt"), read(dir + "/b.txt"));
  EXPECT_NE(read(dir + "/a.txt"), read(dir + "/c.txt"));
  EXPECT_NE(read(dir + "/a.txt.jsonl").find("\"kind\": \"passkey_needle\""), std::string::npos);
  expect_error(run_process({mnemo_bin(), "gen-longctx", "-z", repo_model("mnemo-stories.gguf"), "-o", dir + "/e.txt",
                            "--seq-len", "100"}),
               2, "--seq-len 100");
  // Without stories or a play, not every document can be on the built-in filler.
  expect_error(run_process({mnemo_bin(), "gen-longctx", "-z", repo_model("mnemo-stories.gguf"), "-o", dir + "/f.txt"}), 2,
               "filler");
  expect_error(run_process({mnemo_bin(), "gen-longctx", "-z", repo_model("mnemo-stories.gguf"), "-o", dir + "/g.txt",
                            "--stories", "/nonexistent/stories.txt"}),
               1, "/nonexistent/stories.txt");
  EXPECT_FALSE(exists(dir + "/e.txt"));
}

// The committed long-context model (docs/TRAINING.md): the key is recalled from up to 2,000 tokens
// back, and not without the needle. Thresholds sit well below the measured accuracy and well above
// chance (1e-5 for 5 digits), so a model that ignores the context, or an evaluation that loses the
// needle, fails.
TEST(EvalPasskeyCli, LongContextModelRecallsTheKey) {
  const std::string model = repo_model("mnemo-longctx.gguf");
  if (!exists(model)) GTEST_SKIP() << "not found: " << model;
  auto run = [&](bool needle) {
    std::vector<std::string> a{mnemo_bin(), "eval",    "passkey", "-m",       model, "--lengths", "512,2048",
                               "--depths",  "0.25,0.5,1", "--trials", "4",    "--json"};
    if (!needle) a.push_back("--no-needle");
    const ProcessResult r = run_process(a);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
  };
  const auto with = run(true);
  const auto without = run(false);
  ASSERT_TRUE(with.contains("accuracy") && without.contains("accuracy"));
  // Measured (docs/TRAINING.md, 10 trials per cell): 90-100% at these depths except 70-80% with the
  // needle right before the question at 512; at 2,048 tokens with the needle 1,500 tokens back, 90%.
  EXPECT_GE(with["accuracy"].get<double>(), 0.75) << with.dump();
  for (const auto& cell : with["cells"]) {
    EXPECT_GE(cell["accuracy"].get<double>(), 0.5) << cell.dump();
  }
  EXPECT_GE(with["cells"][3]["accuracy"].get<double>(), 0.75) << with["cells"][3].dump();  // 2048, depth 0.25
  EXPECT_LE(without["accuracy"].get<double>(), 0.1) << without.dump();
  EXPECT_GT(without["nll"].get<double>(), with["nll"].get<double>() + 1.0);
}

}  // namespace
}  // namespace mnemo::test
