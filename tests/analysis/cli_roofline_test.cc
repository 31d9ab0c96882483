// `mnemo roofline` and `mnemo hw` profiles as users run them, on stories260K from $MNEMO_DATA:
// reports, the SVG plot, saved profiles, and bad input (one error line, exit 1; usage errors 2).
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace mnemo::test {
namespace {

const char* kModel = "models/stories260K.gguf";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void expect_error(const ProcessResult& r, int code, const std::string& needle) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_EQ(r.err.rfind("mnemo: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliRoofline, TableOnABuiltinProfile) {
  MNEMO_REQUIRE_DATA(kModel);
  ProcessResult r = run_process({mnemo_bin(), "roofline", "-m", data_path(kModel), "--hw", "a100-80gb", "-p", "64",
                                 "-n", "16", "-t", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"## prefill: 64 tokens", "## decode: 16 tokens", "| q_proj |", "| lm_head |", "| qk |",
                        "predicted pp64:", "predicted tg16:", "**one layer**"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " in:\n" << r.out;
  }
}

TEST(CliRoofline, JsonAndSvg) {
  MNEMO_REQUIRE_DATA(kModel);
  const std::string svg = temp_dir() + "/plot.svg";
  ProcessResult r = run_process({mnemo_bin(), "roofline", "-m", data_path(kModel), "--hw", "pim-gpt", "-p", "32",
                                 "-n", "8", "--n-past", "4", "--json", "--svg", svg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["stages"].size(), 2u);
  EXPECT_EQ(j["stages"][0]["stage"], "prefill");
  EXPECT_EQ(j["stages"][1]["stage"], "decode");
  EXPECT_EQ(j["stages"][1]["n_ctx"], 4);
  EXPECT_GT(j["stages"][1]["tokens_per_s"].get<double>(), 0.0);
  EXPECT_EQ(j["profile"]["name"], "pim-gpt");
  double sum = 0;
  for (const auto& op : j["stages"][0]["ops"]) sum += op["seconds"].get<double>();
  EXPECT_NEAR(sum, j["stages"][0]["seconds"].get<double>(), 1e-12 + 1e-9 * sum);
  const std::string plot = read_all(svg);
  EXPECT_EQ(plot.rfind("<svg", 0), 0u);
  EXPECT_NE(plot.find("</svg>"), std::string::npos);
}

// The cache the roofline counts is the one a context of these types reserves (kv_cache_types):
// stories260K's default is F32 (F32 weights); -ctk/-ctv change it.
TEST(CliRoofline, KvBytesFollowTheCacheTypes) {
  MNEMO_REQUIRE_DATA(kModel);
  auto kv_bytes = [](std::vector<std::string> extra) {
    std::vector<std::string> argv = {mnemo_bin(), "roofline",  "-m",    data_path(kModel),
                                     "--hw",      "a100-80gb", "-p",    "0",
                                     "-n",        "8",         "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessResult r = run_process(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0
               ? nlohmann::json::parse(r.out)["stages"][0]["kv_bytes_per_value"].get<double>()
               : -1.0;
  };
  EXPECT_EQ(kv_bytes({}), 4.0);
  EXPECT_EQ(kv_bytes({"-ctk", "f16", "-ctv", "f16"}), 2.0);
  EXPECT_EQ(kv_bytes({"--cache-type-k", "f32", "--cache-type-v", "f16"}), 3.0);
}

TEST(CliRoofline, SavedProfileRoundTrip) {
  MNEMO_REQUIRE_DATA(kModel);
  const std::string dir = temp_dir();
  const std::string profile = dir + "/hw.json";
  ProcessResult hw = run_process({mnemo_bin(), "hw", "-t", "1", "--size", "8", "-r", "1", "--types", "f32",
                                  "--batches", "1,16", "--save", profile, "--json"});
  ASSERT_EQ(hw.exit_code, 0) << hw.err;
  const nlohmann::json j = nlohmann::json::parse(hw.out);
  EXPECT_EQ(j["profile"]["format"], "mnemo-hardware-profile");
  EXPECT_GT(j["bandwidth"][0]["best_gb_s"].get<double>(), 0.0);
  ProcessResult shown = run_process({mnemo_bin(), "hw", "--load", profile, "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(nlohmann::json::parse(shown.out), j["profile"]);
  // stories260K is F32: the saved f32 roofs cover it.
  ProcessResult r = run_process({mnemo_bin(), "roofline", "-m", data_path(kModel), "--hw", profile, "-p", "16", "-n",
                                 "4", "-t", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(nlohmann::json::parse(r.out)["stages"][0]["tokens_per_s"].get<double>(), 0.0);
}

TEST(CliRoofline, BadInput) {
  MNEMO_REQUIRE_DATA(kModel);
  const std::string m = data_path(kModel);
  expect_error(run_process({mnemo_bin(), "roofline", "-m", m, "--hw", "no-such-device"}), 1, "--hw");
  const std::string dir = temp_dir();
  const std::string bad = dir + "/bad.json";
  std::ofstream(bad) << R"({"format": "mnemo-hardware-profile", "version": 1, "name": "x",
    "bandwidth": [{"threads": 1, "gb_s": 0}], "compute": [{"kind": "*", "batch": 1, "threads": 0, "gflop_s": 1}]})";
  expect_error(run_process({mnemo_bin(), "roofline", "-m", m, "--hw", bad}), 1, "bandwidth[0].gb_s");
  std::ofstream(dir + "/garbage.json") << "{ nope";
  expect_error(run_process({mnemo_bin(), "roofline", "-m", m, "--hw", dir + "/garbage.json"}), 1,
               "malformed JSON");
  expect_error(run_process({mnemo_bin(), "roofline", "-m", m, "--hw", "a100-80gb", "-b", "0"}), 1,
               "-b");
  expect_error(
      run_process({mnemo_bin(), "roofline", "-m", m, "--hw", "a100-80gb", "--n-past", "-3"}), 1,
      "--n-past");
  expect_error(
      run_process({mnemo_bin(), "roofline", "-m", m, "--hw", "a100-80gb", "-p", "0", "-n", "0"}), 1,
      "-p");
  // KV cache types: an unknown one is a usage error; stories260K's heads of 8 hold no q8_0 blocks.
  expect_error(run_process({mnemo_bin(), "roofline", "-m", m, "--hw", "a100-80gb", "-ctk", "q5_1"}),
               2, "--cache-type-k");
  expect_error(run_process({mnemo_bin(), "roofline", "-m", m, "--hw", "a100-80gb", "-ctv", "q8_0"}),
               2,
               "--cache-type-v: V cache type q8_0: expected a head size that is a multiple of its "
               "block of 32");
  expect_error(
      run_process({mnemo_bin(), "roofline", "-m", "/nonexistent/m.gguf", "--hw", "a100-80gb"}), 1,
      "/nonexistent/m.gguf");
  expect_error(run_process({mnemo_bin(), "hw", "--load", bad}), 1, "gb_s");
  // Usage errors: a missing -m, a non-number.
  EXPECT_EQ(run_process({mnemo_bin(), "roofline", "--hw", "a100-80gb"}).exit_code, 2);
  EXPECT_EQ(run_process({mnemo_bin(), "roofline", "-m", m, "-p", "many"}).exit_code, 2);
  // A failed --svg leaves no file.
  const std::string svg = dir + "/no/such/dir/plot.svg";
  ProcessResult r = run_process({mnemo_bin(), "roofline", "-m", m, "--hw", "a100-80gb", "--svg", svg});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(exists(svg));
}

}  // namespace
}  // namespace mnemo::test
