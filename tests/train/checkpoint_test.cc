// Checkpoints: exact resume (the losses after resuming are bit-identical to the uninterrupted
// run's, AdamW and GaLore), and rejection of corrupt, truncated and foreign checkpoints before any
// work.
#include <gtest/gtest.h>

#include <dirent.h>

#include <filesystem>

#include "train/checkpoint.h"
#include "train_run_util.h"

namespace mnemo::train {
namespace {

void expect_resume_identical(nlohmann::json j, const std::string& dir) {
  j["checkpoint"] = {{"dir", dir + "/a"}, {"interval", 20}, {"keep", 0}};
  auto whole = run_training(test::config_from(j));
  ASSERT_TRUE(whole.has_value()) << whole.status().message();
  ASSERT_EQ(whole->losses.size(), 40u);
  // An interrupted run: stopped after 20 steps (its checkpoint written then), then resumed.
  j["checkpoint"] = {{"dir", dir + "/b"}, {"interval", 0}, {"keep", 0}};
  TrainOptions stop;
  stop.stop_after = 20;
  auto first = run_training(test::config_from(j), stop);
  ASSERT_TRUE(first.has_value()) << first.status().message();
  ASSERT_EQ(first->losses.size(), 20u);
  ASSERT_EQ(first->last_checkpoint, checkpoint_path(dir + "/b", 20));
  TrainOptions resume;
  resume.resume = dir + "/b";  // the newest in the directory
  auto rest = run_training(test::config_from(j), resume);
  ASSERT_TRUE(rest.has_value()) << rest.status().message();
  EXPECT_EQ(rest->first_step, 20);
  ASSERT_EQ(rest->losses.size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(first->losses[i], whole->losses[i]) << "step " << i + 1;
    EXPECT_EQ(rest->losses[i], whole->losses[20 + i]) << "step " << 21 + i << " after resuming";
  }
  // Evaluations after the resume agree too.
  ASSERT_FALSE(rest->eval_losses.empty());
  EXPECT_EQ(rest->eval_losses.back(), whole->eval_losses.back());
  // The final checkpoints hold the same bytes.
  EXPECT_EQ(test::read_raw<uint8_t>(checkpoint_path(dir + "/a", 40)), test::read_raw<uint8_t>(checkpoint_path(dir + "/b", 40)));
}

TEST(TrainCheckpoint, ResumeGivesBitIdenticalLossesAdamW) {
  const std::string dir = mnemo::test::temp_dir();
  expect_resume_identical(test::tiny_config(dir), dir);
}

TEST(TrainCheckpoint, ResumeGivesBitIdenticalLossesGalore) {
  const std::string dir = mnemo::test::temp_dir();
  nlohmann::json j = test::tiny_config(dir);
  // A projection refresh every 8 steps: the resumed run must use the saved projections at 20..23.
  j["optimizer"] = {{"type", "galore"}, {"galore", {{"rank", 8}, {"update_interval", 8}, {"scale", 0.25}}}};
  expect_resume_identical(j, dir);
}

TEST(TrainCheckpoint, CorruptTruncatedAndForeignCheckpointsAreRejected) {
  const std::string dir = mnemo::test::temp_dir();
  nlohmann::json j = test::tiny_config(dir);
  j["steps"] = 4;
  j["checkpoint"] = {{"dir", dir + "/c"}, {"interval", 2}, {"keep", 1}};
  auto r = run_training(test::config_from(j));
  ASSERT_TRUE(r.has_value()) << r.status().message();
  // keep = 1: only the newest remains, and no temporary file is left behind.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/c")) names.push_back(e.path().filename());
  ASSERT_EQ(names, std::vector<std::string>{"ckpt_00000004.bin"});
  const std::string ck = dir + "/c/ckpt_00000004.bin";
  auto meta = read_checkpoint_meta(ck);
  ASSERT_TRUE(meta.has_value()) << meta.status().message();
  EXPECT_EQ(meta->step, 4);

  // One flipped bit anywhere: the checksum catches it.
  auto bytes = test::read_raw<uint8_t>(ck);
  for (size_t at : {size_t{3}, size_t{40}, bytes.size() / 2, bytes.size() - 40}) {
    auto bad = bytes;
    bad[at] ^= 0x10;
    test::write_raw(dir + "/bad.bin", bad);
    TrainOptions o;
    o.resume = dir + "/bad.bin";
    auto res = run_training(test::config_from(j), o);
    ASSERT_FALSE(res.has_value()) << "byte " << at;
    EXPECT_NE(res.status().message().find("corrupt"), std::string::npos) << res.status().message();
  }
  // Truncated (a half-written file that was never renamed into place).
  bytes.resize(bytes.size() / 3);
  test::write_raw(dir + "/cut.bin", bytes);
  TrainOptions o;
  o.resume = dir + "/cut.bin";
  auto cut = run_training(test::config_from(j), o);
  ASSERT_FALSE(cut.has_value());
  // Another model: a checkpoint of a wider model, and one of another optimizer.
  nlohmann::json other = j;
  other["model"]["n_embd"] = 48;
  o.resume = ck;
  auto foreign = run_training(test::config_from(other), o);
  ASSERT_FALSE(foreign.has_value());
  EXPECT_NE(foreign.status().message().find("model.n_embd: expected 48 (the config's), found 32"), std::string::npos)
      << foreign.status().message();
  nlohmann::json gal = j;
  gal["optimizer"] = {{"type", "galore"}, {"galore", {{"rank", 8}}}};
  auto wrong_opt = run_training(test::config_from(gal), o);
  ASSERT_FALSE(wrong_opt.has_value());
  EXPECT_NE(wrong_opt.status().message().find("optimizer.type"), std::string::npos) << wrong_opt.status().message();
}

TEST(TrainCheckpoint, RoundTripKeepsEveryByte) {
  const std::string dir = mnemo::test::temp_dir();
  const TrainShape s = test::tiny_shape();
  const ParamLayout layout = ParamLayout::build(s);
  std::vector<float> p(static_cast<size_t>(layout.n_params()));
  init_params(s, layout, 0.1f, 3, p.data());
  std::vector<float> m(100, 0.5f), v(50, 0.25f);
  CheckpointMeta meta;
  meta.shape = s;
  meta.step = 7;
  meta.tokens = 1234;
  meta.n_params = layout.n_params();
  meta.data.epoch = 2;
  meta.data.cursor = 5;
  meta.data.offset = 3;
  meta.data.carry = 9;
  meta.data.has_carry = true;
  meta.rng = {1, 2, 3, 0xffffffffffffffffull};
  const std::vector<StateTensor> state = {{"m", m.data(), 100}, {"v", v.data(), 50}};
  ASSERT_TRUE(save_checkpoint(dir + "/k.bin", meta, p.data(), state).is_ok());
  auto back = read_checkpoint_meta(dir + "/k.bin");
  ASSERT_TRUE(back.has_value()) << back.status().message();
  EXPECT_EQ(back->step, 7);
  EXPECT_EQ(back->tokens, 1234);
  EXPECT_EQ(back->rng, meta.rng);
  EXPECT_EQ(back->data.cursor, 5);
  EXPECT_TRUE(back->shape == s);
  std::vector<float> p2(p.size()), m2(100), v2(50);
  const std::vector<StateTensor> state2 = {{"m", m2.data(), 100}, {"v", v2.data(), 50}};
  ASSERT_TRUE(check_checkpoint_matches(*back, s, meta.optimizer, &state2, "k").is_ok());
  ASSERT_TRUE(load_checkpoint(dir + "/k.bin", *back, p2.data(), state2).is_ok());
  EXPECT_EQ(p, p2);
  EXPECT_EQ(m, m2);
  EXPECT_EQ(v, v2);
  const std::vector<StateTensor> wrong = {{"m", m2.data(), 100}, {"v", v2.data(), 49}};
  EXPECT_FALSE(check_checkpoint_matches(*back, s, meta.optimizer, &wrong, "k").is_ok());
}

}  // namespace
}  // namespace mnemo::train
