// `mnemo batched-bench`: one JSON row per (PP, TG, B) that fits -c, as llama-batched-bench; bad
// lists are usage errors.
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

namespace mnemo::test {
namespace {

TEST(CliBatchedBench, RowsLikeLlamaBatchedBench) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  ProcessResult r = run_process({mnemo_bin(), "batched-bench", "-m", data_path("models/stories260K.gguf"), "-c", "48",
                                 "--npp", "8,16", "--ntg", "4", "--npl", "1,2,4", "-t", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  // B * (PP + TG) <= 48: (8, 1), (8, 2), (8, 4), (16, 1), (16, 2); (16, 4) is skipped.
  ASSERT_EQ(rows.size(), 5u) << r.out;
  for (const auto& j : rows) {
    EXPECT_LE(j["pl"].get<int>() * (j["pp"].get<int>() + j["tg"].get<int>()), 48);
    EXPECT_EQ(j["n_kv"].get<int>(), j["pl"].get<int>() * (j["pp"].get<int>() + j["tg"].get<int>()));
    EXPECT_GT(j["speed_pp"].get<double>(), 0.0);
    EXPECT_GT(j["speed_tg"].get<double>(), 0.0);
  }
}

TEST(CliBatchedBench, BadListIsUsageError) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  ProcessResult r = run_process({mnemo_bin(), "batched-bench", "-m", data_path("models/stories260K.gguf"), "--npl", "1,0"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--npl"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

}  // namespace
}  // namespace mnemo::test
