// The training config: unknown keys, wrong types and impossible shapes are errors naming the key;
// bad data is rejected before any work.
#include <gtest/gtest.h>

#include <cstdlib>

#include "train_run_util.h"

namespace mnemo::train {
namespace {

std::string error_of(const nlohmann::json& j) {
  auto c = parse_train_config(j.dump(), "x.json");
  if (c.has_value()) return "";
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  return c.status().message();
}

TEST(TrainConfig, ParsesEveryKey) {
  const std::string dir = mnemo::test::temp_dir();
  nlohmann::json j = test::tiny_config(dir);
  j["name"] = "n";
  j["tokenizer"] = "tok.bin";
  j["data"]["shuffle"] = false;
  j["data"]["split"] = "line";
  j["grad_accum"] = 3;
  j["schedule"]["kind"] = "constant";
  j["optimizer"] = {{"type", "galore"},   {"beta1", 0.8},      {"beta2", 0.99}, {"eps", 1e-6},
                    {"weight_decay", 0.0}, {"grad_clip", 0.5}, {"galore", {{"rank", 4}, {"update_interval", 10}, {"scale", 0.5}, {"proj_type", "std"}}}};
  j["eval"] = {{"interval", 3}, {"batches", 1}, {"prompt", "hi"}, {"sample_tokens", 5}, {"temperature", 0.0}};
  j["checkpoint"] = {{"dir", "ck"}, {"interval", 2}, {"keep", 0}};
  j["output"] = "o.gguf";
  j["output_type"] = "f32";
  j["log"] = "l.jsonl";
  auto c = parse_train_config(j.dump(), "x.json");
  ASSERT_TRUE(c.has_value()) << c.status().message();
  EXPECT_EQ(c->model.n_embd, 32);
  EXPECT_EQ(c->grad_accum, 3);
  EXPECT_EQ(c->optimizer.galore_rank, 4);
  EXPECT_EQ(c->optimizer.galore_proj_type, "std");
  EXPECT_DOUBLE_EQ(c->optimizer.beta2, 0.99);
  EXPECT_EQ(c->eval.prompt, "hi");
  EXPECT_EQ(c->checkpoint.keep, 0);
  EXPECT_EQ(c->output_type, "f32");
  EXPECT_FALSE(c->data.shuffle);
}

TEST(TrainConfig, UnknownKeysAreErrorsAtEveryLevel) {
  nlohmann::json j = test::tiny_config(mnemo::test::temp_dir());
  auto with = [&](const std::function<void(nlohmann::json&)>& f) {
    nlohmann::json k = j;
    f(k);
    return error_of(k);
  };
  EXPECT_EQ(with([](auto& k) { k["stpes"] = 3; }), "x.json: stpes: unknown key");
  EXPECT_EQ(with([](auto& k) { k["model"]["n_embed"] = 3; }), "x.json: model.n_embed: unknown key");
  EXPECT_EQ(with([](auto& k) { k["optimizer"]["galore"]["rnak"] = 3; }), "x.json: optimizer.galore.rnak: unknown key");
  EXPECT_EQ(with([](auto& k) { k["eval"]["every"] = 3; }), "x.json: eval.every: unknown key");
  EXPECT_EQ(with([](auto& k) { k["batch_size"] = "8"; }), "x.json: batch_size: expected an integer, found \"8\"");
  EXPECT_EQ(with([](auto& k) { k["data"] = 3; }), "x.json: data: expected an object, found number");
}

TEST(TrainConfig, ImpossibleShapesAndValuesAreErrors) {
  nlohmann::json j = test::tiny_config(mnemo::test::temp_dir());
  auto with = [&](const std::function<void(nlohmann::json&)>& f) {
    nlohmann::json k = j;
    f(k);
    return error_of(k);
  };
  EXPECT_EQ(with([](auto& k) { k["model"]["n_head"] = 5; }), "x.json: model.n_head: expected a divisor of n_embd (32), found 5");
  EXPECT_EQ(with([](auto& k) { k["model"]["n_head_kv"] = 3; }),
            "x.json: model.n_head_kv: expected a divisor of n_head (4), found 3");
  EXPECT_EQ(with([](auto& k) { k["model"]["n_layer"] = 0; }), "x.json: model.n_layer: expected a positive count, found 0");
  EXPECT_EQ(with([](auto& k) { k["seq_len"] = 65; }), "x.json: seq_len: expected at most model.n_ctx (64), found 65");
  EXPECT_NE(with([](auto& k) { k["schedule"]["min_lr"] = 1.0; }), "");
  EXPECT_NE(with([](auto& k) { k["output_type"] = "q4_0"; }), "");
  EXPECT_NE(with([](auto& k) { k["checkpoint"] = {{"interval", 5}}; }), "");
  EXPECT_NE(with([](auto& k) { k["model"]["init_from"] = "m.gguf"; }), "") << "shape keys with init_from";
  // GaLore's rank above the smaller side of a projected matrix: rejected before any work.
  nlohmann::json g = j;
  g["optimizer"] = {{"type", "galore"}, {"galore", {{"rank", 40}}}};
  auto r = run_training(test::config_from(g));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.status().message().find("optimizer.galore.rank: expected 1..32"), std::string::npos)
      << r.status().message();
}

TEST(TrainConfig, EnvironmentVariablesInPaths) {
  ::setenv("MNEMO_TEST_DIR", "/some/where", 1);
  nlohmann::json j = test::tiny_config(mnemo::test::temp_dir());
  j["output"] = "${MNEMO_TEST_DIR}/o.gguf";
  j["log"] = "${MNEMO_TEST_UNSET_VAR:-/tmp/x}/l.jsonl";
  auto c = parse_train_config(j.dump(), "x.json");
  ASSERT_TRUE(c.has_value()) << c.status().message();
  EXPECT_EQ(c->output, "/some/where/o.gguf");
  EXPECT_EQ(c->log, "/tmp/x/l.jsonl");
  j["output"] = "${MNEMO_TEST_UNSET_VAR}/o.gguf";
  EXPECT_EQ(error_of(j), "x.json: output: environment variable MNEMO_TEST_UNSET_VAR is not set");
}

TEST(TrainConfig, DataBeyondTheVocabularyIsRejectedBeforeWork) {
  const std::string dir = mnemo::test::temp_dir();
  nlohmann::json j = test::tiny_config(dir);
  test::write_random_docs(dir + "/big.bin", 10, 200, 3);  // ids up to 199, model vocabulary 67
  j["data"]["train"] = {dir + "/big.bin"};
  auto r = run_training(test::config_from(j));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("big.bin: n_vocab: expected at most 67 (the model's vocabulary), found 200"),
            std::string::npos)
      << r.status().message();
  j["data"]["train"] = {dir + "/missing.bin"};
  auto m = run_training(test::config_from(j));
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.status().message().find("missing.bin: cannot open"), std::string::npos) << m.status().message();
}

}  // namespace
}  // namespace mnemo::train
