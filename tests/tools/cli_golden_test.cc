// Greedy text from `mnemo run` must be byte-identical with llama2.c's run for every committed
// prompt (tests/data/golden/llama2c_greedy.jsonl, produced by llama2.c itself), from the llama2.c
// checkpoint, from the GGUF converted by llama.cpp, and from the GGUF mnemo converts itself.
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace mnemo::test {
namespace {

struct Golden {
  std::string id, prompt, stdout_text;
  int n_generate = 0;
};

std::vector<Golden> load_goldens() {
  std::vector<Golden> out;
  std::ifstream in(golden_path("golden/llama2c_greedy.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    out.push_back({j["id"], j["prompt"], j["stdout"], j["n_generate"]});
  }
  return out;
}

// Index of the first differing byte, for a readable failure.
std::string first_difference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return "first difference at byte " + std::to_string(i) + ": expected ..." + b.substr(i > 20 ? i - 20 : 0, 60) +
         "... got ..." + a.substr(i > 20 ? i - 20 : 0, 60) + "...";
}

void expect_goldens(const std::vector<std::string>& model_args, const std::string& label) {
  const auto goldens = load_goldens();
  ASSERT_GE(goldens.size(), 20u);
  for (const Golden& g : goldens) {
    std::vector<std::string> argv = {mnemo_bin(), "run"};
    argv.insert(argv.end(), model_args.begin(), model_args.end());
    for (const std::string& a : {std::string("-p"), g.prompt, std::string("-n"), std::to_string(g.n_generate),
                                 std::string("--temp"), std::string("0"), std::string("-q"), std::string("-t"),
                                 std::string("1")}) {
      argv.push_back(a);
    }
    ProcessResult r = run_process(argv);
    ASSERT_EQ(r.exit_code, 0) << label << " prompt " << g.id << ": " << r.err;
    EXPECT_EQ(r.out, g.stdout_text) << label << " prompt " << g.id << ": " << first_difference(r.out, g.stdout_text);
  }
}

TEST(CliGolden, Llama2cCheckpoint) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  expect_goldens({"-m", data_path("models/stories260K.bin"), "-z", data_path("models/tok512.bin")}, "stories260K.bin");
}

TEST(CliGolden, GgufFromLlamaCpp) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  expect_goldens({"-m", data_path("models/stories260K.gguf"), "-c", "512"}, "stories260K.gguf");
}

TEST(CliGolden, GgufConvertedByMnemo) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  const std::string out = temp_dir() + "/stories260K-mnemo.gguf";
  ProcessResult c = run_process({mnemo_bin(), "convert", data_path("models/stories260K.bin"), "-z",
                                 data_path("models/tok512.bin"), "-o", out});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  expect_goldens({"-m", out}, "converted gguf");

  // llama.cpp loaded this very file (same SHA-256) and generated llama2.c's tokens for every
  // prompt: tests/data/golden/llamacpp_on_mnemo_gguf.json, produced by llama.cpp c392e50.
  std::ifstream in(golden_path("golden/llamacpp_on_mnemo_gguf.json"));
  nlohmann::json ref = nlohmann::json::parse(in);
  ProcessResult sha = run_process({"/usr/bin/sha256sum", out});
  EXPECT_EQ(sha.out.substr(0, 64), ref["model_sha256"].get<std::string>()) << "mnemo convert output changed";
  std::map<std::string, std::vector<int>> llama2c_tokens;
  std::ifstream gin(golden_path("golden/llama2c_greedy.jsonl"));
  std::string line;
  while (std::getline(gin, line)) {
    auto j = nlohmann::json::parse(line);
    llama2c_tokens[j["id"]] = j["generated_tokens"].get<std::vector<int>>();
  }
  ASSERT_EQ(ref["runs"].size(), llama2c_tokens.size());
  for (const auto& run : ref["runs"]) {
    const auto& want = llama2c_tokens[run["id"]];
    std::vector<int> got = run["generated_tokens"].get<std::vector<int>>();
    got.resize(std::min(got.size(), want.size()));
    EXPECT_EQ(got, want) << "llama.cpp on mnemo's GGUF, prompt " << run["id"];
  }
  std::remove(out.c_str());
}

// Sampling with a seed gives the same text at any thread count.
TEST(CliGolden, SeededSamplingIndependentOfThreads) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  std::string first;
  for (const char* threads : {"1", "2", "3"}) {
    ProcessResult r = run_process({mnemo_bin(), "run", "-m", data_path("models/stories260K.bin"), "-z",
                                   data_path("models/tok512.bin"), "-p", "Once upon a time", "-n", "120", "--temp",
                                   "0.9", "--seed", "7", "-q", "-t", threads});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (first.empty()) {
      first = r.out;
      EXPECT_GT(first.size(), 100u);
    } else {
      EXPECT_EQ(r.out, first) << "threads " << threads;
    }
  }
  ProcessResult other = run_process({mnemo_bin(), "run", "-m", data_path("models/stories260K.bin"), "-z",
                                     data_path("models/tok512.bin"), "-p", "Once upon a time", "-n", "120", "--temp",
                                     "0.9", "--seed", "8", "-q", "-t", "2"});
  EXPECT_NE(other.out, first) << "a different seed should give different text";
}

}  // namespace
}  // namespace mnemo::test
