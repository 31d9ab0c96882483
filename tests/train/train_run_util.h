// tests/train/train_run_util.h: whole training runs on tiny models and synthetic token files.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "mnemo/train.h"
#include "train/data.h"
#include "train/rng.h"
#include "train_test_util.h"

namespace mnemo::train::test {

// Random documents over ids [3, vocab) with BOS = 1, written as a token file.
inline std::string write_random_docs(const std::string& path, int n_docs, int32_t vocab, uint64_t seed) {
  TokenData d;
  d.n_vocab = vocab;
  d.bos = 1;
  Rng rng(seed);
  for (int k = 0; k < n_docs; ++k) {
    const int len = 4 + static_cast<int>(rng.below(40));
    for (int i = 0; i < len; ++i) d.tokens.push_back(3 + static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab - 3))));
    d.doc_start.push_back(d.n_tokens());
  }
  EXPECT_TRUE(write_token_file(path, d).is_ok());
  return path;
}

// A config for a tiny model on the token files in dir (train.bin, val.bin, written if missing).
inline nlohmann::json tiny_config(const std::string& dir) {
  if (!mnemo::test::exists(dir + "/train.bin")) write_random_docs(dir + "/train.bin", 200, 67, 1);
  if (!mnemo::test::exists(dir + "/val.bin")) write_random_docs(dir + "/val.bin", 40, 67, 2);
  nlohmann::json j;
  j["model"] = {{"n_vocab", 67}, {"n_embd", 32}, {"n_layer", 2}, {"n_head", 4},
                {"n_head_kv", 2}, {"n_ff", 44},  {"n_ctx", 64}};
  j["data"] = {{"train", {dir + "/train.bin"}}, {"val", dir + "/val.bin"}};
  j["batch_size"] = 2;
  j["seq_len"] = 32;
  j["steps"] = 40;
  j["schedule"] = {{"lr", 3e-3}, {"min_lr", 3e-4}, {"warmup", 5}};
  j["eval"] = {{"interval", 10}, {"batches", 2}};
  j["threads"] = 2;
  j["seed"] = 5;
  return j;
}

inline TrainConfig config_from(const nlohmann::json& j) {
  auto c = parse_train_config(j.dump(), "test.json");
  EXPECT_TRUE(c.has_value()) << c.status().message();
  return c.has_value() ? *c : TrainConfig{};
}

}  // namespace mnemo::train::test
