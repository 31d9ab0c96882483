// runtime/gen_model.cc: random-weight llama models of real shapes (mnemo gen-model).
#include <cmath>
#include <cstring>

#include "base/rng.h"
#include "base/strings.h"
#include "compress/ggml_quantize.h"
#include "formats/gguf.h"
#include "mnemo/convert.h"
#include "model/config.h"
#include "runtime/synthetic_vocab.h"
#include "tensor/dtype.h"

namespace mnemo {
namespace {

int32_t ggml_file_type(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    default: return 0;
  }
}

}  // namespace

const std::vector<ModelShape>& model_shapes() {
  static const std::vector<ModelShape> shapes = {
      // name              vocab  embd layers heads kv   ff     ctx   tied
      {"micro", 512, 256, 1, 4, 2, 256, 128, false},
      {"tiny", 512, 256, 2, 4, 2, 512, 256, false},
      {"stories260k", 512, 64, 5, 8, 4, 172, 512, true},
      {"stories15m", 32000, 288, 6, 6, 6, 768, 256, true},
      {"stories110m", 32000, 768, 12, 12, 12, 2048, 1024, true},
      {"tinyllama-1.1b", 32000, 2048, 22, 32, 4, 5632, 2048, false},
      {"llama2-7b", 32000, 4096, 32, 32, 32, 11008, 4096, false},
  };
  return shapes;
}

Status generate_model(const GenModelParams& p, const ProgressFn& progress) {
  const ModelShape* shape = nullptr;
  for (const ModelShape& s : model_shapes()) {
    if (s.name == p.shape) shape = &s;
  }
  if (shape == nullptr) {
    std::string names;
    for (const ModelShape& s : model_shapes()) names += (names.empty() ? "" : ", ") + s.name;
    return invalid_argument("--shape: expected one of " + names + ", found '" + p.shape + "'");
  }
  auto dtype = dtype_from_name(p.dtype);
  if (!dtype || (*dtype != DType::F32 && *dtype != DType::F16 && *dtype != DType::BF16 && *dtype != DType::Q8_0 &&
                 *dtype != DType::Q4_0)) {
    return invalid_argument("--dtype: expected F32, F16, BF16, Q8_0 or Q4_0, found '" + p.dtype + "'");
  }
  const std::string arch = p.arch.empty() ? "llama" : p.arch;
  if (arch != "llama" && arch != "qwen2") return invalid_argument("--arch: expected llama or qwen2, found '" + arch + "'");
  if (p.n_head_kv < 0 || p.n_head_kv > shape->n_head || (p.n_head_kv > 0 && shape->n_head % p.n_head_kv != 0)) {
    return out_of_range(str_printf("--n-head-kv: expected 0 (the shape's) or a divisor of the shape's %lld heads, found %lld",
                                   static_cast<long long>(shape->n_head), static_cast<long long>(p.n_head_kv)));
  }
  const int64_t n_head_kv = p.n_head_kv > 0 ? p.n_head_kv : shape->n_head_kv;
  if (p.tied_output < -1 || p.tied_output > 1) {
    return out_of_range(str_printf("--tied: expected 0 or 1, found %d", p.tied_output));
  }
  const bool tied = p.tied_output < 0 ? shape->tied_output : p.tied_output == 1;
  // RoPE values as they will be stored (f32), checked by the loader's own rule.
  const float rope_base = static_cast<float>(p.rope_freq_base != 0 ? p.rope_freq_base : 10000.0);
  MNEMO_RETURN_IF_ERROR(check_rope_freq_base("--rope-base", rope_base));
  const float rope_factor = static_cast<float>(p.rope_scaling_factor);
  if (p.rope_scaling_factor != 0) MNEMO_RETURN_IF_ERROR(check_rope_scaling_factor("--rope-scaling", rope_factor));
  const int64_t d = shape->n_embd, hd = d / shape->n_head, dkv = n_head_kv * hd, ff = shape->n_ff, nv = shape->n_vocab;
  const int64_t block = traits(*dtype).block_elems;
  if (d % block != 0 || ff % block != 0) {
    return invalid_argument(str_printf("--dtype %s: rows of %lld and %lld elements are not multiples of its block of %lld",
                                       p.dtype.c_str(), static_cast<long long>(d), static_cast<long long>(ff),
                                       static_cast<long long>(block)));
  }

  gguf::GgufWriter w;
  const std::string a = arch + ".";
  w.set("general.architecture", gguf::Value::string(arch));
  w.set("general.name", gguf::Value::string(str_printf("mnemo-random-%s", shape->name.c_str())));
  w.set("general.file_type", gguf::Value::u32(static_cast<uint32_t>(ggml_file_type(*dtype))));
  w.set(a + "context_length", gguf::Value::u32(static_cast<uint32_t>(shape->n_ctx)));
  w.set(a + "embedding_length", gguf::Value::u32(static_cast<uint32_t>(d)));
  w.set(a + "feed_forward_length", gguf::Value::u32(static_cast<uint32_t>(ff)));
  w.set(a + "block_count", gguf::Value::u32(static_cast<uint32_t>(shape->n_layer)));
  w.set(a + "attention.head_count", gguf::Value::u32(static_cast<uint32_t>(shape->n_head)));
  w.set(a + "attention.head_count_kv", gguf::Value::u32(static_cast<uint32_t>(n_head_kv)));
  w.set(a + "attention.layer_norm_rms_epsilon", gguf::Value::f32(arch == "qwen2" ? 1e-6f : 1e-5f));
  w.set(a + "rope.dimension_count", gguf::Value::u32(static_cast<uint32_t>(hd)));
  w.set(a + "rope.freq_base", gguf::Value::f32(rope_base));
  if (p.rope_scaling_factor != 0) {
    w.set(a + "rope.scaling.type", gguf::Value::string("linear"));
    w.set(a + "rope.scaling.factor", gguf::Value::f32(rope_factor));
  }
  SpmVocab vocab = synthetic_spm_vocab(nv);
  w.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  w.set("tokenizer.ggml.tokens", gguf::Value::string_array(vocab.tokens));
  w.set("tokenizer.ggml.scores", gguf::Value::f32_array(vocab.scores));
  w.set("tokenizer.ggml.token_type", gguf::Value::i32_array(vocab.types));
  w.set("tokenizer.ggml.unknown_token_id", gguf::Value::u32(0));
  w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
  w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(2));

  Rng rng(p.seed);
  std::vector<std::vector<uint8_t>> storage;  // tensor bytes, alive until finish()
  uint64_t total_elems = static_cast<uint64_t>(nv * d) * (tied ? 1 : 2) +
                         static_cast<uint64_t>(shape->n_layer) * static_cast<uint64_t>(2 * d * d + 2 * d * dkv + 3 * d * ff);
  uint64_t done_elems = 0;
  std::vector<float> row;
  auto add_matrix = [&](const std::string& name, int64_t cols, int64_t rows, DType type) -> Status {
    const float stddev = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cols)));
    const uint64_t rb = *row_bytes(type, static_cast<uint64_t>(cols));
    storage.emplace_back(rb * static_cast<uint64_t>(rows));
    row.resize(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i + 1 < cols; i += 2) {
        rng.normal_pair(&row[i], &row[i + 1]);
        row[i] *= stddev;
        row[i + 1] *= stddev;
      }
      if (cols % 2) {
        float b;
        rng.normal_pair(&row[cols - 1], &b);
        row[cols - 1] *= stddev;
      }
      MNEMO_RETURN_IF_ERROR(quantize_row(type, row.data(), storage.back().data() + rb * r, cols));
    }
    done_elems += static_cast<uint64_t>(cols * rows);
    if (progress) progress(done_elems, total_elems);
    const int64_t shape2[2] = {cols, rows};
    return w.add_tensor(name, type, shape2, storage.back().data());
  };
  auto add_vector = [&](const std::string& name, int64_t n, float center, float spread) -> Status {
    storage.emplace_back(static_cast<size_t>(n) * sizeof(float));
    float* v = reinterpret_cast<float*>(storage.back().data());
    for (int64_t i = 0; i < n; ++i) v[i] = center + spread * static_cast<float>(rng.uniform() * 2.0 - 1.0);
    const int64_t shape1[1] = {n};
    return w.add_tensor(name, DType::F32, shape1, storage.back().data());
  };

  MNEMO_RETURN_IF_ERROR(add_matrix("token_embd.weight", d, nv, *dtype));
  MNEMO_RETURN_IF_ERROR(add_vector("output_norm.weight", d, 1.0f, 0.1f));
  if (!tied) MNEMO_RETURN_IF_ERROR(add_matrix("output.weight", d, nv, *dtype));
  for (int64_t l = 0; l < shape->n_layer; ++l) {
    const std::string b = str_printf("blk.%lld.", static_cast<long long>(l));
    MNEMO_RETURN_IF_ERROR(add_vector(b + "attn_norm.weight", d, 1.0f, 0.1f));
    MNEMO_RETURN_IF_ERROR(add_matrix(b + "attn_q.weight", d, d, *dtype));
    MNEMO_RETURN_IF_ERROR(add_matrix(b + "attn_k.weight", d, dkv, *dtype));
    MNEMO_RETURN_IF_ERROR(add_matrix(b + "attn_v.weight", d, dkv, *dtype));
    if (arch == "qwen2") {
      MNEMO_RETURN_IF_ERROR(add_vector(b + "attn_q.bias", d, 0.0f, 0.1f));
      MNEMO_RETURN_IF_ERROR(add_vector(b + "attn_k.bias", dkv, 0.0f, 0.1f));
      MNEMO_RETURN_IF_ERROR(add_vector(b + "attn_v.bias", dkv, 0.0f, 0.1f));
    }
    MNEMO_RETURN_IF_ERROR(add_matrix(b + "attn_output.weight", d, d, *dtype));
    MNEMO_RETURN_IF_ERROR(add_vector(b + "ffn_norm.weight", d, 1.0f, 0.1f));
    MNEMO_RETURN_IF_ERROR(add_matrix(b + "ffn_gate.weight", d, ff, *dtype));
    MNEMO_RETURN_IF_ERROR(add_matrix(b + "ffn_up.weight", d, ff, *dtype));
    MNEMO_RETURN_IF_ERROR(add_matrix(b + "ffn_down.weight", ff, d, *dtype));
  }
  return w.finish(p.output);
}

}  // namespace mnemo
