// The CLI of issue 4 as a user runs it (label `model`): mnemo quantize (errors before any output,
// --report), mnemo perplexity --kl-ref, mnemo frontier (JSON and SVG), mnemo info on mnemo-only files.
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace mnemo {
namespace {

using test::mnemo_bin;
using test::run_process;

std::string f32_model() { return test::data_path("models/stories260K.gguf"); }
std::string val_text() { return test::data_path("text/tinystories_val.txt"); }

TEST(CliQuantize, UsageErrorsWriteNothing) {
  MNEMO_REQUIRE_DATA("models/stories260K-Q4_0.gguf");
  const std::string out = test::temp_dir() + "/out.gguf";
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  const Case cases[] = {
      {{f32_model(), out, "--type", "q3_x"}, 2, "mnemo: error: --type: expected one of q8_0, q4_0, q5_0, q4_k, q6_k"},
      {{f32_model(), out, "--type", "int4-sym", "--group", "128"}, 2,
       "--group 128: does not divide the model's rows of 64 elements; group sizes that do: 32, 64"},
      {{test::data_path("models/stories260K-Q4_0.gguf"), out, "--type", "bitmod4"}, 2,
       "tensor 'token_embd.weight' is q4_0: quantizing needs f32, f16 or bf16 weights"},
      {{f32_model(), out, "--type", "fp3", "--calib", "/nonexistent/calib.txt"}, 1, "/nonexistent/calib.txt: cannot open text file: no such file"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {mnemo_bin(), "quantize"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const test::ProcessResult r = run_process(argv);
    EXPECT_EQ(r.exit_code, c.code) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_FALSE(test::exists(out));
  }
}

TEST(CliQuantize, ReportInfoAndKlReference) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  const std::string dir = test::temp_dir();
  const std::string out = dir + "/bm.gguf";
  test::ProcessResult r = run_process({mnemo_bin(), "quantize", f32_model(), out, "--type", "bitmod3", "--group", "32", "--report"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("blk.0.attn_q.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bitmod3_g32"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("blk.4.ffn_down.weight: 172 columns are not a multiple of bitmod3_g32's block of 32: using f16"),
            std::string::npos)
      << r.err;
  r = run_process({mnemo_bin(), "info", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("note: mnemo-only tensor types (bitmod3_g32)"), std::string::npos) << r.out;

  r = run_process({mnemo_bin(), "perplexity", "-m", out, "-f", val_text(), "-c", "128", "--chunks", "4", "--kl-ref",
                   f32_model(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["kl"].get<double>(), 0.01);
  EXPECT_LT(j["top1"].get<double>(), 1.0);
  // A model against itself: no divergence, full agreement.
  r = run_process({mnemo_bin(), "perplexity", "-m", out, "-f", val_text(), "-c", "128", "--chunks", "2", "--kl-ref", out,
                   "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto same = nlohmann::json::parse(r.out);
  EXPECT_LT(std::fabs(same["kl"].get<double>()), 1e-9);
  EXPECT_EQ(same["top1"].get<double>(), 1.0);
  EXPECT_NEAR(same["ppl"].get<double>(), same["ref_ppl"].get<double>(), 1e-8 * same["ppl"].get<double>());
}

// The summary line says what happened: q4_k on stories260K (rows of 64 and 172, never a multiple of
// q4_k's 256) puts no weight in the type, so no bits/weight or MSE of "the type" is printed, and
// it names the fallbacks (q5_0, f16, and q8_0 for the attn_v that llama.cpp's mix plans in q6_k);
// a group type that fits reports its tensors, bits/weight and MSE.
TEST(CliQuantize, SummarySaysWhatHappened) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  const std::string dir = test::temp_dir();
  test::ProcessResult r = run_process({mnemo_bin(), "quantize", f32_model(), dir + "/k.gguf", "--type", "q4_k"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("q4_K: none of the 37 weights in the type; 35 fell back to other types because their rows are "
                       "not a multiple of the block of the type planned for them (q5_0: 28, f16: 5, q8_0: 2); "
                       "embd q5_0: 1; output q8_0: 1; 11 copied"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("0 tensors in the type"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("MSE"), std::string::npos) << r.out;
  r = run_process({mnemo_bin(), "quantize", f32_model(), dir + "/b.gguf", "--type", "bitmod4", "--group", "32", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::string summary = j["summary"].get<std::string>();
  EXPECT_EQ(summary.rfind("bitmod4_g32: 30 of 37 weights in the type (4.5000 bits/weight, weight MSE ", 0), 0u) << summary;
  EXPECT_NE(summary.find("; 5 fell back to other types because their rows are not a multiple of the block of the type "
                         "planned for them (f16: 5); embd q8_0: 1; output q8_0: 1; 11 copied"),
            std::string::npos)
      << summary;
}

TEST(CliFrontier, TableJsonAndPlot) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  const std::string dir = test::temp_dir();
  const std::string svg = dir + "/f.svg";
  const test::ProcessResult r =
      run_process({mnemo_bin(), "frontier", "-m", f32_model(), "-f", val_text(), "--types", "q8_0,int4-sym,bitmod4,bipolar:3",
                   "--groups", "32", "--chunks", "3", "--kernel-n", "256", "--kernel-reps", "2", "--json", "--svg", svg,
                   "-t", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["types"].size(), 4u);
  // Threads the command has started once every candidate's context exists: the 2 workers of the
  // original's pool of 3 (a pool per candidate context would add 2 idle workers per type: 10 here,
  // about 60 on stories260K's 56 candidates at -t 2).
  EXPECT_GE(j["threads_started"].get<int>(), 0);
  EXPECT_LE(j["threads_started"].get<int>(), 2);
  for (const auto& t : j["types"]) {
    EXPECT_GT(t["bpw"].get<double>(), 3.0) << t;
    EXPECT_GT(t["ppl"].get<double>(), 1.0) << t;
    EXPECT_GE(t["kl"].get<double>(), 0.0) << t;
    EXPECT_GT(t["kernel_us"].get<double>(), 0.0) << t;
  }
  std::ifstream in(svg);
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(s.rfind("<svg", 0), 0u);
  EXPECT_NE(s.find("bitmod4 g32"), std::string::npos);
  // The candidates are evaluated on single-threaded contexts spread over the workers: every figure
  // but the kernel timing is the same at any thread count.
  const test::ProcessResult one =
      run_process({mnemo_bin(), "frontier", "-m", f32_model(), "-f", val_text(), "--types", "q8_0,int4-sym,bitmod4,bipolar:3",
                   "--groups", "32", "--chunks", "3", "--kernel-n", "0", "--json", "-t", "1"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto j1 = nlohmann::json::parse(one.out);
  EXPECT_EQ(j1["ref_ppl"], j["ref_ppl"]);
  ASSERT_EQ(j1["types"].size(), j["types"].size());
  for (size_t i = 0; i < j["types"].size(); ++i) {
    for (const char* k : {"name", "bpw", "mse", "ppl", "kl", "kl_stderr", "top1"}) {
      EXPECT_EQ(j1["types"][i][k], j["types"][i][k]) << k << " of " << j["types"][i]["name"];
    }
    EXPECT_LT(j1["types"][i]["kernel_us"].get<double>(), 0.0);  // --kernel-n 0: not timed
  }
  // The calibration text must not be the evaluation text.
  const test::ProcessResult bad =
      run_process({mnemo_bin(), "frontier", "-m", f32_model(), "-f", val_text(), "--calib", val_text()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("must not be the evaluation text"), std::string::npos) << bad.err;
  // Unknown types and group sizes, and a group size the rows cannot hold: usage errors, no work.
  for (const auto& [flag, value, message] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--types", "bitmod4,q3_x", "--types: expected a comma-separated list of q8_0"},
           {"--groups", "abc", "--groups: expected 32, 64 or 128, found 'abc'"},
           {"--groups", "0", "--groups: expected 32, 64 or 128, found '0'"},
           {"--groups", "32,128", "--groups: 128 does not divide the model's rows of 64 elements"}}) {
    const test::ProcessResult e =
        run_process({mnemo_bin(), "frontier", "-m", f32_model(), "-f", val_text(), flag, value, "--workdir", dir + "/w"});
    EXPECT_EQ(e.exit_code, 2) << flag << " " << value << ": " << e.err;
    EXPECT_NE(e.err.find(message), std::string::npos) << e.err;
    EXPECT_FALSE(test::exists(dir + "/w")) << flag << " " << value;
  }
}

}  // namespace
}  // namespace mnemo
