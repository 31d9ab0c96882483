// Lazy asynchronous checkpoints (DataStates-LLM, src/train/checkpoint_writer.h) and corruption
// safety: an async save writes the same bytes as a sync save of the same step; the loop's blocked
// time is recorded; every damaged byte is detected with the file and section named; resuming a
// directory falls back past a corrupt or partial newest checkpoint.
#include <gtest/gtest.h>

#include <filesystem>

#include "train/checkpoint.h"
#include "train/checkpoint_writer.h"
#include "train_run_util.h"

namespace mnemo::train {
namespace {

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(TrainCheckpointAsync, SameBytesAsSyncAndBlockedTimeRecorded) {
  const std::string dir = mnemo::test::temp_dir();
  nlohmann::json j = test::tiny_config(dir);
  j["steps"] = 12;
  std::vector<double> losses[2];
  for (int k = 0; k < 2; ++k) {
    const std::string mode = k == 0 ? "sync" : "async";
    j["checkpoint"] = {{"dir", dir + "/" + mode}, {"interval", 4}, {"keep", 0}, {"mode", mode}};
    auto r = run_training(test::config_from(j));
    ASSERT_TRUE(r.has_value()) << r.status().message();
    losses[k] = r->losses;
    ASSERT_EQ(r->checkpoint_times.size(), 3u) << mode;
    for (size_t i = 0; i < 3; ++i) {
      const auto& t = r->checkpoint_times[i];
      EXPECT_EQ(t.step, 4 * static_cast<int64_t>(i + 1)) << mode;
      EXPECT_GE(t.blocked, 0.0) << mode;
      EXPECT_GE(t.wait_previous, 0.0) << mode;
      EXPECT_LE(t.wait_previous, t.blocked) << mode;
      EXPECT_GT(t.write, 0.0) << mode << " step " << t.step;  // the background write's time came back
    }
  }
  EXPECT_EQ(losses[0], losses[1]);  // the lazy copy never sees a half-updated state
  ASSERT_EQ(names_in(dir + "/sync"), names_in(dir + "/async"));
  for (const std::string& name : names_in(dir + "/sync")) {
    EXPECT_EQ(test::read_raw<uint8_t>(dir + "/sync/" + name), test::read_raw<uint8_t>(dir + "/async/" + name)) << name;
  }
}

TEST(TrainCheckpointAsync, ConfigRejectsUnknownMode) {
  const std::string dir = mnemo::test::temp_dir();
  nlohmann::json j = test::tiny_config(dir);
  j["checkpoint"] = {{"dir", dir + "/c"}, {"mode", "lazy"}};
  auto c = parse_train_config(j.dump(), "t.json");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.status().message().find("checkpoint.mode"), std::string::npos) << c.status().message();
}

TEST(TrainCheckpointAsync, WriterWaitsForThePreviousWriteAndCopiesLazily) {
  const std::string dir = mnemo::test::temp_dir();
  const TrainShape s = test::tiny_shape();
  const ParamLayout layout = ParamLayout::build(s);
  std::vector<float> p(static_cast<size_t>(layout.n_params())), m(300, 0.5f);
  init_params(s, layout, 0.1f, 3, p.data());
  CheckpointMeta meta;
  meta.shape = s;
  meta.n_params = layout.n_params();
  const std::vector<StateTensor> state = {{"m", m.data(), 300}};
  CheckpointWriter w;
  w.reserve(checkpoint_floats(meta.n_params, state));
  EXPECT_EQ(w.snapshot_bytes(), 4 * static_cast<uint64_t>(layout.n_params() + 300));
  for (int64_t step = 1; step <= 3; ++step) {
    meta.step = step;
    ASSERT_TRUE(w.start_lazy(checkpoint_path(dir, step), dir, 2, meta, p.data(), state).is_ok());
    w.wait_copied();
    m[0] = static_cast<float>(step);  // changed after the copy: not in this checkpoint
  }
  ASSERT_TRUE(w.finish().is_ok());
  const auto list = list_checkpoints(dir);
  ASSERT_EQ(list.size(), 2u);  // keep = 2, pruned by the writer
  EXPECT_EQ(list.back().first, 3);
  auto back = read_checkpoint_meta(list.back().second);
  ASSERT_TRUE(back.has_value()) << back.status().message();
  std::vector<float> p2(p.size()), m2(300);
  ASSERT_TRUE(load_checkpoint(list.back().second, *back, p2.data(), {{"m", m2.data(), 300}}).is_ok());
  EXPECT_EQ(p2, p);
  EXPECT_EQ(m2[0], 2.0f);  // the value at the save of step 3
  EXPECT_EQ(w.take_finished().size(), 3u);
  // A write that fails (no such directory) comes back at finish.
  meta.step = 4;
  ASSERT_TRUE(w.start_lazy(dir + "/missing/ckpt_00000004.bin", dir, 2, meta, p.data(), state).is_ok());
  EXPECT_FALSE(w.finish().is_ok());
}

// A small checkpoint (parameters and two state tensors) for the byte-by-byte checks.
std::vector<uint8_t> small_checkpoint(const std::string& path) {
  TrainShape s;
  s.n_vocab = 5;
  s.n_embd = 4;
  s.n_layer = 1;
  s.n_head = 1;
  s.n_head_kv = 1;
  s.n_ff = 4;
  s.n_ctx = 8;
  const ParamLayout layout = ParamLayout::build(s);
  std::vector<float> p(static_cast<size_t>(layout.n_params()));
  init_params(s, layout, 0.1f, 3, p.data());
  std::vector<float> m(p.size(), 0.5f), v(p.size(), 0.25f);
  CheckpointMeta meta;
  meta.shape = s;
  meta.step = 3;
  meta.n_params = layout.n_params();
  const int64_t n = meta.n_params;
  EXPECT_TRUE(save_checkpoint(path, meta, p.data(), {{"adamw.m", m.data(), n}, {"adamw.v", v.data(), n}}).is_ok());
  return test::read_raw<uint8_t>(path);
}

TEST(TrainCheckpointAsync, EveryCorruptByteIsDetectedAndItsSectionNamed) {
  const std::string dir = mnemo::test::temp_dir();
  const auto good = small_checkpoint(dir + "/good.bin");
  auto meta = read_checkpoint_meta(dir + "/good.bin");
  ASSERT_TRUE(meta.has_value()) << meta.status().message();
  const size_t n = static_cast<size_t>(meta->n_params) * 4;
  const size_t tensors = good.size() - 3 * n - 5 * 32;  // the first tensor byte (table: 4 digests + its own)
  const std::string bad = dir + "/bad.bin";
  for (size_t at = 0; at < good.size(); ++at) {
    auto b = good;
    b[at] ^= static_cast<uint8_t>(1u << (at % 8));
    test::write_raw(bad, b);
    auto r = read_checkpoint_meta(bad);
    ASSERT_FALSE(r.has_value()) << "byte " << at;
    const std::string msg = r.status().message();
    ASSERT_NE(msg.find(bad), std::string::npos) << msg;
    if (at >= tensors && at < tensors + 3 * n) {
      const char* section[] = {"section 'parameters'", "section 'adamw.m'", "section 'adamw.v'"};
      ASSERT_NE(msg.find(section[(at - tensors) / n]), std::string::npos) << "byte " << at << ": " << msg;
    } else if (at >= tensors + 3 * n) {
      ASSERT_NE(msg.find("section table"), std::string::npos) << "byte " << at << ": " << msg;
    } else if (at >= 8 && at < 12) {  // the version
      ASSERT_NE(msg.find("version"), std::string::npos) << "byte " << at << ": " << msg;
    } else {
      ASSERT_NE(msg.find("section header"), std::string::npos) << "byte " << at << ": " << msg;
    }
  }
  // Partial files (every length): the section the file ends in is named.
  for (size_t len = 0; len < good.size(); len += 7) {
    test::write_raw(bad, std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len)));
    auto r = read_checkpoint_meta(bad);
    ASSERT_FALSE(r.has_value()) << "length " << len;
    if (len >= tensors && len < tensors + 3 * n) {
      const char* section[] = {"ends in section 'parameters'", "ends in section 'adamw.m'", "ends in section 'adamw.v'"};
      ASSERT_NE(r.status().message().find(section[(len - tensors) / n]), std::string::npos) << r.status().message();
    }
  }
}

TEST(TrainCheckpointAsync, ResumeFallsBackPastCorruptAndPartialCheckpoints) {
  const std::string dir = mnemo::test::temp_dir();
  nlohmann::json j = test::tiny_config(dir);
  j["steps"] = 10;
  auto whole = run_training(test::config_from(j));
  ASSERT_TRUE(whole.has_value()) << whole.status().message();
  j["checkpoint"] = {{"dir", dir + "/c"}, {"interval", 2}, {"keep", 3}};
  TrainOptions stop;
  stop.stop_after = 6;
  auto first = run_training(test::config_from(j), stop);
  ASSERT_TRUE(first.has_value()) << first.status().message();
  ASSERT_EQ(list_checkpoints(dir + "/c").size(), 3u);  // 2, 4, 6
  // The newest damaged in its optimizer state, the one before cut short.
  const std::string c6 = checkpoint_path(dir + "/c", 6), c4 = checkpoint_path(dir + "/c", 4);
  auto b6 = test::read_raw<uint8_t>(c6);
  b6[b6.size() - 200] ^= 1;  // before the table (4 x 32 + 32 bytes): in adamw.v
  test::write_raw(c6, b6);
  auto b4 = test::read_raw<uint8_t>(c4);
  b4.resize(b4.size() / 2);
  test::write_raw(c4, b4);
  std::vector<std::string> notes;
  TrainOptions resume;
  resume.resume = dir + "/c";
  resume.on_message = [&](const std::string& m) { notes.push_back(m); };
  auto rest = run_training(test::config_from(j), resume);
  ASSERT_TRUE(rest.has_value()) << rest.status().message();
  EXPECT_EQ(rest->first_step, 2);
  ASSERT_EQ(rest->losses.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(rest->losses[i], whole->losses[2 + i]) << "step " << i + 3;
  ASSERT_GE(notes.size(), 2u);
  EXPECT_NE(notes[0].find(c6 + ": section 'adamw.v'"), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("falling back to the previous checkpoint"), std::string::npos) << notes[0];
  EXPECT_NE(notes[1].find(c4), std::string::npos) << notes[1];
  EXPECT_NE(notes[1].find("ends in section"), std::string::npos) << notes[1];
  // Nothing verifies: an error naming the directory and the newest's damage.
  for (const auto& [step, path] : list_checkpoints(dir + "/c")) {
    auto b = test::read_raw<uint8_t>(path);
    b[b.size() / 2] ^= 1;
    test::write_raw(path, b);
  }
  auto none = run_training(test::config_from(j), resume);
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.status().message().find("no checkpoint verifies"), std::string::npos) << none.status().message();
}

}  // namespace
}  // namespace mnemo::train
