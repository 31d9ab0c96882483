// runtime/load_gguf.cc: a llama-family model from GGUF metadata and tensors (llama.cpp's key and
// tensor names), weights left in the mapping in their stored types.
#include <cmath>
#include <cstring>
#include <set>

#include "base/fp16.h"
#include "base/strings.h"
#include "model/config.h"
#include "runtime/model_impl.h"

namespace mnemo {
namespace {

class GgufModelReader {
 public:
  GgufModelReader(const gguf::GgufFile& f, Model::Impl* impl) : f_(f), impl_(impl) {}

  Expected<TensorView> matrix(const std::string& name, bool required = true) {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (t == nullptr) {
      if (!required) return TensorView{};
      return corrupt(f_.path() + ": tensor '" + name + "': missing");
    }
    used_.insert(name);
    return f_.view(*t);
  }

  // A 1-D F32 vector of n elements (converted from F16/BF16 into owned storage if needed).
  Expected<const float*> vector(const std::string& name, int64_t n, bool required = true) {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (t == nullptr) {
      if (!required) return static_cast<const float*>(nullptr);
      return corrupt(f_.path() + ": tensor '" + name + "': missing");
    }
    used_.insert(name);
    TensorView v = f_.view(*t);
    if (v.n_elements() != n || v.ne[0] != n) {
      return corrupt(str_printf("%s: tensor '%s': expected %lld elements, found shape [%lld, %lld]", f_.path().c_str(),
                                name.c_str(), static_cast<long long>(n), static_cast<long long>(v.ne[0]),
                                static_cast<long long>(v.ne[1])));
    }
    if (v.type == DType::F32) return static_cast<const float*>(v.data);
    if (v.type != DType::F16 && v.type != DType::BF16) {
      return unsupported(f_.path() + ": tensor '" + name + "': expected f32, f16 or bf16 for a vector, found " +
                         std::string(dtype_name(v.type)));
    }
    TensorStorage s(DType::F32, {n});
    float* dst = s.data_as<float>();
    const uint16_t* src = static_cast<const uint16_t*>(v.data);
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + i, 2);
      dst[i] = v.type == DType::F16 ? fp16_to_f32(h) : bf16_to_f32(h);
    }
    impl_->owned.push_back(std::move(s));
    return static_cast<const float*>(impl_->owned.back().view().data);
  }

  // Every tensor of the file must have been taken by matrix() or vector(): one that is not would
  // be silently ignored, and the model would compute something other than what the file says
  // (attn_output.bias, ffn biases, experts, another architecture's tensors). No tensor is ignored
  // on purpose: llama.cpp refuses a file with a tensor its architecture does not create
  // (llama_model_loader::done_getting_tensors), so none is known to be harmless.
  Status check_all_used(const std::string& arch) const {
    for (const gguf::TensorInfo& t : f_.tensors()) {
      if (used_.count(t.name) == 0) {
        return unsupported(f_.path() + ": tensor '" + t.name + "': not supported for architecture " + arch +
                           " (mnemo would have to ignore it)");
      }
    }
    return Status::ok();
  }

 private:
  const gguf::GgufFile& f_;
  Model::Impl* impl_;
  std::set<std::string, std::less<>> used_;  // names of the tensors taken
};

Expected<int64_t> positive_key(const gguf::GgufFile& f, const std::string& key) {
  MNEMO_ASSIGN_OR_RETURN(uint64_t v, f.get_u64(key));
  if (v == 0 || v > (1ull << 31)) {
    return corrupt(str_printf("%s: %s: expected a positive count below 2^31, found %llu", f.path().c_str(), key.c_str(),
                              static_cast<unsigned long long>(v)));
  }
  return static_cast<int64_t>(v);
}

// Every factor divides an angle: it must be a positive, finite number.
Status check_rope_freqs(const std::string& path, const float* f, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!(f[i] > 0.0f && std::isfinite(f[i]))) {
      return corrupt(str_printf("%s: tensor 'rope_freqs.weight': element %lld: expected a positive finite factor, found %g",
                                path.c_str(), static_cast<long long>(i), static_cast<double>(f[i])));
    }
  }
  return Status::ok();
}

}  // namespace

Status load_gguf_model(const std::string& path, const ModelParams& params, Model::Impl* impl) {
  MNEMO_ASSIGN_OR_RETURN(impl->gguf, gguf::GgufFile::open(path, params.use_mmap ? MapMode::kMap : MapMode::kRead));
  const gguf::GgufFile& f = *impl->gguf;

  MNEMO_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  if (arch != "llama" && arch != "qwen2") {
    return unsupported(path + ": general.architecture: expected llama or qwen2, found '" + arch + "'");
  }
  const std::string p = arch + ".";
  LlamaConfig c;
  c.arch = arch;
  MNEMO_ASSIGN_OR_RETURN(c.n_embd, positive_key(f, p + "embedding_length"));
  MNEMO_ASSIGN_OR_RETURN(c.n_layer, positive_key(f, p + "block_count"));
  MNEMO_ASSIGN_OR_RETURN(c.n_ff, positive_key(f, p + "feed_forward_length"));
  MNEMO_ASSIGN_OR_RETURN(c.n_head, positive_key(f, p + "attention.head_count"));
  MNEMO_ASSIGN_OR_RETURN(c.n_ctx_train, positive_key(f, p + "context_length"));
  c.n_head_kv = c.n_head;
  if (f.find(p + "attention.head_count_kv") != nullptr) {
    MNEMO_ASSIGN_OR_RETURN(c.n_head_kv, positive_key(f, p + "attention.head_count_kv"));
  }
  if (c.n_embd % c.n_head != 0 && f.find(p + "attention.key_length") == nullptr) {
    return corrupt(str_printf("%s: %sembedding_length %lld is not a multiple of head_count %lld", path.c_str(), p.c_str(),
                              static_cast<long long>(c.n_embd), static_cast<long long>(c.n_head)));
  }
  c.head_dim = c.n_embd / c.n_head;
  if (f.find(p + "attention.key_length") != nullptr) {
    MNEMO_ASSIGN_OR_RETURN(c.head_dim, positive_key(f, p + "attention.key_length"));
    MNEMO_ASSIGN_OR_RETURN(uint64_t vlen, f.get_u64_or(p + "attention.value_length", static_cast<uint64_t>(c.head_dim)));
    if (static_cast<int64_t>(vlen) != c.head_dim) {
      return unsupported(path + ": " + p + "attention.value_length: expected it equal to key_length");
    }
  }
  MNEMO_ASSIGN_OR_RETURN(double eps, f.get_f64(p + "attention.layer_norm_rms_epsilon"));
  if (!(eps > 0.0 && eps < 1.0)) {
    return corrupt(str_printf("%s: %sattention.layer_norm_rms_epsilon: expected a value in (0, 1), found %g", path.c_str(),
                              p.c_str(), eps));
  }
  c.rms_eps = static_cast<float>(eps);
  MNEMO_ASSIGN_OR_RETURN(uint64_t n_rot, f.get_u64_or(p + "rope.dimension_count", static_cast<uint64_t>(c.head_dim)));
  c.rope.n_rot = static_cast<int64_t>(n_rot);
  MNEMO_ASSIGN_OR_RETURN(double base, f.get_f64_or(p + "rope.freq_base", 10000.0));
  c.rope.freq_base = static_cast<float>(base);  // checked as mnemo uses it (gen-model writes it so)
  MNEMO_RETURN_IF_ERROR(check_rope_freq_base(path + ": " + p + "rope.freq_base", c.rope.freq_base));
  c.rope.style = arch == "qwen2" ? kernels::RopeStyle::kNeox : kernels::RopeStyle::kNormal;
  // RoPE scaling: linear only ("rope.scaling.type" = linear with "rope.scaling.factor", or the
  // legacy "rope.scale_linear").
  double factor = 1.0;
  std::string factor_key = p + "rope.scale_linear";
  if (const gguf::Value* v = f.find(p + "rope.scaling.type")) {
    auto type = v->as_string();
    if (!type) return corrupt(path + ": " + p + "rope.scaling.type: expected a string");
    if (*type == "linear") {
      factor_key = p + "rope.scaling.factor";
      MNEMO_ASSIGN_OR_RETURN(factor, f.get_f64(factor_key));
    } else if (*type != "none") {
      return unsupported(path + ": " + p + "rope.scaling.type: expected none or linear, found '" + std::string(*type) + "'");
    }
  } else {
    MNEMO_ASSIGN_OR_RETURN(factor, f.get_f64_or(factor_key, 1.0));
  }
  if (factor == 0.0) factor = 1.0;  // llama.cpp: 0 means no scaling
  MNEMO_RETURN_IF_ERROR(check_rope_scaling_factor(path + ": " + factor_key, factor));
  c.rope.freq_scale = static_cast<float>(1.0 / factor);

  GgufModelReader r(f, impl);
  LlamaWeights w;
  MNEMO_ASSIGN_OR_RETURN(w.token_embd, r.matrix("token_embd.weight"));
  c.n_vocab = w.token_embd.ne[1];
  MNEMO_ASSIGN_OR_RETURN(w.output, r.matrix("output.weight", /*required=*/false));
  if (w.output.data == nullptr) {
    w.output = w.token_embd;
    c.tied_output = true;
  }
  MNEMO_ASSIGN_OR_RETURN(w.output_norm, r.vector("output_norm.weight", c.n_embd));
  if (arch == "llama") {
    // Llama 3.1+ frequency scaling, as llama.cpp applies it (ggml_rope_ext's freq_factors).
    MNEMO_ASSIGN_OR_RETURN(w.rope_freqs, r.vector("rope_freqs.weight", c.rope.n_rot / 2, /*required=*/false));
    if (w.rope_freqs != nullptr) MNEMO_RETURN_IF_ERROR(check_rope_freqs(path, w.rope_freqs, c.rope.n_rot / 2));
  }
  c.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string b = str_printf("blk.%lld.", static_cast<long long>(i));
    LlamaLayerWeights l;
    MNEMO_ASSIGN_OR_RETURN(l.attn_norm, r.vector(b + "attn_norm.weight", c.n_embd));
    MNEMO_ASSIGN_OR_RETURN(l.wq, r.matrix(b + "attn_q.weight"));
    MNEMO_ASSIGN_OR_RETURN(l.wk, r.matrix(b + "attn_k.weight"));
    MNEMO_ASSIGN_OR_RETURN(l.wv, r.matrix(b + "attn_v.weight"));
    MNEMO_ASSIGN_OR_RETURN(l.wo, r.matrix(b + "attn_output.weight"));
    if (c.qkv_bias) {
      MNEMO_ASSIGN_OR_RETURN(l.bq, r.vector(b + "attn_q.bias", c.n_embd_q()));
      MNEMO_ASSIGN_OR_RETURN(l.bk, r.vector(b + "attn_k.bias", c.n_embd_kv()));
      MNEMO_ASSIGN_OR_RETURN(l.bv, r.vector(b + "attn_v.bias", c.n_embd_kv()));
    }
    MNEMO_ASSIGN_OR_RETURN(l.ffn_norm, r.vector(b + "ffn_norm.weight", c.n_embd));
    MNEMO_ASSIGN_OR_RETURN(l.ffn_gate, r.matrix(b + "ffn_gate.weight"));
    MNEMO_ASSIGN_OR_RETURN(l.ffn_up, r.matrix(b + "ffn_up.weight"));
    MNEMO_ASSIGN_OR_RETURN(l.ffn_down, r.matrix(b + "ffn_down.weight"));
    w.layers.push_back(l);
  }
  MNEMO_RETURN_IF_ERROR(r.check_all_used(arch));
  auto model = LlamaModel::create(c, std::move(w));
  if (!model) return model.status().with_context(path);
  impl->model = std::move(model).value();

  std::string name;
  if (const gguf::Value* v = f.find("general.name")) {
    if (auto s = v->as_string()) name = std::string(*s);
  }
  describe_model(impl, path, str_printf("gguf v%u", f.version()), name);
  if (const gguf::Value* v = f.find("tokenizer.chat_template")) {
    if (auto s = v->as_string()) impl->info.chat_template = std::string(*s);
  }
  return Status::ok();
}

}  // namespace mnemo
