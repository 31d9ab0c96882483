// tests/tools/cli_perplexity_check.h: `mnemo perplexity` against llama.cpp's llama-perplexity on
// the same model, text, context and KV cache type (the run's kv_cache_type, or type_k/type_v,
// passed as
// --cache-type-k/-v): within 0.05% for F32 weights and 0.2% for Q8_0/Q4_0. Goldens:
// tests/data/golden/perplexity.json (stories260K, paths relative to $MNEMO_DATA) and
// perplexity_kv.json (mnemo-stories, paths relative to the repository), both from llama.cpp
// c392e50. CI scores 100 chunks (label model); the whole text is label `full`, run by hand.
#pragma once

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace mnemo::test {

inline nlohmann::json reference_run(const std::string& golden, const std::string& run_name) {
  std::ifstream in(golden_path("golden/" + golden));
  nlohmann::json j = nlohmann::json::parse(in);
  for (const auto& r : j["runs"]) {
    if (r["name"] == run_name) return r;
  }
  ADD_FAILURE() << "no run " << run_name << " in " << golden;
  return nlohmann::json::object();
}

// mnemo perplexity on `model_path` with the run's context, chunk count (-1: the whole text) and KV
// cache types, against the run's ppl.
inline void check_perplexity_run(const std::string& golden, const std::string& run_name,
                                 const std::string& model_path, int chunks, double rel_tol) {
  const nlohmann::json run = reference_run(golden, run_name);
  ASSERT_TRUE(run.contains("ppl"));
  const std::string type_k = run.value("type_k", run.value("kv_cache_type", std::string()));
  const std::string type_v = run.value("type_v", run.value("kv_cache_type", std::string()));
  const int n_ctx = run["n_ctx"].get<int>();
  std::vector<std::string> argv = {mnemo_bin(), "perplexity",
                                   "-m",        model_path,
                                   "-f",        data_path("text/tinystories_val.txt"),
                                   "-c",        std::to_string(n_ctx),
                                   "--json",    "-t",
                                   "2",         "--cache-type-k",
                                   type_k,      "--cache-type-v",
                                   type_v};
  if (chunks > 0) {
    argv.push_back("--chunks");
    argv.push_back(std::to_string(chunks));
  }
  ProcessResult r = run_process(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json out = nlohmann::json::parse(r.out);
  const double want = run["ppl"].get<double>();
  const double got = out["ppl"].get<double>();
  EXPECT_EQ(out["type_k"], type_k);
  EXPECT_EQ(out["type_v"], type_v);
  EXPECT_LE(std::fabs(got - want) / want, rel_tol)
      << model_path << " (K " << type_k << ", V " << type_v << "): mnemo " << got << ", llama.cpp "
      << want;
  if (chunks > 0) {
    EXPECT_EQ(out["n_chunks"].get<int>(), chunks);
    EXPECT_EQ(out["n_scored"].get<int>(), chunks * (n_ctx - 1 - n_ctx / 2));
  }
  EXPECT_GT(out["ppl_stderr"].get<double>(), 0.0);
}

// A stories260K run of perplexity.json.
inline void check_perplexity(const std::string& model, int chunks, const std::string& run_name,
                             double rel_tol) {
  MNEMO_REQUIRE_DATA("models/" + model);
  check_perplexity_run("perplexity.json", run_name, data_path("models/" + model), chunks, rel_tol);
}

}  // namespace mnemo::test
