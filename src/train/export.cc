#include "train/export.h"

#include <cstring>
#include <vector>

#include "base/fp16.h"
#include "base/strings.h"
#include "formats/gguf.h"
#include "kernels/kernels.h"
#include "runtime/gguf_vocab.h"
#include "runtime/model_impl.h"

namespace mnemo::train {

LlamaConfig llama_config(const TrainShape& s) {
  LlamaConfig c;
  c.arch = "llama";
  c.n_vocab = s.n_vocab;
  c.n_embd = s.n_embd;
  c.n_layer = s.n_layer;
  c.n_head = s.n_head;
  c.n_head_kv = s.n_head_kv;
  c.head_dim = s.head_dim();
  c.n_ff = s.n_ff;
  c.n_ctx_train = s.n_ctx;
  c.rms_eps = s.rms_eps;
  c.rope.n_rot = s.head_dim();
  c.rope.freq_base = s.rope_base;
  c.rope.freq_scale = 1.0f;
  c.rope.style = kernels::RopeStyle::kNormal;
  c.tied_output = s.tied_output;
  return c;
}

namespace {

TensorView f32_view(const float* p, int64_t rows, int64_t cols) {
  TensorView v;
  v.type = DType::F32;
  v.n_dims = rows > 1 ? 2 : 1;
  v.ne[0] = cols;
  v.ne[1] = rows;
  v.data = p;
  return v;
}

}  // namespace

Expected<std::shared_ptr<const LlamaModel>> inference_model(const TrainShape& s, const ParamLayout& layout,
                                                            const float* params) {
  const int64_t d = s.n_embd, dq = s.n_embd_q(), dkv = s.n_embd_kv(), ff = s.n_ff;
  LlamaWeights w;
  w.token_embd = f32_view(params + layout.token_embd(), s.n_vocab, d);
  w.output = f32_view(params + layout.output(), s.n_vocab, d);
  w.output_norm = params + layout.output_norm();
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const LayerOffsets& o = layout.layer(l);
    LlamaLayerWeights lw;
    lw.attn_norm = params + o.attn_norm;
    lw.wq = f32_view(params + o.wqkv, dq, d);
    lw.wk = f32_view(params + o.wqkv + dq * d, dkv, d);
    lw.wv = f32_view(params + o.wqkv + (dq + dkv) * d, dkv, d);
    lw.wo = f32_view(params + o.wo, d, dq);
    lw.ffn_norm = params + o.ffn_norm;
    lw.ffn_gate = f32_view(params + o.wgu, ff, d);
    lw.ffn_up = f32_view(params + o.wgu + ff * d, ff, d);
    lw.ffn_down = f32_view(params + o.wdown, d, ff);
    w.layers.push_back(lw);
  }
  return LlamaModel::create(llama_config(s), std::move(w));
}

Status export_gguf(const ExportParams& p, const TrainShape& s, const ParamLayout& layout, const float* params) {
  gguf::GgufWriter w;
  w.set("general.architecture", gguf::Value::string("llama"));
  w.set("general.name", gguf::Value::string(p.name.empty() ? "mnemo" : p.name));
  w.set("general.file_type", gguf::Value::u32(p.f16 ? 1 : 0));  // llama.cpp: MOSTLY_F16 / ALL_F32
  w.set("llama.context_length", gguf::Value::u32(static_cast<uint32_t>(s.n_ctx)));
  w.set("llama.embedding_length", gguf::Value::u32(static_cast<uint32_t>(s.n_embd)));
  w.set("llama.feed_forward_length", gguf::Value::u32(static_cast<uint32_t>(s.n_ff)));
  w.set("llama.block_count", gguf::Value::u32(static_cast<uint32_t>(s.n_layer)));
  w.set("llama.attention.head_count", gguf::Value::u32(static_cast<uint32_t>(s.n_head)));
  w.set("llama.attention.head_count_kv", gguf::Value::u32(static_cast<uint32_t>(s.n_head_kv)));
  w.set("llama.rope.dimension_count", gguf::Value::u32(static_cast<uint32_t>(s.head_dim())));
  w.set("llama.rope.freq_base", gguf::Value::f32(s.rope_base));
  w.set("llama.attention.layer_norm_rms_epsilon", gguf::Value::f32(s.rms_eps));
  // The vocabulary: copied from a GGUF, or built from a tokenizer.bin as llama.cpp's converter does.
  std::unique_ptr<gguf::GgufFile> vocab_file;
  FILE* f = std::fopen(p.vocab_path.c_str(), "rb");
  char magic[4] = {};
  const bool is_gguf = f != nullptr && std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
  if (f != nullptr) std::fclose(f);
  if (is_gguf) {
    MNEMO_ASSIGN_OR_RETURN(vocab_file, gguf::GgufFile::open(p.vocab_path));
    for (const auto& [key, value] : vocab_file->metadata()) {
      if (starts_with(key, "tokenizer.")) w.set(key, value);
    }
  } else {
    MNEMO_CHECK(p.tokenizer != nullptr);
    add_llama2c_vocab(*p.tokenizer, &w);
  }

  // Tensors in the order llama.cpp's converter writes them; F16 copies live until finish().
  std::vector<std::vector<uint16_t>> halves;
  halves.reserve(layout.tensors().size());
  std::vector<const ParamInfo*> order;
  auto by_name = [&](const std::string& n) {
    const ParamInfo* t = layout.find(n);
    MNEMO_CHECK(t != nullptr);
    order.push_back(t);
  };
  by_name("token_embd.weight");
  by_name("output_norm.weight");
  if (!s.tied_output) by_name("output.weight");
  for (const ParamInfo& t : layout.tensors()) {
    if (t.layer >= 0) order.push_back(&t);
  }
  for (const ParamInfo* t : order) {
    const float* src = params + t->offset;
    std::vector<int64_t> shape = t->rows > 1 || t->kind != ParamKind::kNorm ? std::vector<int64_t>{t->cols, t->rows}
                                                                            : std::vector<int64_t>{t->cols};
    if (p.f16 && t->kind != ParamKind::kNorm) {
      std::vector<uint16_t> h(static_cast<size_t>(t->numel()));
      for (int64_t i = 0; i < t->numel(); ++i) h[static_cast<size_t>(i)] = f32_to_fp16(src[i]);
      halves.push_back(std::move(h));
      MNEMO_RETURN_IF_ERROR(w.add_tensor(t->name, DType::F16, shape, halves.back().data()));
    } else {
      MNEMO_RETURN_IF_ERROR(w.add_tensor(t->name, DType::F32, shape, src));
    }
  }
  return w.finish(p.path);
}

Expected<TrainShape> shape_of(const Model& model) {
  const ModelInfo& i = model.info();
  const std::string& path = i.path;
  if (i.arch != "llama") return unsupported(path + ": architecture: training supports llama, found " + i.arch);
  if (i.qkv_bias) return unsupported(path + ": attention biases are not supported by training");
  if (i.head_dim * i.n_head != i.n_embd || i.n_rot != i.head_dim || i.rope_style != "normal" ||
      i.rope_freq_scale != 1.0f || i.rope_freq_factors) {
    return unsupported(path + ": training needs head_dim = n_embd / n_head and full, unscaled, llama-style RoPE");
  }
  TrainShape s;
  s.n_vocab = i.n_vocab;
  s.n_embd = i.n_embd;
  s.n_layer = i.n_layer;
  s.n_head = i.n_head;
  s.n_head_kv = i.n_head_kv;
  s.n_ff = i.n_ff;
  s.n_ctx = i.n_ctx_train;
  s.rms_eps = i.rms_eps;
  s.rope_base = i.rope_freq_base;
  s.tied_output = i.tied_output;
  MNEMO_RETURN_IF_ERROR(validate_shape(s, path));
  return s;
}

namespace {
void dequant(const TensorView& v, float* dst) {
  for (int64_t r = 0; r < v.n_rows(); ++r) kernels::dequantize_row(v.type, v.row(r), dst + r * v.ne[0], v.ne[0]);
}
void copy_vec(const float* src, int64_t n, float* dst) { std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); }
}  // namespace

Status load_weights(const Model& model, const ParamLayout& layout, float* params) {
  const LlamaModel& m = *model.impl().model;
  const LlamaWeights& w = m.weights();
  const LlamaConfig& c = m.config();
  const int64_t d = c.n_embd, dq = c.n_embd_q(), dkv = c.n_embd_kv(), ff = c.n_ff;
  dequant(w.token_embd, params + layout.token_embd());
  if (!c.tied_output) dequant(w.output, params + layout.output());
  copy_vec(w.output_norm, d, params + layout.output_norm());
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LlamaLayerWeights& lw = w.layers[static_cast<size_t>(l)];
    const LayerOffsets& o = layout.layer(l);
    copy_vec(lw.attn_norm, d, params + o.attn_norm);
    dequant(lw.wq, params + o.wqkv);
    dequant(lw.wk, params + o.wqkv + dq * d);
    dequant(lw.wv, params + o.wqkv + (dq + dkv) * d);
    dequant(lw.wo, params + o.wo);
    copy_vec(lw.ffn_norm, d, params + o.ffn_norm);
    dequant(lw.ffn_gate, params + o.wgu);
    dequant(lw.ffn_up, params + o.wgu + ff * d);
    dequant(lw.ffn_down, params + o.wdown);
  }
  return Status::ok();
}

}  // namespace mnemo::train
