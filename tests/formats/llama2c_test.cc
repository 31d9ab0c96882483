// llama2.c checkpoints: synthetic files with shared and separate classifiers, and broken ones.
#include <climits>
#include <cstring>
#include <filesystem>

#include "base/file.h"
#include "formats/llama2c.h"
#include "test_util.h"

namespace mnemo::llama2c {
namespace {

struct Header {
  int32_t dim = 8, hidden = 12, layers = 2, heads = 2, kv_heads = 1, vocab = 10, seq_len = 4;
};

// Float counts of each section for h (vocab may be negative), in file order, like run.c.
struct Layout {
  uint64_t tok, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq, wcls;
  uint64_t total() const {
    return tok + rms_att + wq + wk + wv + wo + rms_ffn + w1 + w2 + w3 + rms_final + freq + wcls;
  }
};

Layout layout(const Header& h) {
  const uint64_t vocab = static_cast<uint64_t>(h.vocab < 0 ? -h.vocab : h.vocab);
  const uint64_t hs = static_cast<uint64_t>(h.dim / h.heads), L = static_cast<uint64_t>(h.layers);
  const uint64_t dim = static_cast<uint64_t>(h.dim), hid = static_cast<uint64_t>(h.hidden);
  const uint64_t kv = static_cast<uint64_t>(h.kv_heads) * hs;
  return Layout{vocab * dim, L * dim, L * dim * dim, L * dim * kv, L * dim * kv, L * dim * dim, L * dim,
                L * dim * hid, L * hid * dim, L * dim * hid, dim, static_cast<uint64_t>(h.seq_len) * hs,
                h.vocab < 0 ? vocab * dim : 0};
}

// A checkpoint whose float i (after the header) has the value i, so every view's first element
// names its offset. Stored as floats so the buffer is 4-byte aligned.
std::vector<float> make_checkpoint(const Header& h, int64_t extra_floats = 0) {
  const uint64_t n = layout(h).total();
  std::vector<float> f(7 + n + static_cast<uint64_t>(extra_floats > 0 ? extra_floats : 0));
  const int32_t hdr[7] = {h.dim, h.hidden, h.layers, h.heads, h.kv_heads, h.vocab, h.seq_len};
  std::memcpy(f.data(), hdr, sizeof(hdr));
  for (uint64_t i = 0; i < n + static_cast<uint64_t>(extra_floats > 0 ? extra_floats : 0); ++i) {
    f[7 + i] = static_cast<float>(i);
  }
  if (extra_floats < 0) f.resize(f.size() - static_cast<size_t>(-extra_floats));
  return f;
}

std::span<const uint8_t> as_bytes(const std::vector<float>& f) {
  return {reinterpret_cast<const uint8_t*>(f.data()), f.size() * sizeof(float)};
}

float first(const TensorView& v) { return *static_cast<const float*>(v.data); }

void expect_views(const Checkpoint& c, const Header& h) {
  const Layout l = layout(h);
  const int64_t dim = h.dim, hid = h.hidden, vocab = h.vocab < 0 ? -h.vocab : h.vocab;
  const int64_t kv = h.kv_heads * (h.dim / h.heads);
  EXPECT_TRUE(c.token_embedding().is_matrix(dim, vocab));
  EXPECT_EQ(c.token_embedding().type, DType::F32);
  EXPECT_EQ(first(c.token_embedding()), 0.0f);
  uint64_t base = l.tok;
  for (int i = 0; i < h.layers; ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const LayerViews& v = c.layer(i);
    const uint64_t li = static_cast<uint64_t>(i), L = static_cast<uint64_t>(h.layers);
    EXPECT_TRUE(v.attn_norm.is_vector(dim));
    EXPECT_EQ(first(v.attn_norm), static_cast<float>(base + li * (l.rms_att / L)));
    uint64_t off = base + l.rms_att;
    EXPECT_TRUE(v.wq.is_matrix(dim, dim));
    EXPECT_EQ(first(v.wq), static_cast<float>(off + li * (l.wq / L)));
    off += l.wq;
    EXPECT_TRUE(v.wk.is_matrix(dim, kv));
    EXPECT_EQ(first(v.wk), static_cast<float>(off + li * (l.wk / L)));
    off += l.wk;
    EXPECT_TRUE(v.wv.is_matrix(dim, kv));
    EXPECT_EQ(first(v.wv), static_cast<float>(off + li * (l.wv / L)));
    off += l.wv;
    EXPECT_TRUE(v.wo.is_matrix(dim, dim));
    EXPECT_EQ(first(v.wo), static_cast<float>(off + li * (l.wo / L)));
    off += l.wo;
    EXPECT_TRUE(v.ffn_norm.is_vector(dim));
    EXPECT_EQ(first(v.ffn_norm), static_cast<float>(off + li * (l.rms_ffn / L)));
    off += l.rms_ffn;
    EXPECT_TRUE(v.w1.is_matrix(dim, hid));
    EXPECT_EQ(first(v.w1), static_cast<float>(off + li * (l.w1 / L)));
    off += l.w1;
    EXPECT_TRUE(v.w2.is_matrix(hid, dim));
    EXPECT_EQ(first(v.w2), static_cast<float>(off + li * (l.w2 / L)));
    off += l.w2;
    EXPECT_TRUE(v.w3.is_matrix(dim, hid));
    EXPECT_EQ(first(v.w3), static_cast<float>(off + li * (l.w3 / L)));
  }
  const uint64_t final_off = l.total() - l.wcls - l.freq - l.rms_final;
  EXPECT_TRUE(c.final_norm().is_vector(dim));
  EXPECT_EQ(first(c.final_norm()), static_cast<float>(final_off));
  EXPECT_TRUE(c.classifier().is_matrix(dim, vocab));
  if (h.vocab > 0) {
    EXPECT_EQ(c.classifier().data, c.token_embedding().data);
  } else {
    EXPECT_EQ(first(c.classifier()), static_cast<float>(l.total() - l.wcls));
  }
}

TEST(Llama2c, SharedClassifier) {
  Header h;
  auto f = make_checkpoint(h);
  auto c = Checkpoint::parse(as_bytes(f), "s.bin");
  ASSERT_TRUE(c.has_value()) << c.status().message();
  const Config& k = (*c)->config();
  EXPECT_EQ(k.dim, 8);
  EXPECT_EQ(k.hidden_dim, 12);
  EXPECT_EQ(k.n_layers, 2);
  EXPECT_EQ(k.n_heads, 2);
  EXPECT_EQ(k.n_kv_heads, 1);
  EXPECT_EQ(k.vocab_size, 10);
  EXPECT_EQ(k.seq_len, 4);
  EXPECT_TRUE(k.shared_classifier);
  expect_views(**c, h);
}

TEST(Llama2c, SeparateClassifier) {
  Header h;
  h.vocab = -10;
  auto f = make_checkpoint(h);
  auto c = Checkpoint::parse(as_bytes(f), "u.bin");
  ASSERT_TRUE(c.has_value()) << c.status().message();
  EXPECT_EQ((*c)->config().vocab_size, 10);
  EXPECT_FALSE((*c)->config().shared_classifier);
  expect_views(**c, h);
}

TEST(Llama2c, MultiHeadKv) {
  Header h{16, 40, 3, 4, 4, 7, 6};  // n_kv_heads == n_heads
  auto f = make_checkpoint(h);
  auto c = Checkpoint::parse(as_bytes(f), "m.bin");
  ASSERT_TRUE(c.has_value()) << c.status().message();
  expect_views(**c, h);
}

TEST(Llama2c, OpenFromFile) {
  const std::string dir = test::temp_dir();
  Header h;
  h.vocab = -10;
  auto f = make_checkpoint(h);
  ASSERT_TRUE(write_file_atomic(dir + "/c.bin", as_bytes(f)).is_ok());
  for (MapMode mode : {MapMode::kMap, MapMode::kRead}) {
    auto c = Checkpoint::open(dir + "/c.bin", mode);
    ASSERT_TRUE(c.has_value()) << c.status().message();
    EXPECT_EQ((*c)->path(), dir + "/c.bin");
    EXPECT_EQ((*c)->file().size(), f.size() * 4);
    expect_views(**c, h);
  }
  auto missing = Checkpoint::open(dir + "/none.bin");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

void expect_error(const std::vector<float>& f, const std::string& message, size_t n_bytes = SIZE_MAX) {
  auto bytes = as_bytes(f);
  if (n_bytes != SIZE_MAX) bytes = bytes.first(n_bytes);
  auto c = Checkpoint::parse(bytes, "x.bin");
  ASSERT_FALSE(c.has_value()) << message;
  EXPECT_NE(c.status().message().find(message), std::string::npos) << c.status().message();
  EXPECT_EQ(c.status().message().rfind("x.bin: ", 0), 0u);
}

TEST(Llama2c, WrongSizes) {
  Header h;
  const uint64_t good = 28 + 4 * layout(h).total();
  const std::string cfg = "dim=8 hidden_dim=12 n_layers=2 n_heads=2 n_kv_heads=1 vocab_size=10 seq_len=4";
  expect_error(make_checkpoint(h, -1), "x.bin: file size: expected " + std::to_string(good) + " bytes for " + cfg +
                                           " (shared classifier), found " + std::to_string(good - 4));
  expect_error(make_checkpoint(h, 1), "found " + std::to_string(good + 4));
  expect_error(make_checkpoint(h), "found " + std::to_string(good - 1), static_cast<size_t>(good - 1));
  // Shared header, but the file carries a classifier: a hint says so.
  expect_error(make_checkpoint(h, 80), "(that is the size with a separate classifier, but vocab_size > 0 says it is shared)");
  Header u = h;
  u.vocab = -10;
  // Separate header without its classifier.
  expect_error(make_checkpoint(u, -80), "(that is the size with a shared classifier, but vocab_size < 0 says it is separate)");
  expect_error(make_checkpoint(u, -1), "(separate classifier), found");
  // Only the header.
  expect_error(make_checkpoint(h), "x.bin: file size: expected", 28);
}

TEST(Llama2c, BadHeaders) {
  expect_error(make_checkpoint(Header()), "x.bin: header: expected 28 bytes (7 x int32), found a file of 27 bytes", 27);
  expect_error({}, "x.bin: header: expected 28 bytes (7 x int32), found a file of 0 bytes");
  struct Case {
    Header h;
    const char* message;
  };
  auto with = [](auto mutate) {
    Header h;
    mutate(h);
    return h;
  };
  const Case cases[] = {
      {with([](Header& h) { h.dim = 0; }), "x.bin: header: dim: expected 1..65536, found 0"},
      {with([](Header& h) { h.dim = -8; }), "x.bin: header: dim: expected 1..65536, found -8"},
      {with([](Header& h) { h.dim = 1 << 20; }), "x.bin: header: dim: expected 1..65536, found 1048576"},
      {with([](Header& h) { h.hidden = 0; }), "x.bin: header: hidden_dim: expected 1..262144, found 0"},
      {with([](Header& h) { h.layers = 5000; }), "x.bin: header: n_layers: expected 1..1024, found 5000"},
      {with([](Header& h) { h.heads = -1; }), "x.bin: header: n_heads: expected 1..1024, found -1"},
      {with([](Header& h) { h.kv_heads = 0; }), "x.bin: header: n_kv_heads: expected 1..1024, found 0"},
      {with([](Header& h) { h.vocab = 0; }), "x.bin: header: vocab_size: expected 1..4194304, found 0"},
      {with([](Header& h) { h.vocab = INT_MIN; }), "x.bin: header: vocab_size: expected 1..4194304, found -2147483648"},
      {with([](Header& h) { h.vocab = -(1 << 23); }), "x.bin: header: vocab_size: expected 1..4194304, found -8388608"},
      {with([](Header& h) { h.seq_len = 0; }), "x.bin: header: seq_len: expected 1..1048576, found 0"},
      {with([](Header& h) { h.heads = 3; }), "x.bin: header: n_heads: expected a divisor of dim 8, found 3"},
      {with([](Header& h) { h.heads = 4; h.kv_heads = 3; }), "x.bin: header: n_kv_heads: expected a divisor of n_heads 4, found 3"},
      {with([](Header& h) { h.kv_heads = 4; }), "x.bin: header: n_kv_heads: expected a divisor of n_heads 2, found 4"},
      {with([](Header& h) { h.heads = 8; h.kv_heads = 8; }),
       "x.bin: header: dim / n_heads: expected an even head size (RoPE rotates pairs), found 1"},
  };
  for (const Case& c : cases) {
    std::vector<float> f(7 + 64);
    const int32_t hdr[7] = {c.h.dim, c.h.hidden, c.h.layers, c.h.heads, c.h.kv_heads, c.h.vocab, c.h.seq_len};
    std::memcpy(f.data(), hdr, sizeof(hdr));
    expect_error(f, c.message);
  }
  // The magic of llama2.c's newer export format.
  std::vector<float> v1(64);
  const uint32_t magic = 0x616b3432;
  std::memcpy(v1.data(), &magic, 4);
  expect_error(v1, "x.bin: header: expected a legacy (version 0) llama2.c checkpoint, found the magic \"ak42\"");
}

TEST(Llama2c, LargestHeaderDoesNotOverflow) {
  // Every field at its limit: sizes are computed without overflow and the file is too small.
  std::vector<float> f(7);
  const int32_t hdr[7] = {kMaxDim, kMaxHiddenDim, kMaxLayers, kMaxHeads, kMaxHeads, -kMaxVocab, kMaxSeqLen};
  std::memcpy(f.data(), hdr, sizeof(hdr));
  expect_error(f, "x.bin: file size: expected ");
}

}  // namespace
}  // namespace mnemo::llama2c
