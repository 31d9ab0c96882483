// Every model variant stories260K does not exercise (NeoX RoPE and q/k/v biases via qwen2, linear
// RoPE scaling, MQA, tied and untied heads, BF16/F16/Q8_0/Q4_0/Q4_1/Q5_x/K-quant weights) on tiny
// random models, against llama.cpp's logits at 16 positions (tests/data/golden/variants/).
//
// Models mnemo can write are regenerated with generate_model() and must hash to the recorded
// SHA-256 (so llama.cpp and mnemo saw the same bytes); the K-quant and Q4_1/Q5_x files were made
// by llama-quantize and are committed in tests/data/models/. mnemo rounds activations as llama.cpp
// does (kernels::activation_rounding), so F32, Q8_0 and the K-quants agree to ~1e-6 x max|logit|
// and F16/BF16 to ~1e-3 (the f32 sums run in other orders). Tolerances, x max|logit| per position:
// - F32 weights: 1e-4 everywhere.
// - F16/BF16: 1e-2 everywhere.
// - quantized: 1e-4 until the first position that differs more, 2.5e-2 from there on. An 8-bit
//   activation that sits on a rounding tie can be rounded apart by the two programs' different f32
//   sum orders (one step of 1/127 of its block's max); the flipped value then stays in the KV cache
//   of every later position. The first position (BOS) must always agree to 1e-4, so a wrong kernel,
//   which is wrong from the first token on, cannot hide behind the tie allowance.
// An entry may carry a measured "tolerance" with its "why" that replaces these for all positions:
// Q4_1/Q5_1 differ at every position because llama.cpp's Q8_1 rows keep sum(x) as a half (its min
// term), which a dequantize-and-dot path does not reproduce.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "base/sha256.h"
#include "mnemo/convert.h"
#include "mnemo/mnemo.h"
#include "runtime/model_impl.h"
#include "test_util.h"

namespace mnemo {
namespace {

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  return sha256_hex(bytes.data(), bytes.size());
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

class Variants : public ::testing::TestWithParam<std::string> {};

TEST_P(Variants, LogitsMatchLlamaCpp) {
  const std::string name = GetParam();
  nlohmann::json entry;
  for (const auto& e : read_json(test::golden_path("golden/variants.json"))) {
    if (e["name"] == name) entry = e;
  }
  ASSERT_FALSE(entry.is_null()) << name;
  std::string path;
  if (entry.contains("gen")) {
    const auto& g = entry["gen"];
    GenModelParams p;
    p.shape = g["shape"];
    p.dtype = g["dtype"];
    p.seed = g["seed"];
    if (g.contains("arch")) p.arch = g["arch"];
    if (g.contains("n_head_kv")) p.n_head_kv = g["n_head_kv"];
    if (g.contains("rope_scaling")) p.rope_scaling_factor = g["rope_scaling"];
    if (g.contains("rope_base")) p.rope_freq_base = g["rope_base"];
    if (g.contains("tied")) p.tied_output = g["tied"];
    path = test::temp_dir() + "/" + name + ".gguf";
    p.output = path;
    Status s = generate_model(p);
    ASSERT_TRUE(s.is_ok()) << s.message();
  } else {
    path = test::golden_path(entry["file"]);
  }
  ASSERT_EQ(file_sha256(path), entry["sha256"]) << name << ": not the file llama.cpp evaluated";

  const nlohmann::json ref = read_json(test::golden_path("golden/variants/" + name + ".json"));
  auto model = Model::load(path);
  ASSERT_TRUE(model.has_value()) << model.status().message();
  const std::vector<Token> tokens = ref["tokens"].get<std::vector<Token>>();
  ContextParams cp;
  cp.n_ctx = static_cast<int64_t>(tokens.size());
  cp.n_batch = cp.n_ctx;
  cp.logits_all = true;
  cp.type_k = cp.type_v = "f32";  // as llama.cpp's logits were made (dump_logits --kv f32)
  auto ctx = Context::create(**model, cp);
  ASSERT_TRUE(ctx.has_value()) << ctx.status().message();
  ASSERT_TRUE((*ctx)->eval(tokens, 0, true).is_ok());
  const bool quantized = entry["quantized"].get<bool>();
  const bool fixed = entry.contains("tolerance");
  const bool halves = name.find("F16") != std::string::npos;  // F16 and BF16 weights
  const bool ties = quantized && !halves && !fixed;               // 8-bit activations
  const float exact = fixed ? entry["tolerance"].get<float>() : quantized && halves ? 1e-2f : 1e-4f;
  const float after_tie = ties ? 2.5e-2f : exact;
  double worst = 0;
  int64_t first_tie = -1;
  for (size_t k = 0; k < ref["positions"].size(); ++k) {
    const int64_t pos = ref["positions"][k];
    const std::vector<float> want = ref["logits"][k].get<std::vector<float>>();
    const auto got = (*ctx)->logits(pos);
    ASSERT_EQ(got.size(), want.size());
    float scale = 0;
    for (float x : want) scale = std::max(scale, std::fabs(x));
    double err = 0;
    for (size_t i = 0; i < want.size(); ++i) err = std::max(err, std::fabs(static_cast<double>(got[i]) - want[i]) / scale);
    worst = std::max(worst, err);
    if (err > exact && first_tie < 0) {
      ASSERT_GT(k, 0u) << name << ": the first position differs by " << err << " x max|logit| (bound " << exact << ")";
      first_tie = pos;
    }
    const float rel = first_tie < 0 ? exact : after_tie;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], rel * scale) << name << " position " << pos << " token " << i << " scale " << scale;
    }
  }
  if (first_tie >= 0) std::printf("[ info     ] %s: first differing position %lld\n", name.c_str(), static_cast<long long>(first_tie));
  RecordProperty("max_rel_error", std::to_string(worst));
  if (entry.contains("gen")) std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Runtime, Variants,
                         ::testing::Values("llama-f32", "qwen2-f32", "ropescale-f32", "mqa-tied-f32", "llama-BF16",
                                           "llama-F16", "llama-Q8_0", "llama-Q4_0", "micro-f32", "micro-Q4_1",
                                           "micro-Q5_0", "micro-Q5_1", "micro-Q2_K", "micro-Q3_K", "micro-Q4_K",
                                           "micro-Q5_K", "micro-Q6_K"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = i.param;
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace mnemo

namespace mnemo {
namespace {

// Logits of a prefill that goes through OpenBLAS (48 tokens, 256-wide rows: kernels/blas.h) and of
// the decode steps after it are bit-identical at 1, 2 and 3 threads: the row splits (Q/K/V in head
// groups, the rest in matmul_row_grain units) never cut one of OpenBLAS's fixed row chunks.
TEST(Runtime, LogitsDoNotDependOnThreadCount) {
  for (const char* dtype : {"F32", "F16", "Q4_0"}) {
    GenModelParams p;
    p.shape = "tiny";
    p.dtype = dtype;
    p.seed = 5;
    p.output = test::temp_dir() + "/threads-" + dtype + ".gguf";
    ASSERT_TRUE(generate_model(p).is_ok());
    std::vector<Token> tokens;
    for (int i = 0; i < 48; ++i) tokens.push_back((i * 37 + 11) % 512);
    std::vector<std::vector<float>> runs;
    for (int threads : {1, 2, 3}) {
      EngineParams ep;
      ep.n_threads = threads;
      ep.cap_threads_at_cpus = false;  // 3 threads on 2 CPUs: an odd split is the point
      ModelParams mp;
      mp.engine = std::move(Engine::create(ep)).value();
      auto model = Model::load(p.output, mp);
      ASSERT_TRUE(model.has_value()) << model.status().message();
      ContextParams cp;
      cp.n_ctx = 64;
      cp.n_batch = 64;
      cp.logits_all = true;
      auto ctx = Context::create(**model, cp);
      ASSERT_TRUE(ctx.has_value()) << ctx.status().message();
      ASSERT_TRUE((*ctx)->eval(tokens, 0, true).is_ok());
      std::vector<float> all;
      for (int64_t i = 0; i < 48; ++i) {
        auto l = (*ctx)->logits(i);
        all.insert(all.end(), l.begin(), l.end());
      }
      const std::vector<Token> next = {7};
      ASSERT_TRUE((*ctx)->eval(next, 48, true).is_ok());
      auto l = (*ctx)->logits(0);
      all.insert(all.end(), l.begin(), l.end());
      runs.push_back(std::move(all));
    }
    for (size_t k = 1; k < runs.size(); ++k) {
      ASSERT_EQ(runs[0].size(), runs[k].size());
      EXPECT_EQ(0, std::memcmp(runs[0].data(), runs[k].data(), runs[0].size() * sizeof(float)))
          << dtype << ": logits at " << k + 1 << " threads differ from 1 thread";
    }
    std::remove(p.output.c_str());
  }
}

}  // namespace
}  // namespace mnemo
