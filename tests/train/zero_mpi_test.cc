// Data parallel and ZeRO-1/2 across processes: `mpirun --oversubscribe -np N mnemo train` at
// N = 1, 2, 4 against one process with an N times larger batch (train/zero.h), the collective
// byte counters against the ring formulas, the model-state accounting against ZeRO's, and ranks
// that disagree on the config. Skipped when this build has no MPI or mpirun is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "train/checkpoint.h"
#include "train_run_util.h"

namespace mnemo::train {
namespace {

using mnemo::test::mnemo_bin;
using mnemo::test::run_process;
using test::config_from;
using test::tiny_config;

// mpirun's path, or "" when this build has no MPI or mpirun is not on PATH.
std::string mpirun_path() {
#ifndef MNEMO_TEST_HAVE_MPI
  return "";
#else
  auto r = mnemo::test::run_process({"/bin/sh", "-c", "command -v mpirun"});
  if (r.exit_code != 0) return "";
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == ' ')) r.out.pop_back();
  return r.out;
#endif
}

bool have_mpirun() { return !mpirun_path().empty(); }

#define REQUIRE_MPI()                                                                        \
  do {                                                                                       \
    if (!have_mpirun()) GTEST_SKIP() << "no MPI in this build, or mpirun is not on PATH";    \
  } while (0)

// mpirun's argv prefix; as root it needs --allow-run-as-root (CI containers run as root).
std::vector<std::string> mpirun(int n) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  std::vector<std::string> a = {mpirun_path(), "--oversubscribe", "-np", std::to_string(n)};
  if (geteuid() == 0) a.push_back("--allow-run-as-root");
  return a;
}

std::string write_config(const std::string& path, const nlohmann::json& j) {
  std::ofstream(path) << j.dump();
  return path;
}

// Runs `mnemo train -c config --json` on n ranks; returns each rank's JSON report.
std::vector<nlohmann::json> run_ranks(int n, const std::string& config, const std::string& dir,
                                     const std::string& extra = "") {
  auto argv = mpirun(n);
  argv.insert(argv.end(), {"/bin/sh", "-c",
                           "exec \"" + mnemo_bin() + "\" train -c \"" + config + "\" --json -q " + extra + " > \"" +
                               dir + "/out.$OMPI_COMM_WORLD_RANK\""});
  auto r = run_process(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> out;
  for (int k = 0; k < n; ++k) {
    std::ifstream f(dir + "/out." + std::to_string(k));
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    out.push_back(text.empty() ? nlohmann::json() : nlohmann::json::parse(text));
  }
  return out;
}

struct Floats {
  std::vector<float> params;
  std::map<std::string, std::vector<float>> state;
};

Floats read_ckpt(const std::string& path) {
  Floats f;
  auto meta = read_checkpoint_meta(path);
  EXPECT_TRUE(meta.has_value()) << path;
  if (!meta.has_value()) return f;
  f.params.resize(static_cast<size_t>(meta->n_params));
  std::vector<StateTensor> st;
  for (const auto& [name, n] : meta->state) f.state[name].resize(static_cast<size_t>(n));
  for (const auto& [name, n] : meta->state) st.push_back({name, f.state[name].data(), n});
  EXPECT_TRUE(load_checkpoint(path, *meta, f.params.data(), st).is_ok());
  return f;
}

// ||a - b|| / ||b|| (L2). The gradients of N ranks are summed in another order than one
// process's, so single elements that are sums with cancellation differ by more (reported).
double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double dd = 0, bb = 0, worst = 0, top = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    dd += d * d;
    bb += static_cast<double>(b[i]) * b[i];
    worst = std::max(worst, std::fabs(d));
    top = std::max(top, std::fabs(static_cast<double>(b[i])));
  }
  std::printf("  relative L2 difference %.3g, largest element difference %.3g of the largest element\n",
              std::sqrt(dd / bb), worst / top);
  return std::sqrt(dd / std::max(bb, 1e-300));
}

nlohmann::json base_config(const std::string& dir) {
  auto j = tiny_config(dir);
  j["batch_size"] = 1;
  j["steps"] = 20;
  j["threads"] = 1;
  j["eval"] = {{"interval", 0}, {"batches", 0}};
  j["data"].erase("val");
  return j;
}

// One step: parameters and AdamW moments within 1e-6 (relative) of one process with batch N b;
// 20 steps: the same losses within 1e-5. Bytes sent per rank per step: 2 (N-1)/N 4P within 2%
// (stage 3: (N-1)/N 4 (3P - the untied embedding)); model states per rank: ZeRO's formulas.
TEST(ZeroMpi, StagesMatchOneProcessWithTheGlobalBatch) {
  REQUIRE_MPI();
  const std::string dir = mnemo::test::temp_dir();
  for (int n : {1, 2, 4}) {
    auto ref = base_config(dir);
    ref["batch_size"] = n;
    ref["checkpoint"] = {{"dir", dir + "/ref" + std::to_string(n)}, {"interval", 1}, {"keep", 0}};
    auto want = run_training(config_from(ref));
    ASSERT_TRUE(want.has_value()) << want.status().message();
    const Floats want1 = read_ckpt(dir + "/ref" + std::to_string(n) + "/ckpt_00000001.bin");
    const double P = static_cast<double>(want1.params.size());
    for (int stage : {0, 1, 2, 3}) {
      SCOPED_TRACE("N=" + std::to_string(n) + " stage " + std::to_string(stage));
      const std::string ck = dir + "/z" + std::to_string(stage) + "n" + std::to_string(n);
      auto j = base_config(dir);
      j["zero_stage"] = stage;
      j["checkpoint"] = {{"dir", ck}, {"interval", 1}, {"keep", 0}};
      const auto reps = run_ranks(n, write_config(ck + ".json", j), dir);
      const Floats got1 = read_ckpt(ck + "/ckpt_00000001.bin");
      EXPECT_LT(max_rel(got1.params, want1.params), 1e-6);
      EXPECT_LT(max_rel(got1.state.at("adamw.m"), want1.state.at("adamw.m")), 1e-6);
      EXPECT_LT(max_rel(got1.state.at("adamw.v"), want1.state.at("adamw.v")), 1e-6);
      for (int r = 0; r < n; ++r) {
        const auto& rep = reps[static_cast<size_t>(r)];
        ASSERT_TRUE(rep.is_object()) << "rank " << r;
        EXPECT_EQ(rep["rank"], r);
        EXPECT_EQ(rep["ranks"], n);
        const auto losses = rep["losses"].get<std::vector<double>>();
        ASSERT_EQ(losses.size(), want->losses.size());
        for (size_t i = 0; i < losses.size(); ++i) EXPECT_NEAR(losses[i], want->losses[i], 1e-5 * want->losses[i]);
        const double sent = rep["comm_bytes_per_step"]["total"].get<double>();
        // Stage 3 gathers everything in forward and all but the (untied) embedding in backward;
        // each rank is charged (N-1) x its own part of what is gathered (comm.h), so the rank
        // that owns the embedding ([0, V d), the start of the buffer) sends less.
        const double S = std::ceil(P / n), embd = 67.0 * 32.0;
        const double own_embd = std::clamp(embd - r * S, 0.0, S);
        const double ring = stage < 3 ? 2.0 * (n - 1) / n * 4 * P : (n - 1) * 4 * (3 * S - own_embd);
        if (n == 1) {
          EXPECT_EQ(sent, 0.0);
        } else {
          EXPECT_NEAR(sent, ring, 0.02 * ring);
        }
        const double states = rep["model_state_bytes"].get<double>();
        const double formula = stage == 0   ? 16 * P
                               : stage == 1 ? 8 * P + 8 * P / n
                               : stage == 2 ? 4 * P + 12 * P / n
                                            : 16 * P / n;
        EXPECT_EQ(rep["model_state_bytes"], rep["model_state_formula"]);
        EXPECT_NEAR(states, formula, 4.0 * 4 * n);  // padding: at most N - 1 floats per sharded class
      }
    }
  }
  std::filesystem::remove_all(dir);
}

// GaLore runs under zero_stage 0 (each rank the full optimizer on the all-reduced gradient): 2
// ranks give one process's losses with the global batch, across a projection refresh.
TEST(ZeroMpi, GaloreUnderDataParallelMatchesOneProcess) {
  REQUIRE_MPI();
  const std::string dir = mnemo::test::temp_dir();
  auto j = base_config(dir);
  j["steps"] = 8;
  j["optimizer"] = {{"type", "galore"}, {"galore", {{"rank", 4}, {"update_interval", 4}}}};
  const auto reps = run_ranks(2, write_config(dir + "/g.json", j), dir);
  j["batch_size"] = 2;
  auto want = run_training(config_from(j));
  ASSERT_TRUE(want.has_value()) << want.status().message();
  for (const auto& rep : reps) {
    const auto losses = rep["losses"].get<std::vector<double>>();
    ASSERT_EQ(losses.size(), want->losses.size());
    for (size_t i = 0; i < losses.size(); ++i) EXPECT_NEAR(losses[i], want->losses[i], 1e-5 * want->losses[i]);
  }
  std::filesystem::remove_all(dir);
}

// Interrupted and resumed on 2 ranks, every stage gives the uninterrupted run's losses exactly.
TEST(ZeroMpi, ResumeIsExactUnderEveryStage) {
  REQUIRE_MPI();
  const std::string dir = mnemo::test::temp_dir();
  for (int stage : {0, 1, 2, 3}) {
    SCOPED_TRACE("stage " + std::to_string(stage));
    auto j = base_config(dir);
    j["zero_stage"] = stage;
    j["steps"] = 6;
    j["checkpoint"] = {{"dir", dir + "/ck"}, {"interval", 3}, {"keep", 0}};
    const std::string c = write_config(dir + "/c.json", j);
    std::filesystem::remove_all(dir + "/ck");
    const auto whole = run_ranks(2, c, dir)[1]["losses"].get<std::vector<double>>();
    std::filesystem::remove_all(dir + "/ck");
    auto losses = run_ranks(2, c, dir, "--stop-after 3")[1]["losses"].get<std::vector<double>>();
    const auto rest = run_ranks(2, c, dir, "--resume " + dir + "/ck")[1]["losses"].get<std::vector<double>>();
    losses.insert(losses.end(), rest.begin(), rest.end());
    EXPECT_EQ(losses, whole);
  }
  std::filesystem::remove_all(dir);
}

// A 2-rank checkpoint holds the full optimizer state; resuming it on another rank count is an
// error naming `ranks` unless changes are allowed.
TEST(ZeroMpi, ResumeOnOtherRanksNamesTheField) {
  REQUIRE_MPI();
  const std::string dir = mnemo::test::temp_dir();
  auto j = base_config(dir);
  j["zero_stage"] = 2;
  j["steps"] = 4;
  j["checkpoint"] = {{"dir", dir + "/ck"}, {"interval", 2}, {"keep", 0}};
  run_ranks(2, write_config(dir + "/c.json", j), dir);
  TrainOptions o;
  o.resume = dir + "/ck/ckpt_00000002.bin";
  auto r = run_training(config_from(j), o);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("ranks: checkpoint 2, this run 1"), std::string::npos) << r.status().message();
  o.resume_allow_changes = true;
  r = run_training(config_from(j), o);
  EXPECT_TRUE(r.has_value()) << r.status().message();
  std::filesystem::remove_all(dir);
}

// Ranks given different configs (or data) stop before any work, each with the same error.
TEST(ZeroMpi, RanksThatDisagreeStopBeforeAnyWork) {
  REQUIRE_MPI();
  const std::string dir = mnemo::test::temp_dir();
  auto a = base_config(dir);
  auto b = a;
  b["seed"] = 6;
  const std::string ca = write_config(dir + "/a.json", a), cb = write_config(dir + "/b.json", b);
  auto argv = mpirun(1);
  argv.insert(argv.end(), {mnemo_bin(), "train", "-c", ca, ":", "-np", "1", mnemo_bin(), "train", "-c", cb});
  auto r = run_process(argv);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("rank 1 of 2 runs a different config from rank 0"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("step "), std::string::npos) << r.err;  // no step ran
  // Same config, different data.
  // Same config text, different data: a ${VAR} path that each rank resolves differently.
  test::write_random_docs(dir + "/other.bin", 200, 67, 9);
  auto d = a;
  d["data"]["train"] = {"${ZERO_TEST_DATA}"};
  const std::string cd = write_config(dir + "/d.json", d);
  argv = mpirun(1);
  argv.insert(argv.end(), {"-x", "ZERO_TEST_DATA=" + dir + "/train.bin", mnemo_bin(), "train", "-c", cd, ":", "-np",
                           "1", "-x", "ZERO_TEST_DATA=" + dir + "/other.bin", mnemo_bin(), "train", "-c", cd});
  r = run_process(argv);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("data.train: rank 1 of 2 reads different data from rank 0"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
}

// The CLI without mpirun: --estimate --ranks covers every stage; --ranks alone is an error;
// --resume-allow-changes reaches the resume checks (and is printed).
TEST(ZeroCli, EstimateRanksAndResumeAllowChanges) {
  const std::string dir = mnemo::test::temp_dir();
  auto j = base_config(dir);
  j["steps"] = 4;
  j["checkpoint"] = {{"dir", dir + "/ck"}, {"interval", 2}, {"keep", 0}};
  const std::string c = write_config(dir + "/c.json", j);
  auto est = run_process({mnemo_bin(), "train", "-c", c, "--estimate", "--ranks", "4", "--json"});
  ASSERT_EQ(est.exit_code, 0) << est.err;
  const auto e = nlohmann::json::parse(est.out);
  ASSERT_EQ(e["zero"].size(), 4u);
  EXPECT_EQ(e["zero"][3]["stage"], 3);
  EXPECT_EQ(e["zero"][3]["ranks"], 4);
  EXPECT_EQ(e["zero"][0]["total"].get<uint64_t>(), 4 * e["zero"][3]["total"].get<uint64_t>());
  auto text = run_process({mnemo_bin(), "train", "-c", c, "--estimate"});
  EXPECT_NE(text.out.find("3 parameters too (16P/N)"), std::string::npos) << text.out;
  auto bad = run_process({mnemo_bin(), "train", "-c", c, "--ranks", "2"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--ranks: only with --estimate"), std::string::npos) << bad.err;

  auto first = run_process({mnemo_bin(), "train", "-c", c, "--stop-after", "2", "-q"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  j["seed"] = 6;
  const std::string c2 = write_config(dir + "/c2.json", j);
  auto no = run_process({mnemo_bin(), "train", "-c", c2, "--resume", dir + "/ck", "-q"});
  EXPECT_NE(no.exit_code, 0);
  EXPECT_NE(no.err.find("seed: checkpoint 5, this run 6; pass --resume-allow-changes"), std::string::npos) << no.err;
  auto yes = run_process({mnemo_bin(), "train", "-c", c2, "--resume", dir + "/ck", "--resume-allow-changes", "-q"});
  EXPECT_EQ(yes.exit_code, 0) << yes.err;
  EXPECT_NE(yes.err.find("--resume-allow-changes: resuming with a changed seed: checkpoint 5, this run 6"),
            std::string::npos)
      << yes.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mnemo::train
