// The trained model as inference sees it: the training forward pass equals model/llama.h's on
// the same weights, and the GGUF export loads through Model::load (F32 exactly, F16 closely).
#include <gtest/gtest.h>

#include "base/thread_pool.h"
#include "formats/gguf.h"
#include "mnemo/context.h"
#include "mnemo/model.h"
#include "train/export.h"
#include "train/graph.h"
#include "train_test_util.h"

namespace mnemo::train {
namespace {

// A vocabulary-only GGUF with n tokens (SPM, all normal but <unk>, <s>, </s>).
std::string write_vocab(const std::string& path, int n) {
  gguf::GgufWriter w;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int i = 0; i < n; ++i) {
    std::string text = "t";
    text += std::to_string(i);
    tokens.push_back(i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : text);
    scores.push_back(static_cast<float>(-i));
    types.push_back(i == 0 ? 2 : i < 3 ? 3 : 1);
  }
  w.set("general.architecture", gguf::Value::string("llama"));
  w.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  w.set("tokenizer.ggml.tokens", gguf::Value::string_array(tokens));
  w.set("tokenizer.ggml.scores", gguf::Value::f32_array(scores));
  w.set("tokenizer.ggml.token_type", gguf::Value::i32_array(types));
  w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
  w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(2));
  EXPECT_TRUE(w.finish(path).is_ok());
  return path;
}

struct Fixture {
  TrainShape s = test::tiny_shape();
  ParamLayout layout = ParamLayout::build(test::tiny_shape());
  std::vector<float> p;
  std::vector<int32_t> tokens;
  int64_t T = 24;
  Fixture() {
    p.resize(static_cast<size_t>(layout.n_params()));
    init_params(s, layout, 0.2f, mnemo::test::test_seed(), p.data());
    tokens = test::random_tokens(T + 1, s.n_vocab, 9);
  }
  std::vector<float> train_logits() {
    ThreadPool pool(2);
    TrainGraph g(s, layout, 1, T, &pool);
    g.forward(p.data(), tokens.data(), tokens.data() + 1, 0.0f);
    return std::vector<float>(g.logits(), g.logits() + T * s.n_vocab);
  }
};

TEST(TrainExport, TrainingForwardEqualsInferenceForward) {
  Fixture st;
  const auto ref = st.train_logits();
  auto model = inference_model(st.s, st.layout, st.p.data());
  ASSERT_TRUE(model.has_value()) << model.status().message();
  ThreadPool pool(2);
  auto session = LlamaSession::create(*model, st.T, st.T, true, &pool);
  ASSERT_TRUE(session.has_value());
  ASSERT_TRUE((*session)->forward(std::span<const int32_t>(st.tokens.data(), static_cast<size_t>(st.T)), 0, true).is_ok());
  std::vector<float> inf;
  for (int64_t t = 0; t < st.T; ++t) {
    auto l = (*session)->logits(t);
    inf.insert(inf.end(), l.begin(), l.end());
  }
  EXPECT_LE(test::rel_err(inf.data(), ref.data(), static_cast<int64_t>(ref.size())), 1e-5);
}

TEST(TrainExport, GgufLoadsWithTheSameLogits) {
  Fixture st;
  const auto ref = st.train_logits();
  const std::string dir = mnemo::test::temp_dir();
  const std::string vocab = write_vocab(dir + "/vocab.gguf", static_cast<int>(st.s.n_vocab));
  for (bool f16 : {false, true}) {
    ExportParams ep;
    ep.path = dir + (f16 ? "/m16.gguf" : "/m32.gguf");
    ep.name = "tiny";
    ep.f16 = f16;
    ep.vocab_path = vocab;
    ep.tokenizer = nullptr;
    ASSERT_TRUE(export_gguf(ep, st.s, st.layout, st.p.data()).is_ok());
    auto m = Model::load(ep.path);
    ASSERT_TRUE(m.has_value()) << m.status().message();
    const ModelInfo& i = (*m)->info();
    EXPECT_EQ(i.n_embd, st.s.n_embd);
    EXPECT_EQ(i.n_head_kv, st.s.n_head_kv);
    EXPECT_EQ(i.n_ctx_train, st.s.n_ctx);
    EXPECT_FALSE(i.tied_output);
    EXPECT_EQ((*m)->tokenizer().n_vocab(), st.s.n_vocab);
    ContextParams cp;
    cp.n_ctx = st.T;
    cp.n_batch = st.T;
    cp.logits_all = true;
    auto ctx = Context::create(**m, cp);
    ASSERT_TRUE(ctx.has_value());
    ASSERT_TRUE((*ctx)->eval(std::span<const Token>(st.tokens.data(), static_cast<size_t>(st.T)), 0, true).is_ok());
    std::vector<float> got;
    for (int64_t t = 0; t < st.T; ++t) {
      auto l = (*ctx)->logits(t);
      got.insert(got.end(), l.begin(), l.end());
    }
    EXPECT_LE(test::rel_err(got.data(), ref.data(), static_cast<int64_t>(ref.size())), f16 ? 2e-3 : 1e-5)
        << (f16 ? "f16" : "f32");
    // And back: the GGUF as a training start gives the same shape and (for F32) the same weights.
    auto shape = shape_of(**m);
    ASSERT_TRUE(shape.has_value()) << shape.status().message();
    EXPECT_TRUE(*shape == st.s);
    std::vector<float> back(st.p.size());
    ASSERT_TRUE(load_weights(**m, st.layout, back.data()).is_ok());
    EXPECT_LE(test::rel_err(back.data(), st.p.data(), static_cast<int64_t>(back.size())), f16 ? 1e-3 : 0.0);
  }
}

}  // namespace
}  // namespace mnemo::train
