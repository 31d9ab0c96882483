// runtime/convert.cc: llama2.c checkpoint + tokenizer.bin -> GGUF, with the metadata and vocabulary
// conventions of llama.cpp's convert-llama2c-to-ggml, so llama.cpp loads the result.
#include <cstring>

#include "base/strings.h"
#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "mnemo/convert.h"
#include "mnemo/tokenizer.h"
#include "runtime/gguf_vocab.h"

namespace mnemo {
namespace {

std::string base_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Status convert_llama2c_to_gguf(const ConvertParams& p, const ProgressFn& progress) {
  if (p.output.empty()) return invalid_argument("convert: expected an output path (-o)");
  if (p.tokenizer.empty()) return invalid_argument(p.input + ": a llama2.c checkpoint needs its tokenizer: pass -z tokenizer.bin");
  MNEMO_ASSIGN_OR_RETURN(auto ck, llama2c::Checkpoint::open(p.input));
  MNEMO_ASSIGN_OR_RETURN(auto tok, Tokenizer::load(p.tokenizer));
  const llama2c::Config& c = ck->config();
  if (tok->n_vocab() != c.vocab_size) {
    return corrupt(str_printf("%s: expected %d tokens (the checkpoint's vocab_size), found %d", p.tokenizer.c_str(),
                              c.vocab_size, tok->n_vocab()));
  }
  if (p.n_ctx < 0) return invalid_argument("--ctx: expected a positive context length");

  gguf::GgufWriter w;
  w.set("general.architecture", gguf::Value::string("llama"));
  w.set("general.name", gguf::Value::string(p.name.empty() ? base_name(p.input) : p.name));
  w.set("general.file_type", gguf::Value::u32(0));  // all F32
  w.set("llama.context_length", gguf::Value::u32(static_cast<uint32_t>(p.n_ctx > 0 ? p.n_ctx : c.seq_len)));
  w.set("llama.embedding_length", gguf::Value::u32(static_cast<uint32_t>(c.dim)));
  w.set("llama.feed_forward_length", gguf::Value::u32(static_cast<uint32_t>(c.hidden_dim)));
  w.set("llama.block_count", gguf::Value::u32(static_cast<uint32_t>(c.n_layers)));
  w.set("llama.attention.head_count", gguf::Value::u32(static_cast<uint32_t>(c.n_heads)));
  w.set("llama.attention.head_count_kv", gguf::Value::u32(static_cast<uint32_t>(c.n_kv_heads)));
  w.set("llama.rope.dimension_count", gguf::Value::u32(static_cast<uint32_t>(c.dim / c.n_heads)));
  w.set("llama.attention.layer_norm_rms_epsilon", gguf::Value::f32(1e-5f));
  // Vocabulary as llama.cpp's converter writes it: ids 0..2 renamed, types set, spaces escaped.
  add_llama2c_vocab(*tok, &w);

  auto add = [&](const std::string& name, const TensorView& v) -> Status {
    std::vector<int64_t> shape(v.ne, v.ne + std::max(1, v.n_dims));
    return w.add_tensor(name, DType::F32, shape, v.data);
  };
  MNEMO_RETURN_IF_ERROR(add("token_embd.weight", ck->token_embedding()));
  MNEMO_RETURN_IF_ERROR(add("output_norm.weight", ck->final_norm()));
  if (!c.shared_classifier) MNEMO_RETURN_IF_ERROR(add("output.weight", ck->classifier()));
  for (int l = 0; l < c.n_layers; ++l) {
    const llama2c::LayerViews& v = ck->layer(l);
    const std::string b = str_printf("blk.%d.", l);
    MNEMO_RETURN_IF_ERROR(add(b + "attn_norm.weight", v.attn_norm));
    MNEMO_RETURN_IF_ERROR(add(b + "attn_q.weight", v.wq));
    MNEMO_RETURN_IF_ERROR(add(b + "attn_k.weight", v.wk));
    MNEMO_RETURN_IF_ERROR(add(b + "attn_v.weight", v.wv));
    MNEMO_RETURN_IF_ERROR(add(b + "attn_output.weight", v.wo));
    MNEMO_RETURN_IF_ERROR(add(b + "ffn_norm.weight", v.ffn_norm));
    MNEMO_RETURN_IF_ERROR(add(b + "ffn_gate.weight", v.w1));
    MNEMO_RETURN_IF_ERROR(add(b + "ffn_down.weight", v.w2));
    MNEMO_RETURN_IF_ERROR(add(b + "ffn_up.weight", v.w3));
    if (progress) progress(static_cast<uint64_t>(l + 1), static_cast<uint64_t>(c.n_layers));
  }
  return w.finish(p.output);
}

}  // namespace mnemo
