// runtime/load_llama2c.cc: a llama2.c checkpoint as a llama model (F32, normal RoPE with base
// 10000 over the whole head, RMSNorm eps 1e-5, as run.c computes it).
#include "base/strings.h"
#include "runtime/model_impl.h"

namespace mnemo {

Status load_llama2c_model(const std::string& path, const ModelParams& params, Model::Impl* impl) {
  MNEMO_ASSIGN_OR_RETURN(impl->checkpoint,
                         llama2c::Checkpoint::open(path, params.use_mmap ? MapMode::kMap : MapMode::kRead));
  const llama2c::Checkpoint& ck = *impl->checkpoint;
  const llama2c::Config& k = ck.config();
  LlamaConfig c;
  c.arch = "llama";
  c.n_vocab = k.vocab_size;
  c.n_embd = k.dim;
  c.n_layer = k.n_layers;
  c.n_head = k.n_heads;
  c.n_head_kv = k.n_kv_heads;
  c.head_dim = k.dim / k.n_heads;
  c.n_ff = k.hidden_dim;
  c.n_ctx_train = k.seq_len;
  c.rms_eps = 1e-5f;
  c.rope.n_rot = c.head_dim;
  c.rope.freq_base = 10000.0f;
  c.rope.style = kernels::RopeStyle::kNormal;
  c.tied_output = k.shared_classifier;

  LlamaWeights w;
  w.token_embd = ck.token_embedding();
  w.output = ck.classifier();
  w.output_norm = static_cast<const float*>(ck.final_norm().data);
  for (int i = 0; i < k.n_layers; ++i) {
    const llama2c::LayerViews& v = ck.layer(i);
    LlamaLayerWeights l;
    l.attn_norm = static_cast<const float*>(v.attn_norm.data);
    l.wq = v.wq;
    l.wk = v.wk;
    l.wv = v.wv;
    l.wo = v.wo;
    l.ffn_norm = static_cast<const float*>(v.ffn_norm.data);
    l.ffn_gate = v.w1;
    l.ffn_down = v.w2;
    l.ffn_up = v.w3;
    w.layers.push_back(l);
  }
  auto model = LlamaModel::create(c, std::move(w));
  if (!model) return model.status().with_context(path);
  impl->model = std::move(model).value();
  describe_model(impl, path, "llama2.c", "");
  return Status::ok();
}

}  // namespace mnemo
