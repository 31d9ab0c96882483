// Tests of train/comm.h and train/zero.h in one process (the local communicator): the ZeRO
// memory formulas, stages 1 and 2 on one rank against stage 0, config errors, and the resume
// checks of the run record. The multi-rank runs are in zero_mpi_test.cc (label mpi).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "train/checkpoint.h"
#include "train/comm.h"
#include "train/zero.h"
#include "train_run_util.h"

namespace mnemo::train {
namespace {

using test::config_from;
using test::tiny_config;

TEST(Comm, LocalCollectivesAreTheIdentityAndSendNothing) {
  auto c = make_local_comm();
  EXPECT_EQ(c->size(), 1);
  EXPECT_EQ(c->rank(), 0);
  std::vector<float> x = {1, 2, 3, 4};
  c->all_reduce_sum(x.data(), 4);
  c->reduce_scatter_block(x.data(), 4);
  c->reduce_scatter(x.data(), {4});
  c->all_gather(x.data(), 4);
  EXPECT_EQ(x, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(c->all_gather_u64(7), std::vector<uint64_t>{7});
  EXPECT_EQ(c->counters().total(), 0u);
  EXPECT_EQ(c->counters().calls, 5u);
}

TEST(Zero, StateBytesFollowTheFormulas) {
  const int64_t P = 1000000;  // divisible by 2 and 4: no padding
  for (int N : {1, 2, 4}) {
    EXPECT_EQ(zero_state_bytes(0, P, N).total(), 16u * P);
    EXPECT_EQ(zero_state_bytes(1, P, N).total(), 8u * P + 8u * P / N);
    EXPECT_EQ(zero_state_bytes(2, P, N).total(), 4u * P + 12u * P / N);
    EXPECT_EQ(zero_state_bytes(3, P, N).total(), 16u * P / N);
  }
  // A count that does not divide is padded to N shards of ceil(P / N).
  EXPECT_EQ(zero_state_bytes(2, 10, 4).gradients, 12u);
}

// Stages 1 and 2 on one rank follow stage 0 (the same AdamW on the same gradients; only the
// gradient norm is summed in another order).
TEST(Zero, OneRankStagesMatchStageZero) {
  const std::string dir = mnemo::test::temp_dir();
  auto j = tiny_config(dir);
  j["steps"] = 6;
  j["eval"] = {{"interval", 0}, {"batches", 0}};
  std::vector<std::vector<double>> losses;
  for (int stage : {0, 1, 2, 3}) {
    j["zero_stage"] = stage;
    auto r = run_training(config_from(j));
    ASSERT_TRUE(r.has_value()) << r.status().message();
    losses.push_back(r->losses);
    EXPECT_EQ(r->model_state_bytes, r->model_state_formula);
    EXPECT_EQ(r->comm_total, 0u);
  }
  for (int s : {1, 2, 3}) {
    for (size_t i = 0; i < losses[0].size(); ++i) EXPECT_NEAR(losses[s][i], losses[0][i], 1e-6 * losses[0][i]);
  }
  std::filesystem::remove_all(dir);
}

TEST(Zero, ConfigErrorsNameTheKey) {
  const std::string dir = mnemo::test::temp_dir();
  auto j = tiny_config(dir);
  j["zero_stage"] = 4;
  auto c = parse_train_config(j.dump(), "z.json");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.status().message().find("z.json: zero_stage: expected 0"), std::string::npos) << c.status().message();
  j["zero_stage"] = 1;
  j["optimizer"] = {{"type", "galore"}, {"galore", {{"rank", 4}}}};
  c = parse_train_config(j.dump(), "z.json");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.status().message().find("z.json: zero_stage: stage 1 shards AdamW's moments"), std::string::npos)
      << c.status().message();
  std::filesystem::remove_all(dir);
}

TEST(Zero, EstimateCoversEveryStageAndRankCount) {
  const std::string dir = mnemo::test::temp_dir();
  auto j = tiny_config(dir);
  j["zero_stage"] = 2;
  auto z = estimate_zero_states(config_from(j), {1, 2, 4});
  ASSERT_TRUE(z.has_value()) << z.status().message();
  ASSERT_EQ(z->size(), 12u);
  EXPECT_EQ((*z)[0].stage, 0);
  EXPECT_EQ((*z)[8].stage, 2);
  EXPECT_EQ((*z)[8].ranks, 4);
  EXPECT_EQ((*z)[11].stage, 3);
  auto e = estimate_train_memory(config_from(j), 4);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->parameters + e->gradients + e->optimizer, (*z)[8].total());
  std::filesystem::remove_all(dir);
}

// The checkpoint records seed, batch, sequence length, accumulation, data files and ranks; a
// resume that changes any of them names the field, unless changes are allowed (then noted).
TEST(Zero, ResumeChecksTheRunRecord) {
  const std::string dir = mnemo::test::temp_dir();
  auto j = tiny_config(dir);
  j["steps"] = 4;
  j["eval"] = {{"interval", 0}, {"batches", 0}};
  j["checkpoint"] = {{"dir", dir + "/ck"}, {"interval", 2}, {"keep", 0}};
  TrainOptions stop;
  stop.stop_after = 2;
  ASSERT_TRUE(run_training(config_from(j), stop).has_value());
  const std::string ck = dir + "/ck/ckpt_00000002.bin";
  auto meta = read_checkpoint_meta(ck);
  ASSERT_TRUE(meta.has_value());
  ASSERT_TRUE(meta->run.present);
  EXPECT_EQ(meta->run.batch_size, 2);
  EXPECT_EQ(meta->run.seed, 5u);
  ASSERT_EQ(meta->run.data.size(), 1u);
  EXPECT_EQ(meta->run.data[0].hash.size(), 16u);

  struct Change {
    const char* key;
    nlohmann::json value;
    const char* expect;
  };
  test::write_random_docs(dir + "/other.bin", 200, 67, 9);
  for (const Change& ch : {Change{"batch_size", 3, "batch_size: checkpoint 2, this run 3"},
                           Change{"seed", 6, "seed: checkpoint 5, this run 6"},
                           Change{"seq_len", 16, "seq_len: checkpoint 32, this run 16"},
                           Change{"grad_accum", 2, "grad_accum: checkpoint 1, this run 2"},
                           Change{"data", {{"train", {dir + "/other.bin"}}}, "data.train[0]: checkpoint"}}) {
    auto k = j;
    k[ch.key] = ch.value;
    TrainOptions o;
    o.resume = dir + "/ck";
    auto r = run_training(config_from(k), o);
    ASSERT_FALSE(r.has_value()) << ch.key;
    EXPECT_NE(r.status().message().find(ch.expect), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("--resume-allow-changes"), std::string::npos);
    std::vector<std::string> notes;
    o.resume_allow_changes = true;
    o.stop_after = 3;
    o.on_message = [&](const std::string& m) { notes.push_back(m); };
    r = run_training(config_from(k), o);
    ASSERT_TRUE(r.has_value()) << ch.key << ": " << r.status().message();
    ASSERT_FALSE(notes.empty());
    EXPECT_NE(notes.front().find(std::string("resuming with a changed ") + ch.expect), std::string::npos)
        << notes.front();
    std::filesystem::remove(dir + "/ck/ckpt_00000003.bin");
  }
  // Unchanged: resumes.
  TrainOptions o;
  o.resume = ck;
  EXPECT_TRUE(run_training(config_from(j), o).has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mnemo::train
