// The GGUF loader applies every tensor of a file or refuses the file: rope_freqs.weight (Llama
// 3.1+ per-pair RoPE frequency factors) changes the logits exactly as the formula says, checked
// against a scalar forward pass written here from the model's equations (model/llama.h) with
// RoPE computed from theta_i = pos * base^(-2i/n_rot) / factor_i, not through mnemo's kernels;
// a tensor it does not apply is an error naming it. generate_model and the loader accept the
// same RoPE values. Models are tiny random ones from generate_model(), rewritten.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "formats/gguf.h"
#include "mnemo/convert.h"
#include "mnemo/mnemo.h"
#include "test_util.h"

namespace mnemo {
namespace {

struct ExtraTensor {
  std::string name;
  std::vector<float> values;  // 1-D F32
};

// A random "micro" model (one layer, 4 heads of 64, 2 KV heads, F32), written to `dir`.
std::string micro_model(const std::string& dir, const std::string& arch = "llama") {
  GenModelParams p;
  p.shape = "micro";
  p.dtype = "F32";
  p.seed = 11;
  p.arch = arch;
  p.output = dir + "/micro-" + arch + ".gguf";
  Status s = generate_model(p);
  EXPECT_TRUE(s.is_ok()) << s.message();
  return p.output;
}

// `in` rewritten to `out` with the same metadata and tensors, plus `extra` (appended) and the
// metadata in `set` (replaced or added).
void rewrite_with(const std::string& in, const std::string& out, const std::vector<ExtraTensor>& extra,
                  const std::vector<std::pair<std::string, gguf::Value>>& set = {}) {
  auto f = gguf::GgufFile::open(in);
  ASSERT_TRUE(f.has_value()) << f.status().message();
  gguf::GgufWriter w((*f)->alignment());
  for (const auto& [key, value] : (*f)->metadata()) w.set(key, value);
  for (const auto& [key, value] : set) w.set(key, value);
  for (const gguf::TensorInfo& t : (*f)->tensors()) {
    ASSERT_TRUE(w.add_tensor(t.name, t.type, std::span<const int64_t>(t.ne, t.n_dims), (*f)->tensor_bytes(t).data()).is_ok());
  }
  for (const ExtraTensor& e : extra) {
    const int64_t shape[1] = {static_cast<int64_t>(e.values.size())};
    ASSERT_TRUE(w.add_tensor(e.name, DType::F32, shape, e.values.data()).is_ok());
  }
  Status s = w.finish(out);
  ASSERT_TRUE(s.is_ok()) << s.message();
}

// Logits of the last of `tokens` (evaluated from position 0).
std::vector<float> mnemo_logits(const std::string& path, const std::vector<Token>& tokens) {
  auto model = Model::load(path);
  EXPECT_TRUE(model.has_value()) << model.status().message();
  if (!model.has_value()) return {};
  ContextParams cp;
  cp.n_ctx = 32;
  auto ctx = Context::create(**model, cp);
  EXPECT_TRUE(ctx.has_value()) << ctx.status().message();
  EXPECT_TRUE((*ctx)->eval(tokens, 0).is_ok());
  auto l = (*ctx)->logits();
  return std::vector<float>(l.begin(), l.end());
}

// ---- a scalar llama forward pass in double, over an F32 GGUF --------------------------------

class ScalarLlama {
 public:
  explicit ScalarLlama(const gguf::GgufFile& f) : f_(f) {
    n_embd_ = static_cast<int64_t>(*f.get_u64("llama.embedding_length"));
    n_layer_ = static_cast<int64_t>(*f.get_u64("llama.block_count"));
    n_head_ = static_cast<int64_t>(*f.get_u64("llama.attention.head_count"));
    n_head_kv_ = static_cast<int64_t>(*f.get_u64("llama.attention.head_count_kv"));
    n_ff_ = static_cast<int64_t>(*f.get_u64("llama.feed_forward_length"));
    eps_ = *f.get_f64("llama.attention.layer_norm_rms_epsilon");
    base_ = *f.get_f64("llama.rope.freq_base");
    hd_ = n_embd_ / n_head_;
  }

  // `factors`: n_rot/2 (= head_dim/2) divisors of the angles, or empty.
  std::vector<double> last_logits(const std::vector<Token>& tokens, const std::vector<float>& factors) const {
    const int64_t T = static_cast<int64_t>(tokens.size());
    std::vector<std::vector<double>> x(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) x[t] = row("token_embd.weight", tokens[static_cast<size_t>(t)]);
    for (int64_t l = 0; l < n_layer_; ++l) {
      const std::string b = "blk." + std::to_string(l) + ".";
      std::vector<std::vector<double>> q(T), k(T), v(T);
      for (int64_t t = 0; t < T; ++t) {
        const auto n = rmsnorm(x[t], b + "attn_norm.weight");
        q[t] = matvec(b + "attn_q.weight", n);
        k[t] = matvec(b + "attn_k.weight", n);
        v[t] = matvec(b + "attn_v.weight", n);
        rope(q[t], n_head_, t, factors);
        rope(k[t], n_head_kv_, t, factors);
      }
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> att(static_cast<size_t>(n_head_ * hd_), 0.0);
        for (int64_t h = 0; h < n_head_; ++h) {
          const int64_t kh = h / (n_head_ / n_head_kv_);
          std::vector<double> s(static_cast<size_t>(t + 1));
          double mx = -1e300, sum = 0;
          for (int64_t p = 0; p <= t; ++p) {
            double d = 0;
            for (int64_t i = 0; i < hd_; ++i) d += q[t][h * hd_ + i] * k[p][kh * hd_ + i];
            s[p] = d / std::sqrt(static_cast<double>(hd_));
            mx = std::max(mx, s[p]);
          }
          for (int64_t p = 0; p <= t; ++p) sum += (s[p] = std::exp(s[p] - mx));
          for (int64_t p = 0; p <= t; ++p) {
            for (int64_t i = 0; i < hd_; ++i) att[h * hd_ + i] += s[p] / sum * v[p][kh * hd_ + i];
          }
        }
        add(x[t], matvec(b + "attn_output.weight", att));
        const auto m = rmsnorm(x[t], b + "ffn_norm.weight");
        const auto g = matvec(b + "ffn_gate.weight", m), u = matvec(b + "ffn_up.weight", m);
        std::vector<double> hb(g.size());
        for (size_t i = 0; i < g.size(); ++i) hb[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
        add(x[t], matvec(b + "ffn_down.weight", hb));
      }
    }
    return matvec("output.weight", rmsnorm(x[static_cast<size_t>(T - 1)], "output_norm.weight"));
  }

 private:
  const float* data(const std::string& name) const {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    EXPECT_NE(t, nullptr) << name;
    EXPECT_EQ(t->type, DType::F32) << name;
    return static_cast<const float*>(f_.view(*t).data);
  }
  std::vector<double> row(const std::string& name, int64_t r) const {
    const float* d = data(name) + r * n_embd_;
    return std::vector<double>(d, d + n_embd_);
  }
  // W (ne = {in, out}) times x.
  std::vector<double> matvec(const std::string& name, const std::vector<double>& x) const {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    const float* w = data(name);
    const int64_t in = t->ne[0], out = t->ne[1];
    EXPECT_EQ(in, static_cast<int64_t>(x.size())) << name;
    std::vector<double> y(static_cast<size_t>(out), 0.0);
    for (int64_t r = 0; r < out; ++r) {
      for (int64_t i = 0; i < in; ++i) y[r] += static_cast<double>(w[r * in + i]) * x[i];
    }
    return y;
  }
  std::vector<double> rmsnorm(const std::vector<double>& x, const std::string& weight) const {
    const float* w = data(weight);
    double ss = 0;
    for (double e : x) ss += e * e;
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps_);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * w[i];
    return y;
  }
  static void add(std::vector<double>& x, const std::vector<double>& y) {
    for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
  }
  // Llama (normal) pairing (2i, 2i+1), all head_dim dims rotated.
  void rope(std::vector<double>& x, int64_t n_heads, int64_t pos, const std::vector<float>& factors) const {
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t i = 0; i < hd_ / 2; ++i) {
        double theta = static_cast<double>(pos) * std::pow(base_, -2.0 * static_cast<double>(i) / static_cast<double>(hd_));
        if (!factors.empty()) theta /= factors[static_cast<size_t>(i)];
        double& a = x[h * hd_ + 2 * i];
        double& b = x[h * hd_ + 2 * i + 1];
        const double a0 = a, b0 = b;
        a = a0 * std::cos(theta) - b0 * std::sin(theta);
        b = a0 * std::sin(theta) + b0 * std::cos(theta);
      }
    }
  }

  const gguf::GgufFile& f_;
  int64_t n_embd_ = 0, n_layer_ = 0, n_head_ = 0, n_head_kv_ = 0, n_ff_ = 0, hd_ = 0;
  double eps_ = 0, base_ = 0;
};

double max_rel_diff(const std::vector<float>& got, const std::vector<double>& want) {
  double scale = 0, err = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < want.size(); ++i) err = std::max(err, std::fabs(static_cast<double>(got[i]) - want[i]));
  return err / scale;
}

const std::vector<Token> kTokens = {1, 17, 300, 42, 511, 9, 250, 77};

// Llama 3.1-style factors for head_dim 64: 1 for the fastest pairs, 8 for the slowest, a ramp.
std::vector<float> llama3_like_factors() {
  std::vector<float> f(32);
  for (size_t i = 0; i < f.size(); ++i) f[i] = i < 8 ? 1.0f : i < 24 ? 1.0f + 7.0f * static_cast<float>(i - 8) / 16.0f : 8.0f;
  return f;
}

TEST(LoadGguf, RopeFreqsOfOneChangeNothing) {
  const std::string dir = test::temp_dir();
  const std::string plain = micro_model(dir);
  const std::string ones = dir + "/ones.gguf";
  rewrite_with(plain, ones, {{"rope_freqs.weight", std::vector<float>(32, 1.0f)}});
  const auto a = mnemo_logits(plain, kTokens), b = mnemo_logits(ones, kTokens);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  auto m = Model::load(ones);
  ASSERT_TRUE(m.has_value()) << m.status().message();
  EXPECT_TRUE((*m)->info().rope_freq_factors);
}

TEST(LoadGguf, RopeFreqsAreApplied) {
  const std::string dir = test::temp_dir();
  const std::string plain = micro_model(dir);
  const std::string scaled = dir + "/scaled.gguf";
  const std::vector<float> factors = llama3_like_factors();
  rewrite_with(plain, scaled, {{"rope_freqs.weight", factors}});
  auto f = gguf::GgufFile::open(plain);
  ASSERT_TRUE(f.has_value()) << f.status().message();
  const ScalarLlama ref(**f);
  const std::vector<double> want_plain = ref.last_logits(kTokens, {});
  const std::vector<double> want_scaled = ref.last_logits(kTokens, factors);
  const auto got_plain = mnemo_logits(plain, kTokens), got_scaled = mnemo_logits(scaled, kTokens);
  ASSERT_EQ(got_scaled.size(), want_scaled.size());
  // The reference itself tells the two models apart, by far more than the tolerance.
  EXPECT_GT(max_rel_diff(got_plain, want_scaled), 1e-2);
  EXPECT_LT(max_rel_diff(got_plain, want_plain), 1e-4);
  EXPECT_LT(max_rel_diff(got_scaled, want_scaled), 1e-4) << "rope_freqs.weight not applied as theta_i / factor_i";
}

TEST(LoadGguf, RopeFreqsMustBePositiveAndSized) {
  const std::string dir = test::temp_dir();
  const std::string plain = micro_model(dir);
  const std::string bad = dir + "/bad.gguf";
  std::vector<float> factors(32, 1.0f);
  factors[5] = 0.0f;
  rewrite_with(plain, bad, {{"rope_freqs.weight", factors}});
  auto m = Model::load(bad);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.status().message().find("rope_freqs.weight"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("element 5"), std::string::npos) << m.status().message();
  const std::string short_one = dir + "/short.gguf";
  rewrite_with(plain, short_one, {{"rope_freqs.weight", std::vector<float>(16, 1.0f)}});
  m = Model::load(short_one);
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.status().message().find("expected 32 elements"), std::string::npos) << m.status().message();
}

// A tensor the loader does not apply is an error naming it and the architecture, never ignored.
TEST(LoadGguf, UnusedTensorIsAnError) {
  const std::string dir = test::temp_dir();
  const std::string llama = micro_model(dir);
  const std::pair<std::string, ExtraTensor> cases[] = {
      {llama, {"blk.0.attn_output.bias", std::vector<float>(256, 0.0f)}},
      {llama, {"blk.0.ffn_down.bias", std::vector<float>(256, 0.0f)}},
      {llama, {"something_new.weight", std::vector<float>(8, 1.0f)}},
      {micro_model(dir, "qwen2"), {"rope_freqs.weight", std::vector<float>(32, 1.0f)}},
  };
  for (const auto& [base, extra] : cases) {
    const std::string path = dir + "/extra.gguf";
    rewrite_with(base, path, {extra});
    auto m = Model::load(path);
    ASSERT_FALSE(m.has_value()) << extra.name << " was ignored";
    EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
    const std::string arch = base == llama ? "llama" : "qwen2";
    EXPECT_EQ(m.status().message(), path + ": tensor '" + extra.name + "': not supported for architecture " + arch +
                                        " (mnemo would have to ignore it)");
  }
  // Tied and untied heads use every tensor of their files.
  for (int tied : {0, 1}) {
    GenModelParams p;
    p.shape = "micro";
    p.dtype = "F32";
    p.tied_output = tied;
    p.output = dir + "/tied.gguf";
    ASSERT_TRUE(generate_model(p).is_ok());
    auto m = Model::load(p.output);
    ASSERT_TRUE(m.has_value()) << m.status().message();
    EXPECT_EQ((*m)->info().tied_output, tied == 1);
  }
}

// generate_model writes exactly the RoPE values the loader accepts (one rule, model/config.h):
// each value is either refused by both, before anything is written, or written and loaded.
TEST(LoadGguf, GenModelAndLoaderShareTheRopeRule) {
  const std::string dir = test::temp_dir();
  const std::string plain = micro_model(dir);
  const double inf = std::numeric_limits<double>::infinity();
  for (double base : {0.5, 1.0, 1.0000001, 1.5, 10000.0, 1e30, 1e39, inf, -inf, std::nan(""), -3.0}) {
    const std::string rewritten = dir + "/base.gguf";
    rewrite_with(plain, rewritten, {}, {{"llama.rope.freq_base", gguf::Value::f64(base)}});
    auto loaded = Model::load(rewritten);
    GenModelParams p;
    p.shape = "micro";
    p.dtype = "F32";
    p.rope_freq_base = base;
    p.output = dir + "/gen.gguf";
    std::remove(p.output.c_str());
    Status s = generate_model(p);
    EXPECT_EQ(s.is_ok(), loaded.has_value()) << "base " << base << ": gen-model says '" << s.message()
                                             << "', the loader '" << loaded.status().message() << "'";
    if (s.is_ok()) {
      auto m = Model::load(p.output);
      EXPECT_TRUE(m.has_value()) << "base " << base << ": " << m.status().message();
    } else {
      EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
      EXPECT_EQ(s.message().rfind("--rope-base: expected a finite RoPE frequency base > 1, found ", 0), 0u) << s.message();
      EXPECT_NE(loaded.status().message().find(rewritten + ": llama.rope.freq_base: expected a finite RoPE frequency base > 1"),
                std::string::npos) << loaded.status().message();
      EXPECT_FALSE(test::exists(p.output)) << "base " << base << ": a file was left behind";
    }
  }
  for (double factor : {-2.0, 1e-50, 1e-29, 0.25, 4.0, 1e29, 1e31, inf, std::nan("")}) {
    const std::string rewritten = dir + "/factor.gguf";
    rewrite_with(plain, rewritten, {},
                 {{"llama.rope.scaling.type", gguf::Value::string("linear")},
                  {"llama.rope.scaling.factor", gguf::Value::f64(factor)}});
    auto loaded = Model::load(rewritten);
    GenModelParams p;
    p.shape = "micro";
    p.dtype = "F32";
    p.rope_scaling_factor = factor;
    p.output = dir + "/gen.gguf";
    std::remove(p.output.c_str());
    Status s = generate_model(p);
    EXPECT_EQ(s.is_ok(), loaded.has_value()) << "factor " << factor << ": gen-model says '" << s.message()
                                             << "', the loader '" << loaded.status().message() << "'";
    if (!s.is_ok()) {
      EXPECT_FALSE(test::exists(p.output)) << "factor " << factor;
    }
  }
}

}  // namespace
}  // namespace mnemo
