// tests/tools/cli_perplexity_check.h: `mnemo perplexity` against llama.cpp's llama-perplexity on the same model, text and context
// (tests/data/golden/perplexity.json, produced by llama.cpp c392e50 with an F32 KV cache, as
// mnemo's): within 0.05% for F32 weights and 0.2% for Q8_0/Q4_0. CI scores 100 chunks (label
// model); the whole text is label `full`, run by hand.
#pragma once

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace mnemo::test {

inline double reference_ppl(const std::string& run_name) {
  std::ifstream in(golden_path("golden/perplexity.json"));
  nlohmann::json j = nlohmann::json::parse(in);
  for (const auto& r : j["runs"]) {
    if (r["name"] == run_name) return r["ppl"].get<double>();
  }
  ADD_FAILURE() << "no run " << run_name << " in perplexity.json";
  return 0;
}

inline void check_perplexity(const std::string& model, int chunks, const std::string& run_name, double rel_tol) {
  MNEMO_REQUIRE_DATA("models/" + model);
  std::vector<std::string> argv = {mnemo_bin(), "perplexity", "-m", data_path("models/" + model), "-f",
                                   data_path("text/tinystories_val.txt"), "-c", "128", "--json", "-t", "2"};
  if (chunks > 0) {
    argv.push_back("--chunks");
    argv.push_back(std::to_string(chunks));
  }
  ProcessResult r = run_process(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json out = nlohmann::json::parse(r.out);
  const double want = reference_ppl(run_name);
  const double got = out["ppl"].get<double>();
  EXPECT_LE(std::fabs(got - want) / want, rel_tol) << model << ": mnemo " << got << ", llama.cpp " << want;
  if (chunks > 0) {
    EXPECT_EQ(out["n_chunks"].get<int>(), chunks);
    EXPECT_EQ(out["n_scored"].get<int>(), chunks * (128 - 1 - 64));
  }
  EXPECT_GT(out["ppl_stderr"].get<double>(), 0.0);
}

}  // namespace mnemo::test
