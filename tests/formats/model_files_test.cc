// The shared model files (label `model`): stories260K as GGUF (F32, Q8_0, Q4_0) and as a
// llama2.c checkpoint. Expected values: /work/shared/data/SOURCES.md and llama.cpp's llama-gguf.
#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "tensor/blocks.h"
#include "test_util.h"

namespace mnemo {
namespace {

using gguf::GgufFile;
using gguf::TensorInfo;
using gguf::Value;
using gguf::ValueType;

std::unique_ptr<GgufFile> open_gguf(const std::string& rel, MapMode mode = MapMode::kMap) {
  auto f = GgufFile::open(test::data_path(rel), mode);
  EXPECT_TRUE(f.has_value()) << f.status().message();
  return f.has_value() ? std::move(f).value() : nullptr;
}

bool is_ffn_down(const std::string& name) { return name.ends_with(".ffn_down.weight"); }

void expect_stories_metadata(const GgufFile& f) {
  EXPECT_EQ(*f.get_string("general.architecture"), "llama");
  EXPECT_EQ(*f.get_string("general.name"), "llama");
  EXPECT_EQ(*f.get_u64("llama.context_length"), 128u);
  EXPECT_EQ(*f.get_u64("llama.embedding_length"), 64u);
  EXPECT_EQ(*f.get_u64("llama.feed_forward_length"), 172u);
  EXPECT_EQ(*f.get_u64("llama.block_count"), 5u);
  EXPECT_EQ(*f.get_u64("llama.attention.head_count"), 8u);
  EXPECT_EQ(*f.get_u64("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(*f.get_u64("llama.rope.dimension_count"), 8u);
  EXPECT_EQ(*f.get_f64("llama.attention.layer_norm_rms_epsilon"), static_cast<double>(1e-5f));
  EXPECT_EQ(f.find("llama.attention.layer_norm_rms_epsilon")->type(), ValueType::kFloat32);
  EXPECT_EQ(*f.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(*f.get_u64("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(*f.get_u64("tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(*f.get_u64("tokenizer.ggml.unknown_token_id"), 0u);
  const Value* tokens = f.find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->array_type(), ValueType::kString);
  ASSERT_EQ(tokens->array_size(), 512u);
  EXPECT_EQ(tokens->string_at(0), "<unk>");
  EXPECT_EQ(tokens->string_at(3), "<0x00>");
  EXPECT_EQ(tokens->string_at(258), "<0xFF>");
  const Value* scores = f.find("tokenizer.ggml.scores");
  ASSERT_NE(scores, nullptr);
  EXPECT_EQ(scores->array_type(), ValueType::kFloat32);
  EXPECT_EQ(scores->array_size(), 512u);
  const Value* types = f.find("tokenizer.ggml.token_type");
  ASSERT_NE(types, nullptr);
  EXPECT_EQ(types->array_type(), ValueType::kInt32);
  EXPECT_EQ(types->array_size(), 512u);
  EXPECT_EQ(types->int_at(3), 6);  // byte tokens are LLAMA_TOKEN_TYPE_BYTE
}

void expect_stories_shapes(const GgufFile& f) {
  ASSERT_EQ(f.tensors().size(), 48u);
  const TensorInfo* emb = f.find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_TRUE(f.view(*emb).is_matrix(64, 512));
  EXPECT_TRUE(f.view(*f.find_tensor("output.weight")).is_matrix(64, 512));
  EXPECT_TRUE(f.view(*f.find_tensor("output_norm.weight")).is_vector(64));
  for (int l = 0; l < 5; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    for (const char* n : {"attn_norm", "ffn_norm"}) {
      const TensorInfo* t = f.find_tensor(b + n + ".weight");
      ASSERT_NE(t, nullptr) << b << n;
      EXPECT_TRUE(f.view(*t).is_vector(64)) << b << n;
    }
    EXPECT_TRUE(f.view(*f.find_tensor(b + "attn_q.weight")).is_matrix(64, 64));
    EXPECT_TRUE(f.view(*f.find_tensor(b + "attn_k.weight")).is_matrix(64, 32));
    EXPECT_TRUE(f.view(*f.find_tensor(b + "attn_v.weight")).is_matrix(64, 32));
    EXPECT_TRUE(f.view(*f.find_tensor(b + "attn_output.weight")).is_matrix(64, 64));
    EXPECT_TRUE(f.view(*f.find_tensor(b + "ffn_gate.weight")).is_matrix(64, 172));
    EXPECT_TRUE(f.view(*f.find_tensor(b + "ffn_up.weight")).is_matrix(64, 172));
    EXPECT_TRUE(f.view(*f.find_tensor(b + "ffn_down.weight")).is_matrix(172, 64));
  }
  // Tensors are packed: the file ends exactly after the last one's padded data.
  const TensorInfo& last = f.tensors().back();
  EXPECT_EQ(f.data_offset() + (last.offset + last.n_bytes + 31) / 32 * 32, f.bytes().size());
}

TEST(ModelFiles, Stories260KGguf) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  for (MapMode mode : {MapMode::kMap, MapMode::kRead}) {
    auto f = open_gguf("models/stories260K.gguf", mode);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->metadata().size(), 19u);
    EXPECT_EQ(f->bytes().size(), 1185376u);
    EXPECT_EQ(f->file().is_mapped(), mode == MapMode::kMap);
    expect_stories_metadata(*f);
    expect_stories_shapes(*f);
    for (const TensorInfo& t : f->tensors()) EXPECT_EQ(t.type, DType::F32) << t.name;
  }
}

// Q8_0 / Q4_0 conversions: every 2-D weight quantized except the five ffn_down (172 columns).
void expect_quantized(const std::string& rel, DType q, uint64_t size) {
  auto f = open_gguf(rel);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->bytes().size(), size);
  EXPECT_EQ(f->metadata().size(), 20u);  // general.file_type added
  expect_stories_metadata(*f);
  expect_stories_shapes(*f);
  int quantized = 0, ffn_down = 0;
  for (const TensorInfo& t : f->tensors()) {
    SCOPED_TRACE(t.name);
    if (t.n_dims == 2 && !is_ffn_down(t.name)) {
      EXPECT_EQ(t.type, q);
      ++quantized;
    } else {
      EXPECT_EQ(t.type, DType::F32);
      ffn_down += is_ffn_down(t.name) ? 1 : 0;
    }
    EXPECT_EQ(t.n_bytes, f->view(t).n_bytes());
  }
  EXPECT_EQ(quantized, 2 + 5 * 6);
  EXPECT_EQ(ffn_down, 5);
}

TEST(ModelFiles, Stories260KQ8_0) {
  MNEMO_REQUIRE_DATA("models/stories260K-Q8_0.gguf");
  expect_quantized("models/stories260K-Q8_0.gguf", DType::Q8_0, 489216);
}

TEST(ModelFiles, Stories260KQ4_0) {
  MNEMO_REQUIRE_DATA("models/stories260K-Q4_0.gguf");
  expect_quantized("models/stories260K-Q4_0.gguf", DType::Q4_0, 370688);
  // Layout as llama.cpp's llama-gguf lists it.
  auto f = open_gguf("models/stories260K-Q4_0.gguf");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->data_offset(), 14208u);
  EXPECT_EQ(f->metadata()[1].first, "tokenizer.ggml.tokens");
  EXPECT_EQ(f->metadata()[19].first, "general.file_type");
  const TensorInfo& emb = f->tensors()[0];
  EXPECT_EQ(emb.name, "token_embd.weight");
  EXPECT_EQ(emb.n_bytes, 18432u);
  EXPECT_EQ(emb.offset, 0u);
  const TensorInfo& down = f->tensors()[9];
  EXPECT_EQ(down.name, "blk.0.ffn_down.weight");
  EXPECT_EQ(down.n_bytes, 44032u);
  EXPECT_EQ(down.offset, 50496u);
  const TensorInfo& last = f->tensors()[47];
  EXPECT_EQ(last.name, "blk.4.ffn_norm.weight");
  EXPECT_EQ(last.offset, 356224u);
}

// The Q8_0 blocks read through the views decode (d * q) to within a step of the F32 weights (half
// a step of rounding, plus d itself rounded to fp16: up to 127 * 2^-11 * d more): the views
// point at the right bytes.
TEST(ModelFiles, Q8_0ViewsMatchF32Weights) {
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  MNEMO_REQUIRE_DATA("models/stories260K-Q8_0.gguf");
  auto f32 = open_gguf("models/stories260K.gguf");
  auto q8 = open_gguf("models/stories260K-Q8_0.gguf");
  ASSERT_NE(f32, nullptr);
  ASSERT_NE(q8, nullptr);
  for (const char* name : {"token_embd.weight", "blk.2.attn_k.weight", "blk.4.ffn_up.weight", "output.weight"}) {
    SCOPED_TRACE(name);
    const TensorView a = f32->view(*f32->find_tensor(name));
    const TensorView b = q8->view(*q8->find_tensor(name));
    ASSERT_EQ(b.type, DType::Q8_0);
    const float* x = static_cast<const float*>(a.data);
    const int64_t n = a.n_elements();
    for (int64_t blk = 0; blk < n / kQK8_0; ++blk) {
      BlockQ8_0 block;
      std::memcpy(&block, static_cast<const uint8_t*>(b.data) + blk * sizeof(BlockQ8_0), sizeof(block));
      const float d = fp16_to_f32(block.d);
      for (int i = 0; i < kQK8_0; ++i) {
        const float want = x[blk * kQK8_0 + i];
        ASSERT_NEAR(d * static_cast<float>(block.qs[i]), want, 0.6f * d + 1e-6f) << "block " << blk << " elem " << i;
      }
    }
  }
}

TEST(ModelFiles, Stories260KBin) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  auto c = llama2c::Checkpoint::open(test::data_path("models/stories260K.bin"));
  ASSERT_TRUE(c.has_value()) << c.status().message();
  const llama2c::Config& k = (*c)->config();
  EXPECT_EQ(k.dim, 64);
  EXPECT_EQ(k.hidden_dim, 172);
  EXPECT_EQ(k.n_layers, 5);
  EXPECT_EQ(k.n_heads, 8);
  EXPECT_EQ(k.n_kv_heads, 4);
  EXPECT_EQ(k.vocab_size, 512);
  EXPECT_EQ(k.seq_len, 512);
  EXPECT_TRUE(k.shared_classifier);
  EXPECT_EQ((*c)->file().size(), 1056540u);
  EXPECT_EQ((*c)->classifier().data, (*c)->token_embedding().data);
  EXPECT_TRUE((*c)->layer(4).w2.is_matrix(172, 64));
}

// llama.cpp's converter copied the checkpoint's floats unchanged into stories260K.gguf, so every
// view of the checkpoint equals the GGUF tensor of the same role, byte for byte.
TEST(ModelFiles, Llama2cViewsEqualGgufTensors) {
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  MNEMO_REQUIRE_DATA("models/stories260K.gguf");
  auto c = llama2c::Checkpoint::open(test::data_path("models/stories260K.bin"));
  ASSERT_TRUE(c.has_value()) << c.status().message();
  auto g = open_gguf("models/stories260K.gguf");
  ASSERT_NE(g, nullptr);
  auto same = [&](const TensorView& v, const std::string& name) {
    const TensorInfo* t = g->find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    const TensorView w = g->view(*t);
    ASSERT_EQ(v.n_dims, w.n_dims) << name;
    for (int d = 0; d < kMaxDims; ++d) ASSERT_EQ(v.ne[d], w.ne[d]) << name;
    ASSERT_EQ(v.n_bytes(), w.n_bytes()) << name;
    EXPECT_EQ(std::memcmp(v.data, w.data, v.n_bytes()), 0) << name;
  };
  same((*c)->token_embedding(), "token_embd.weight");
  same((*c)->classifier(), "output.weight");
  same((*c)->final_norm(), "output_norm.weight");
  for (int l = 0; l < 5; ++l) {
    const llama2c::LayerViews& v = (*c)->layer(l);
    const std::string b = "blk." + std::to_string(l) + ".";
    same(v.attn_norm, b + "attn_norm.weight");
    same(v.wq, b + "attn_q.weight");
    same(v.wk, b + "attn_k.weight");
    same(v.wv, b + "attn_v.weight");
    same(v.wo, b + "attn_output.weight");
    same(v.ffn_norm, b + "ffn_norm.weight");
    same(v.w1, b + "ffn_gate.weight");
    same(v.w2, b + "ffn_down.weight");
    same(v.w3, b + "ffn_up.weight");
  }
}

TEST(ModelFiles, VocabOnlyGgufs) {
  MNEMO_REQUIRE_DATA("models/vocab/ggml-vocab-llama-spm.gguf");
  auto spm = open_gguf("models/vocab/ggml-vocab-llama-spm.gguf");
  ASSERT_NE(spm, nullptr);
  EXPECT_TRUE(spm->tensors().empty());
  EXPECT_EQ(*spm->get_string("tokenizer.ggml.model"), "llama");
  const Value* tokens = spm->find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->array_size(), 32000u);
  EXPECT_EQ(tokens->strings().size(), 32000u);
  EXPECT_EQ(tokens->string_at(0), "<unk>");
  MNEMO_REQUIRE_DATA("models/vocab/ggml-vocab-gpt-2.gguf");
  auto gpt2 = open_gguf("models/vocab/ggml-vocab-gpt-2.gguf");
  ASSERT_NE(gpt2, nullptr);
  EXPECT_EQ(*gpt2->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(gpt2->find("tokenizer.ggml.tokens")->array_size(), 50257u);
  EXPECT_NE(gpt2->find("tokenizer.ggml.merges"), nullptr);
}

// Rewriting a file with GgufWriter (metadata and tensors copied in order) reproduces llama.cpp's
// and gguf-py's bytes exactly; for the vocab files, whose writer left out the final padding, the
// rewrite is the original plus zero padding.
TEST(ModelFiles, WriterReproducesRealFiles) {
  for (const char* rel : {"models/stories260K.gguf", "models/stories260K-Q8_0.gguf", "models/stories260K-Q4_0.gguf",
                          "models/vocab/ggml-vocab-llama-spm.gguf", "models/vocab/ggml-vocab-gpt-2.gguf"}) {
    SCOPED_TRACE(rel);
    if (!test::exists(test::data_path(rel))) continue;
    auto f = open_gguf(rel);
    ASSERT_NE(f, nullptr);
    gguf::GgufWriter w(f->alignment());
    for (const auto& [key, value] : f->metadata()) w.set(key, value);
    for (const TensorInfo& t : f->tensors()) {
      ASSERT_TRUE(w.add_tensor(t.name, t.type, std::span<const int64_t>(t.ne, static_cast<size_t>(t.n_dims)),
                               f->view(t).data)
                      .is_ok());
    }
    auto bytes = w.to_bytes();
    ASSERT_TRUE(bytes.has_value()) << bytes.status().message();
    std::vector<uint8_t> want(f->bytes().begin(), f->bytes().end());
    want.resize((want.size() + 31) / 32 * 32, 0);
    EXPECT_TRUE(*bytes == want);
  }
}

// Every strict prefix of a real file is rejected with a message, never read past.
TEST(ModelFiles, TruncatedRealFilesAreRejected) {
  MNEMO_REQUIRE_DATA("models/stories260K-Q4_0.gguf");
  MNEMO_REQUIRE_DATA("models/stories260K.bin");
  auto q4 = open_gguf("models/stories260K-Q4_0.gguf");
  ASSERT_NE(q4, nullptr);
  auto bytes = q4->bytes();
  const size_t last_end = static_cast<size_t>(q4->data_offset() + q4->tensors().back().offset +
                                              q4->tensors().back().n_bytes);
  for (size_t len = 0; len < last_end; len += (len < 16384 ? 1 : 4099)) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<long>(len));
    auto f = GgufFile::parse(prefix, "q4.gguf");
    ASSERT_FALSE(f.has_value()) << len;
    ASSERT_EQ(f.status().message().rfind("q4.gguf: ", 0), 0u) << f.status().message();
  }
  auto bin = llama2c::Checkpoint::open(test::data_path("models/stories260K.bin"));
  ASSERT_TRUE(bin.has_value());
  auto b = (*bin)->file().bytes();
  auto cut = llama2c::Checkpoint::parse(b.first(b.size() - 4), "s.bin");
  ASSERT_FALSE(cut.has_value());
  EXPECT_EQ(cut.status().message(),
            "s.bin: file size: expected 1056540 bytes for dim=64 hidden_dim=172 n_layers=5 n_heads=8 n_kv_heads=4 "
            "vocab_size=512 seq_len=512 (shared classifier), found 1056536");
}

}  // namespace
}  // namespace mnemo
