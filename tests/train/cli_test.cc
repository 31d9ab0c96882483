// `mnemo tokenize` and `mnemo train` as users run them: a tiny model trained on TinyStories text
// with tok512, whose GGUF `mnemo run` and `mnemo perplexity` load; --estimate; resuming through
// the CLI; and the errors for bad configs, data and checkpoints.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace {

using mnemo::test::data_path;
using mnemo::test::mnemo_bin;
using mnemo::test::run_process;

struct Paths {
  std::string dir, data, config;
};

Paths prepare(const nlohmann::json& extra = nlohmann::json::object()) {
  Paths p;
  p.dir = mnemo::test::temp_dir();
  p.data = p.dir + "/val.bin";
  auto r = run_process({mnemo_bin(), "tokenize", data_path("text/tinystories_val.txt"), "-m",
                        data_path("models/tok512.bin"), "-o", p.data});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("4302 documents"), std::string::npos) << r.out;
  nlohmann::json j;
  j["name"] = "cli-tiny";
  j["model"] = {{"n_vocab", 512}, {"n_embd", 32}, {"n_layer", 2}, {"n_head", 4}, {"n_head_kv", 2}, {"n_ff", 64}, {"n_ctx", 64}};
  j["tokenizer"] = data_path("models/tok512.bin");
  j["data"] = {{"train", {p.data}}, {"val", p.data}};
  j["batch_size"] = 2;
  j["seq_len"] = 64;
  j["steps"] = 6;
  j["schedule"] = {{"lr", 5e-3}, {"warmup", 2}};
  j["eval"] = {{"interval", 3}, {"batches", 2}, {"prompt", "Once upon a time"}, {"sample_tokens", 8}};
  j["checkpoint"] = {{"dir", p.dir + "/ck"}, {"interval", 3}};
  j["output"] = p.dir + "/tiny.gguf";
  j["log"] = p.dir + "/log.jsonl";
  j["threads"] = 2;
  if (extra.is_object()) j.update(extra);
  p.config = p.dir + "/tiny.json";
  std::ofstream(p.config) << j.dump(2);
  return p;
}

TEST(TrainCli, TrainsAModelThatRunAndPerplexityLoad) {
  MNEMO_REQUIRE_DATA("models/tok512.bin");
  MNEMO_REQUIRE_DATA("text/tinystories_val.txt");
  const Paths p = prepare();
  auto est = run_process({mnemo_bin(), "train", "--config", p.config, "--estimate", "--json"});
  ASSERT_EQ(est.exit_code, 0) << est.err;
  const auto e = nlohmann::json::parse(est.out);
  EXPECT_GT(e["total"].get<uint64_t>(), e["activations"].get<uint64_t>());
  auto r = run_process({mnemo_bin(), "train", "--config", p.config});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("step      6/6 | loss"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sample: Once upon a time"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("memory: estimated"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + p.dir + "/tiny.gguf"), std::string::npos) << r.out;
  auto run = run_process({mnemo_bin(), "run", "-m", p.dir + "/tiny.gguf", "-p", "Once upon a time", "-n", "8"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out.rfind("Once upon a time", 0), 0u) << run.out;
  auto ppl = run_process({mnemo_bin(), "perplexity", "-m", p.dir + "/tiny.gguf", "-f",
                          data_path("text/tinystories_val.txt"), "-c", "64", "--chunks", "4", "--json"});
  ASSERT_EQ(ppl.exit_code, 0) << ppl.err;
  EXPECT_GT(nlohmann::json::parse(ppl.out)["ppl"].get<double>(), 1.0);
  // One log line per step.
  std::ifstream log(p.dir + "/log.jsonl");
  int lines = 0;
  for (std::string line; std::getline(log, line);) ++lines;
  EXPECT_EQ(lines, 6);
}

TEST(TrainCli, ResumeContinuesExactly) {
  MNEMO_REQUIRE_DATA("models/tok512.bin");
  MNEMO_REQUIRE_DATA("text/tinystories_val.txt");
  const Paths p = prepare({{"output", ""}, {"eval", {{"interval", 0}, {"batches", 1}}}});
  auto whole = run_process({mnemo_bin(), "train", "--config", p.config, "--json"});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const auto all = nlohmann::json::parse(whole.out)["losses"];
  ASSERT_EQ(all.size(), 6u);
  std::filesystem::remove_all(p.dir + "/ck");  // the interrupted run starts afresh
  auto first = run_process({mnemo_bin(), "train", "--config", p.config, "--json", "--stop-after", "4"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // Asynchronous checkpoints (the default): each save's blocked, wait and write times in --json,
  // the blocked time on the progress line.
  const auto fj = nlohmann::json::parse(first.out);
  EXPECT_EQ(fj["checkpoint_mode"].get<std::string>(), "async");
  ASSERT_FALSE(fj["checkpoint_times"].empty()) << first.out;
  for (const auto& t : fj["checkpoint_times"]) {
    EXPECT_GE(t["blocked_seconds"].get<double>(), 0.0);
    EXPECT_GE(t["wait_previous_seconds"].get<double>(), 0.0);
    EXPECT_GT(t["write_seconds"].get<double>(), 0.0);
  }
  EXPECT_NE(first.err.find("| ckpt blocked "), std::string::npos) << first.err;
  auto rest = run_process({mnemo_bin(), "train", "--config", p.config, "--json", "--resume", p.dir + "/ck"});
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_NE(rest.err.find("resumed from " + p.dir + "/ck/ckpt_00000004.bin at step 4"), std::string::npos) << rest.err;
  const auto tail = nlohmann::json::parse(rest.out)["losses"];
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].get<double>(), all[4].get<double>());
  EXPECT_EQ(tail[1].get<double>(), all[5].get<double>());
  // A checkpoint past the run's end is an error before any step (here step 6 of a 5-step run).
  auto past = run_process({mnemo_bin(), "train", "--config", p.config, "--resume", p.dir + "/ck", "--steps", "5"});
  EXPECT_EQ(past.exit_code, 2) << past.err;
  EXPECT_NE(past.err.find("ckpt_00000006.bin: expected a checkpoint at or before the run's last step 5, found step 6"),
            std::string::npos)
      << past.err;
}

// --steps overrides the config's length and with it the schedule: a 4-step run of the 6-step config
// writes its GGUF; its losses equal the 6-step run's (the updates before them used the same
// learning rates: warmup, then the cosine's first value), but its 4th step's learning rate is that
// of a 4-step cosine (5e-4 + 4.5e-3 (1 + cos(pi/2)) / 2), not of a 6-step one (4.34e-3).
TEST(TrainCli, StepsOverridesTheLengthAndTheSchedule) {
  MNEMO_REQUIRE_DATA("models/tok512.bin");
  MNEMO_REQUIRE_DATA("text/tinystories_val.txt");
  const Paths p = prepare({{"checkpoint", {{"dir", ""}}}, {"eval", {{"interval", 0}, {"batches", 1}}},
                           {"schedule", {{"lr", 5e-3}, {"min_lr", 5e-4}, {"warmup", 2}}}});
  auto six = run_process({mnemo_bin(), "train", "--config", p.config, "--json"});
  ASSERT_EQ(six.exit_code, 0) << six.err;
  auto four = run_process({mnemo_bin(), "train", "--config", p.config, "--json", "--steps", "4"});
  ASSERT_EQ(four.exit_code, 0) << four.err;
  EXPECT_NE(four.err.find("step      4/4 | loss"), std::string::npos) << four.err;
  EXPECT_NE(four.err.find("lr 2.75e-03"), std::string::npos) << four.err;
  EXPECT_NE(six.err.find("step      4/6 | loss"), std::string::npos) << six.err;
  EXPECT_NE(six.err.find("lr 4.34e-03"), std::string::npos) << six.err;
  const auto a = nlohmann::json::parse(six.out)["losses"], b = nlohmann::json::parse(four.out)["losses"];
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(b[i].get<double>(), a[i].get<double>()) << "step " << i + 1;
  EXPECT_TRUE(std::filesystem::exists(p.dir + "/tiny.gguf"));
  auto bad = run_process({mnemo_bin(), "train", "--config", p.config, "--steps", "0"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

TEST(TrainCli, BadInputIsAClearErrorBeforeWork) {
  MNEMO_REQUIRE_DATA("models/tok512.bin");
  MNEMO_REQUIRE_DATA("models/tokenizer.bin");
  MNEMO_REQUIRE_DATA("text/tinystories_val.txt");
  Paths p = prepare({{"optimizer", {{"type", "adamw"}, {"weight_decya", 0.1}}}});
  auto r = run_process({mnemo_bin(), "train", "--config", p.config});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "mnemo: error: " + p.config + ": optimizer.weight_decya: unknown key\n");
  // Data whose ids exceed the model's vocabulary (tokenized with a 32000-token vocabulary).
  p = prepare();
  auto t = run_process({mnemo_bin(), "tokenize", data_path("text/tinystories_val.txt"), "-m",
                        data_path("models/tokenizer.bin"), "-o", p.dir + "/big.bin"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  p = prepare({{"data", {{"train", {p.dir + "/big.bin"}}}}});
  r = run_process({mnemo_bin(), "train", "--config", p.config});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("n_vocab: expected at most 512 (the model's vocabulary), found 32000"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("step "), std::string::npos) << "no step may run";
  // A corrupt checkpoint.
  p = prepare({{"output", ""}});
  ASSERT_EQ(run_process({mnemo_bin(), "train", "--config", p.config, "--stop-after", "3"}).exit_code, 0);
  const std::string ck = p.dir + "/ck/ckpt_00000003.bin";
  {
    std::fstream f(ck, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.put('\x55');
  }
  r = run_process({mnemo_bin(), "train", "--config", p.config, "--resume", ck});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("checksum"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("step "), std::string::npos) << "no step may run";
}

}  // namespace
