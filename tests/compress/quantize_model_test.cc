// mnemo::quantize_model on real and generated models (label `model`).
//
// - llama.cpp compatibility: per tensor, the type chosen and the bytes written equal llama-quantize's
//   (tests/data/quant/llama_quantize.json: micro-f32 in q8_0, q4_0, q5_0, q4_k, q6_k; stories260K in
//   q4_k and q6_k with their fallbacks) and ggml_quantize_chunk's for the stories260K tensors that
//   llama-quantize refuses to write as a whole file (q8_0, q4_0, q5_0).
// - mnemo's types load and run through the normal forward pass; embedding, output and the odd-shaped
//   ffn_down keep the same types in every file; BitMoD's weight error bars on stories260K.
// - Activation-aware scaling folds into the norms without changing the f32 model's function.
// - Bad input fails before anything is written.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>

#include "base/sha256.h"
#include "formats/gguf.h"
#include "mnemo/convert.h"
#include "mnemo/mnemo.h"
#include "mnemo/quantize.h"
#include "test_util.h"

namespace mnemo {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

// name -> (type, sha256 of the bytes) of every tensor of a GGUF file.
std::map<std::string, std::pair<std::string, std::string>> tensor_digests(const std::string& path) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  auto f = gguf::GgufFile::open(path);
  EXPECT_TRUE(f.has_value()) << f.status().message();
  if (!f) return out;
  for (const gguf::TensorInfo& t : (*f)->tensors()) {
    auto bytes = (*f)->tensor_bytes(t);
    out[t.name] = {std::string(dtype_name(t.type)), sha256_hex(bytes.data(), bytes.size())};
  }
  return out;
}

std::string micro_f32(const std::string& dir) {
  GenModelParams p;
  p.shape = "micro";
  p.dtype = "F32";
  p.seed = 21;
  p.output = dir + "/micro-f32.gguf";
  EXPECT_TRUE(generate_model(p).is_ok());
  return p.output;
}

Status quantize(const std::string& in, const std::string& out, const std::string& type, int group = 0,
                QuantizeReport* r = nullptr, const std::string& calib = "") {
  QuantizeParams p;
  p.input = in;
  p.output = out;
  p.type = type;
  p.group = group;
  p.calib_file = calib;
  p.n_threads = 2;
  return quantize_model(p, r);
}

TEST(QuantizeModel, MatchesLlamaQuantizeTensorByTensor) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  const std::string dir = test::temp_dir();
  const std::string micro = micro_f32(dir);
  const nlohmann::json ref = read_json(test::golden_path("quant/llama_quantize.json"));
  int files = 0, compared = 0;
  for (const auto& file : ref["files"]) {
    const std::string name = file["name"];
    SCOPED_TRACE(name);
    const bool is_micro = name.rfind("micro", 0) == 0;
    const bool whole_file = name.find("-tensors-") == std::string::npos;
    const std::string in = is_micro ? micro : test::data_path("models/stories260K.gguf");
    const std::string out = dir + "/" + name + ".gguf";
    ASSERT_TRUE(quantize(in, out, file["type"]).is_ok());
    const auto got = tensor_digests(out);
    int n = 0;
    for (const auto& [tname, v] : file["tensors"].items()) {
      auto it = got.find(tname);
      ASSERT_NE(it, got.end()) << tname;
      if (whole_file) {
        // llama-quantize's own file: the same type for every tensor, and the same bytes.
        EXPECT_EQ(lower(it->second.first), lower(v[0].get<std::string>())) << tname;
      } else if (lower(it->second.first) != lower(v[0].get<std::string>())) {
        continue;  // mnemo's policy chose another type (output.weight: q8_0); checked elsewhere
      }
      EXPECT_EQ(it->second.second, v[1].get<std::string>()) << tname << " (" << it->second.first << ")";
      ++n;
    }
    EXPECT_GE(n, whole_file ? static_cast<int>(file["tensors"].size()) : 30);
    compared += n;
    ++files;
  }
  EXPECT_EQ(files, 10);
  std::printf("[ info     ] %d tensors byte-identical to llama.cpp's quantizers\n", compared);
}

TEST(QuantizeModel, Llama2cCheckpointGivesTheSameTensors) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  const std::string dir = test::temp_dir();
  QuantizeParams p;
  p.input = test::data_path("models/stories260K.bin");
  p.tokenizer = test::data_path("models/tok512.bin");
  p.output = dir + "/from-bin.gguf";
  p.type = "q8_0";
  ASSERT_TRUE(quantize_model(p).is_ok());
  ASSERT_TRUE(quantize(test::data_path("models/stories260K.gguf"), dir + "/from-gguf.gguf", "q8_0").is_ok());
  // The converted checkpoint ties its output to the embedding (llama.cpp's converter writes a copy
  // as output.weight); every tensor it has is quantized to the same bytes.
  const auto a = tensor_digests(dir + "/from-bin.gguf"), b = tensor_digests(dir + "/from-gguf.gguf");
  EXPECT_EQ(a.size(), 47u);
  for (const auto& [name, v] : a) {
    auto it = b.find(name);
    ASSERT_NE(it, b.end()) << name;
    EXPECT_EQ(v, it->second) << name;
  }
  EXPECT_FALSE(test::exists(p.output + ".convert.tmp"));
}

// Perplexity over the first `chunks` chunks of 128 tokens, and the KL divergence from `ref`.
struct Eval {
  double ppl = 0, kl = 0;
};
Eval evaluate(const std::string& path, const std::string& ref_path, int chunks) {
  Eval e;
  auto m = Model::load(path);
  auto ref = Model::load(ref_path);
  EXPECT_TRUE(m.has_value() && ref.has_value());
  if (!m || !ref) return e;
  std::ifstream in(test::data_path("text/tinystories_val.txt"), std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto tokens = (*m)->tokenizer().encode(text.substr(0, 200000), true);
  ContextParams cp;
  cp.n_ctx = 128;
  cp.n_batch = 128;
  cp.logits_all = true;
  auto c = Context::create(**m, cp), rc = Context::create(**ref, cp);
  double nll = 0, kl = 0;
  int64_t count = 0;
  for (int k = 0; k < chunks; ++k) {
    std::vector<Token> chunk(tokens.begin() + k * 128, tokens.begin() + (k + 1) * 128);
    chunk[0] = 1;
    (*c)->reset();
    (*rc)->reset();
    EXPECT_TRUE((*c)->eval(chunk, 0, true).is_ok());
    EXPECT_TRUE((*rc)->eval(chunk, 0, true).is_ok());
    for (int j = 64; j < 127; ++j) {
      auto lsm = [](std::span<const float> l) {
        double mx = l[0], s = 0;
        for (float v : l) mx = std::max(mx, static_cast<double>(v));
        for (float v : l) s += std::exp(v - mx);
        std::vector<double> o(l.size());
        for (size_t i = 0; i < l.size(); ++i) o[i] = l[i] - mx - std::log(s);
        return o;
      };
      const auto p = lsm((*c)->logits(j)), q = lsm((*rc)->logits(j));
      nll -= p[static_cast<size_t>(tokens[static_cast<size_t>(k * 128 + j + 1)])];
      for (size_t v = 0; v < p.size(); ++v) kl += std::exp(q[v]) * (q[v] - p[v]);
      ++count;
    }
  }
  e.ppl = std::exp(nll / count);
  e.kl = kl / count;
  return e;
}

TEST(QuantizeModel, MnemoTypesRunAndKeepTheSameSideTypes) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  const std::string dir = test::temp_dir();
  const std::string f32 = test::data_path("models/stories260K.gguf");
  std::map<std::string, double> mse;
  for (int group : {32, 64}) {
    for (const std::string& t : group_type_names()) {
      QuantizeReport r;
      const std::string out = dir + "/" + t + std::to_string(group) + ".gguf";
      ASSERT_TRUE(quantize(f32, out, t, group, &r).is_ok()) << t;
      mse[t + std::to_string(group)] = r.method_mse;
      EXPECT_EQ(r.n_method, 30) << t;
      EXPECT_EQ(r.n_fallback, 5) << t;
      for (const TensorQuantReport& tr : r.tensors) {
        if (tr.name.find("ffn_down") != std::string::npos) {
          EXPECT_EQ(tr.type, "f16") << tr.name;
        }
        if (tr.name == "token_embd.weight" || tr.name == "output.weight") {
          EXPECT_EQ(tr.type, "q8_0") << tr.name;
        }
      }
      if (t == "bitmod4" || t == "int3-sym") {
        const Eval e = evaluate(out, f32, 4);
        // The original's perplexity on these chunks is about 4; a 7-level grid costs a lot on a
        // model this small (KL about 1 nat), a 4-bit one much less.
        EXPECT_TRUE(std::isfinite(e.ppl) && e.ppl > 1.0 && e.ppl < 16.0) << t << " ppl " << e.ppl;
        EXPECT_TRUE(e.kl > 0.0 && e.kl < (t == "bitmod4" ? 0.2 : 2.0)) << t << " kl " << e.kl;
      }
    }
    // BitMoD's bars on this model (measured; see docs/COMPRESSION.md for int4-asym).
    const std::string g = std::to_string(group);
    EXPECT_LT(mse["bitmod4" + g], mse["fp4" + g]);
    EXPECT_LT(mse["bitmod4" + g], mse["int4-sym" + g]);
    EXPECT_LT(mse["bitmod3" + g], mse["fp3" + g]);
    EXPECT_LT(mse["bitmod3" + g], mse["int3-sym" + g]);
    EXPECT_LT(mse["bitmod3" + g], mse["int3-asym" + g]);
  }
  for (int w : {1, 4, 8}) {
    QuantizeReport r;
    const std::string out = dir + "/bipolar" + std::to_string(w) + ".gguf";
    ASSERT_TRUE(quantize(f32, out, "bipolar:" + std::to_string(w), 0, &r).is_ok());
    EXPECT_NEAR(r.method_bpw(), w + 0.25, 1e-9);
    const Eval e = evaluate(out, f32, 2);
    EXPECT_TRUE(std::isfinite(e.ppl)) << w;
    if (w == 8) {
      EXPECT_LT(e.kl, 0.01);
    }
  }
}

// One activation precision per type (docs/COMPRESSION.md): prefill computes what decode computes,
// so the logits of every position through one prefill batch equal those of token-by-token decode
// (up to the attention's f32 summation order), and so do the perplexities. Before the group types'
// prefill took Q8 activations as decode does, prefill used f32 activations and the two differed by
// the Q8 rounding. Generated tiny model (rows of 256 and 512): needs no $MNEMO_DATA.
TEST(QuantizeModel, PrefillEqualsTokenByTokenDecode) {
  const std::string dir = test::temp_dir();
  GenModelParams gp;
  gp.shape = "tiny";
  gp.dtype = "F32";
  gp.seed = 5;
  gp.output = dir + "/tiny-f32.gguf";
  ASSERT_TRUE(generate_model(gp).is_ok());
  std::vector<std::string> types = group_type_names();
  types.push_back("bipolar:4");
  const int64_t T = 96;
  std::vector<Token> tokens(static_cast<size_t>(T));
  uint32_t h = 12345;
  for (Token& t : tokens) t = static_cast<Token>((h = h * 1664525u + 1013904223u) >> 23);  // < 512
  tokens[0] = 1;
  for (int group : {32, 128}) {
    for (const std::string& t : types) {
      if (group != 32 && t.rfind("bipolar", 0) == 0) continue;
      SCOPED_TRACE(t + " g" + std::to_string(group));
      const std::string out = dir + "/" + t.substr(0, t.find(':')) + std::to_string(group) + ".gguf";
      ASSERT_TRUE(quantize(gp.output, out, t, t.rfind("bipolar", 0) == 0 ? 0 : group).is_ok());
      auto m = Model::load(out);
      ASSERT_TRUE(m.has_value()) << m.status().message();
      ContextParams cp;
      cp.n_ctx = 128;
      cp.n_batch = 128;
      cp.logits_all = true;
      auto c = Context::create(**m, cp);
      ASSERT_TRUE(c.has_value()) << c.status().message();
      ASSERT_TRUE((*c)->eval(tokens, 0, true).is_ok());
      std::vector<std::vector<float>> pre;
      for (int64_t j = 0; j < T; ++j) pre.emplace_back((*c)->logits(j).begin(), (*c)->logits(j).end());
      (*c)->reset();
      double max_diff = 0.0, max_abs = 0.0, nll_pre = 0.0, nll_dec = 0.0;
      auto nll = [](const std::vector<float>& l, Token next) {
        double mx = l[0], s = 0.0;
        for (float v : l) mx = std::max(mx, static_cast<double>(v));
        for (float v : l) s += std::exp(v - mx);
        return -(l[static_cast<size_t>(next)] - mx - std::log(s));
      };
      for (int64_t j = 0; j < T; ++j) {
        ASSERT_TRUE((*c)->eval(std::span<const Token>(&tokens[static_cast<size_t>(j)], 1), j).is_ok());
        const std::vector<float> dec((*c)->logits().begin(), (*c)->logits().end());
        for (size_t v = 0; v < dec.size(); ++v) {
          max_diff = std::max(max_diff, std::fabs(static_cast<double>(dec[v]) - pre[static_cast<size_t>(j)][v]));
          max_abs = std::max(max_abs, std::fabs(static_cast<double>(dec[v])));
        }
        if (j + 1 < T) {
          nll_pre += nll(pre[static_cast<size_t>(j)], tokens[static_cast<size_t>(j + 1)]);
          nll_dec += nll(dec, tokens[static_cast<size_t>(j + 1)]);
        }
      }
      std::printf("[ info     ] %s g%d: max |prefill - decode| logit %.3g (max |logit| %.3g), ppl %.6f vs %.6f\n", t.c_str(),
                  group, max_diff, max_abs, std::exp(nll_pre / (T - 1)), std::exp(nll_dec / (T - 1)));
      EXPECT_LE(max_diff, 1e-4 * std::max(1.0, max_abs));
      EXPECT_NEAR(nll_pre, nll_dec, 1e-5 * nll_dec);
    }
  }
}

// BitMoD's bars at the paper's group size, 128, on mnemo's trained model (rows of 256 and 768;
// committed by the training issue at models/mnemo-stories.gguf; skipped where it is absent). Every
// 2-D weight but token_embd and output is in the type, in every file. Weight MSE is deterministic;
// the KL figures are in docs/COMPRESSION.md.
TEST(QuantizeModel, BitmodBarsAtGroup128OnTheTrainedModel) {
  const std::string model = std::string(MNEMO_SOURCE_DIR) + "/models/mnemo-stories.gguf";
  if (!test::exists(model)) GTEST_SKIP() << "missing " << model;
  const std::string dir = test::temp_dir();
  std::map<std::string, double> mse;
  for (const std::string& t : group_type_names()) {
    QuantizeReport r;
    ASSERT_TRUE(quantize(model, dir + "/" + t + ".gguf", t, 128, &r).is_ok()) << t;
    EXPECT_EQ(r.n_fallback, 0) << t;
    EXPECT_NEAR(r.method_bpw(), t.find('4') != std::string::npos ? (t == "int4-asym" ? 4.1875 : 4.125)
                                                                  : (t == "int3-asym" ? 3.1875 : 3.125),
                1e-9)
        << t;
    mse[t] = r.method_mse;
    std::remove((dir + "/" + t + ".gguf").c_str());
  }
  for (const char* rival : {"int4-sym", "int4-asym", "fp4"}) EXPECT_LT(mse["bitmod4"], mse[rival]) << rival;
  for (const char* rival : {"int3-sym", "int3-asym", "fp3"}) EXPECT_LT(mse["bitmod3"], mse[rival]) << rival;
}

TEST(QuantizeModel, ActivationAwareScalingFoldsIntoTheNorms) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  MNEMO_REQUIRE_DATA("text/tinystories_train_01.txt");
  const std::string dir = test::temp_dir();
  const std::string f32 = test::data_path("models/stories260K.gguf");
  const std::string calib = test::data_path("text/tinystories_train_01.txt");
  // In f32 the scaled weights and the divided norms compute the same function.
  QuantizeReport r;
  ASSERT_TRUE(quantize(f32, dir + "/awq-f32.gguf", "f32", 0, &r, calib).is_ok());
  int scaled = 0;
  for (const TensorQuantReport& t : r.tensors) scaled += t.awq_alpha >= 0 ? 1 : 0;
  EXPECT_EQ(scaled, 25);  // q, k, v, gate, up in 5 layers
  const Eval same = evaluate(dir + "/awq-f32.gguf", f32, 2);
  EXPECT_LT(same.kl, 1e-6);
  // With a real grid the search picks scales that do not raise the calibration error, and the
  // model still runs.
  QuantizeReport q;
  ASSERT_TRUE(quantize(f32, dir + "/awq-int3.gguf", "int3-sym", 64, &q, calib).is_ok());
  int better = 0;
  for (const std::string& n : q.notes) {
    if (n.rfind("awq ", 0) == 0) better += n.find("(+0.0%)") != std::string::npos || n.find("(-") != std::string::npos;
  }
  EXPECT_EQ(better, 10);
  const Eval e = evaluate(dir + "/awq-int3.gguf", f32, 2);
  EXPECT_TRUE(std::isfinite(e.ppl));
}

TEST(QuantizeModel, BadInputFailsBeforeWriting) {
  MNEMO_REQUIRE_DATA("models/stories260K-Q4_0.gguf");
  const std::string dir = test::temp_dir();
  const std::string f32 = test::data_path("models/stories260K.gguf");
  const std::string out = dir + "/never.gguf";
  struct Case {
    std::string in, type;
    int group;
    std::string calib;
    StatusCode code;
    std::string message;
  };
  {
    std::ofstream short_text(dir + "/short.txt");
    short_text << "Once upon a time there was a cat.";
  }
  const Case cases[] = {
      {f32, "q3_x", 0, "", StatusCode::kInvalidArgument, "--type: expected one of q8_0, q4_0"},
      {f32, "bitmod4", 48, "", StatusCode::kInvalidArgument, "--group: expected 32, 64 or 128, found 48"},
      {f32, "bitmod4", 128, "", StatusCode::kInvalidArgument,
       "--group 128: does not divide the model's rows of 64 elements; group sizes that do: 32, 64"},
      {f32, "q4_0", 64, "", StatusCode::kInvalidArgument, "--group: only mnemo's group types take a group size"},
      {f32, "bipolar:9", 0, "", StatusCode::kInvalidArgument, "--type: expected bipolar:W with W in 1..8"},
      {f32, "fp4", 32, dir + "/short.txt", StatusCode::kOutOfRange, "expected at least 1024 tokens of calibration text"},
      {f32, "fp4", 32, dir + "/missing.txt", StatusCode::kNotFound, "missing.txt: cannot open text file: no such file"},
      {test::data_path("models/stories260K-Q4_0.gguf"), "q4_0", 0, "", StatusCode::kInvalidArgument,
       "is q4_0: quantizing needs f32, f16 or bf16 weights"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.type + " " + std::to_string(c.group));
    Status s = quantize(c.in, out, c.type, c.group, nullptr, c.calib);
    EXPECT_EQ(s.code(), c.code) << s.message();
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
    EXPECT_FALSE(test::exists(out));
  }
}

}  // namespace
}  // namespace mnemo
