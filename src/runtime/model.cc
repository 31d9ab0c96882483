// runtime/model.cc: Model::load picks the loader by the file's first bytes and attaches the
// tokenizer.
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <span>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/file.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "base/sys.h"
#include "runtime/engine_impl.h"
#include "runtime/model_impl.h"

namespace mnemo {
namespace {

enum class FileKind { kGguf, kLlama2c };

Expected<FileKind> sniff(const std::string& path) {
  FILE* fp = std::fopen(path.c_str(), "rb");
  if (fp == nullptr) {
    if (errno == ENOENT) return not_found(path + ": cannot open model: no such file");
    return io_error(path + ": cannot open model: " + std::strerror(errno));
  }
  char magic[4] = {0, 0, 0, 0};
  size_t n = std::fread(magic, 1, 4, fp);
  std::fclose(fp);
  if (n == 4 && std::memcmp(magic, "GGUF", 4) == 0) return FileKind::kGguf;
  if (n == 4 && (std::memcmp(magic, "GGML", 4) == 0 || std::memcmp(magic, "GGJT", 4) == 0 ||
                 std::memcmp(magic, "lmgg", 4) == 0 || std::memcmp(magic, "tjgg", 4) == 0)) {
    return unsupported(path + ": expected a GGUF or llama2.c model, found a legacy GGML file (convert it to GGUF)");
  }
  if (n < 4) return corrupt(path + ": expected a model file, found " + std::to_string(n) + " bytes");
  return FileKind::kLlama2c;
}

const char* tensor_class(const std::string& name) {
  if (name == "token_embd.weight") return "token_embd";
  if (name == "output.weight") return "output";
  if (name.find("norm") != std::string::npos) return "norm";
  if (name.find("attn_") != std::string::npos) return "attention";
  if (name.find("ffn_") != std::string::npos) return "ffn";
  if (name == "rope_freqs.weight") return "rope";
  return "other";
}

void add_tensor(ModelInfo& info, const std::string& name, const TensorView& v) {
  TensorSummary s;
  s.name = name;
  s.type = std::string(dtype_name(v.type));
  for (int d = 0; d < std::max(1, v.n_dims); ++d) s.shape.push_back(v.ne[d]);
  s.bytes = v.n_bytes();
  info.bytes_by_class[tensor_class(name)] += s.bytes;
  info.bytes_by_type[s.type] += s.bytes;
  info.weight_bytes += s.bytes;
  info.n_params += static_cast<uint64_t>(v.n_elements());
  info.tensors.push_back(std::move(s));
}

TensorView f32_vector(const float* p, int64_t n) {
  TensorView v;
  v.type = DType::F32;
  v.n_dims = 1;
  v.ne[0] = n;
  v.data = p;
  return v;
}

}  // namespace

void describe_model(Model::Impl* impl, const std::string& path, const std::string& format, const std::string& name) {
  const LlamaConfig& c = impl->model->config();
  const LlamaWeights& w = impl->model->weights();
  ModelInfo& info = impl->info;
  info = ModelInfo();
  info.path = path;
  info.format = format;
  info.arch = c.arch;
  info.name = name;
  info.n_vocab = c.n_vocab;
  info.n_embd = c.n_embd;
  info.n_layer = c.n_layer;
  info.n_head = c.n_head;
  info.n_head_kv = c.n_head_kv;
  info.head_dim = c.head_dim;
  info.n_ff = c.n_ff;
  info.n_ctx_train = c.n_ctx_train;
  info.n_rot = c.rope.n_rot;
  info.rope_freq_base = c.rope.freq_base;
  info.rope_freq_scale = c.rope.freq_scale;
  info.rope_style = c.rope.style == kernels::RopeStyle::kNeox ? "neox" : "normal";
  info.rope_freq_factors = w.rope_freqs != nullptr;
  info.rms_eps = c.rms_eps;
  info.tied_output = c.tied_output;
  info.qkv_bias = c.qkv_bias;
  info.file_bytes = impl->file().size();
  add_tensor(info, "token_embd.weight", w.token_embd);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const LlamaLayerWeights& l = w.layers[static_cast<size_t>(i)];
    const std::string b = str_printf("blk.%lld.", static_cast<long long>(i));
    add_tensor(info, b + "attn_norm.weight", f32_vector(l.attn_norm, c.n_embd));
    add_tensor(info, b + "attn_q.weight", l.wq);
    add_tensor(info, b + "attn_k.weight", l.wk);
    add_tensor(info, b + "attn_v.weight", l.wv);
    add_tensor(info, b + "attn_output.weight", l.wo);
    if (c.qkv_bias) {
      add_tensor(info, b + "attn_q.bias", f32_vector(l.bq, c.n_embd_q()));
      add_tensor(info, b + "attn_k.bias", f32_vector(l.bk, c.n_embd_kv()));
      add_tensor(info, b + "attn_v.bias", f32_vector(l.bv, c.n_embd_kv()));
    }
    add_tensor(info, b + "ffn_norm.weight", f32_vector(l.ffn_norm, c.n_embd));
    add_tensor(info, b + "ffn_gate.weight", l.ffn_gate);
    add_tensor(info, b + "ffn_up.weight", l.ffn_up);
    add_tensor(info, b + "ffn_down.weight", l.ffn_down);
  }
  add_tensor(info, "output_norm.weight", f32_vector(w.output_norm, c.n_embd));
  if (!c.tied_output) add_tensor(info, "output.weight", w.output);
  if (w.rope_freqs != nullptr) add_tensor(info, "rope_freqs.weight", f32_vector(w.rope_freqs, c.rope.n_rot / 2));
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() {
  if (impl_ && impl_->locked) munlock(impl_->file().data(), impl_->file().size());
}

namespace {

// The type holding most bytes of the layers' matrices.
std::string dominant_weight_type(const ModelInfo& info) {
  std::map<std::string, uint64_t> by_type;
  for (const TensorSummary& t : info.tensors) {
    if (t.shape.size() == 2 && t.name.rfind("blk.", 0) == 0) by_type[t.type] += t.bytes;
  }
  std::string best;
  uint64_t most = 0;
  for (const auto& [type, bytes] : by_type) {
    if (bytes > most) best = type, most = bytes;
  }
  return best;
}

uint64_t file_size_of(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Counts the loaded model against its engine: the weights at what they will hold resident (the
// read buffer with --no-mmap, every tensor when mapped: decoding touches them all), the rest of
// what loading added to the heap as metadata.
Status lease_loaded_model(Model::Impl* impl, const ModelParams& params, uint64_t anon_before) {
  const uint64_t file_bytes = impl->file().size();
  const uint64_t resident = params.use_mmap && !params.use_mlock ? impl->info.weight_bytes : file_bytes;
  MNEMO_RETURN_IF_ERROR(impl->weights_lease.resize(resident));
  const uint64_t anon_after = process_memory().rss_anon_bytes;
  uint64_t meta = anon_after > anon_before ? anon_after - anon_before : 0;
  meta = params.use_mmap ? meta : (meta > file_bytes ? meta - file_bytes : 0);
  meta = (meta + (1 << 20) - 1) >> 20 << 20;  // whole MiB: the measure moves by a few pages from run to run
  MNEMO_ASSIGN_OR_RETURN(impl->metadata_lease, impl->engine->impl().budget->acquire("model metadata", meta));
  return Status::ok();
}

}  // namespace

namespace {

// ModelInfo::fingerprint: SHA-256 of the size, the first MiB, the last 64 KiB and 64 samples of
// 4 KiB evenly spaced in between.
std::string file_fingerprint(std::span<const uint8_t> file) {
  Sha256 h;
  const uint64_t n = file.size();
  h.update(&n, sizeof n);
  auto take = [&](uint64_t off, uint64_t len) {
    off = std::min(off, n);
    h.update(file.data() + off, static_cast<size_t>(std::min(len, n - off)));
  };
  take(0, 1u << 20);
  constexpr uint64_t kSamples = 64, kSample = 4096;
  for (uint64_t i = 1; i <= kSamples; ++i) take(n / (kSamples + 1) * i, kSample);
  take(n > (64u << 10) ? n - (64u << 10) : 0, 64u << 10);
  return h.hex_digest();
}

}  // namespace

Expected<std::unique_ptr<Model>> Model::load(const std::string& path, const ModelParams& params) {
  MNEMO_RETURN_IF_ERROR(check_openable_file(path, "model file"));
  if (!params.tokenizer_path.empty()) MNEMO_RETURN_IF_ERROR(check_openable_file(params.tokenizer_path, "tokenizer file"));
  MNEMO_ASSIGN_OR_RETURN(FileKind kind, sniff(path));
  auto impl = std::make_unique<Impl>();
  impl->engine = params.engine;
  if (!impl->engine) {
    MNEMO_ASSIGN_OR_RETURN(impl->engine, Engine::create());
  }
  // Refused before anything is read: the file bounds what the weights can hold.
  {
    auto lease = impl->engine->impl().budget->acquire("weights of " + path, file_size_of(path));
    if (!lease.has_value()) {
      return Status(lease.status().code(), lease.status().message() +
                                               "; give a larger --mem (weights that do not fit cannot be streamed "
                                               "from disk yet)");
    }
    impl->weights_lease = std::move(*lease);
  }
  const uint64_t anon_before = process_memory().rss_anon_bytes;
  if (kind == FileKind::kGguf) {
    MNEMO_RETURN_IF_ERROR(load_gguf_model(path, params, impl.get()));
  } else {
    if (params.tokenizer_path.empty()) {
      return invalid_argument(path + ": a llama2.c checkpoint needs its tokenizer: pass -z tokenizer.bin");
    }
    MNEMO_RETURN_IF_ERROR(load_llama2c_model(path, params, impl.get()));
  }
  const std::string tok_path = params.tokenizer_path.empty() ? path : params.tokenizer_path;
  MNEMO_ASSIGN_OR_RETURN(impl->tokenizer, Tokenizer::load(tok_path));
  if (impl->tokenizer->n_vocab() != impl->model->config().n_vocab) {
    return corrupt(str_printf("%s: expected a vocabulary of %lld tokens (the model's), found %d", tok_path.c_str(),
                              static_cast<long long>(impl->model->config().n_vocab), impl->tokenizer->n_vocab()));
  }
  if (params.use_mlock) {
    const FileBytes& fb = impl->file();
    if (fb.size() > 0 && mlock(fb.data(), fb.size()) != 0) {
      return resource_exhausted(path + ": cannot lock " + format_bytes(fb.size()) + " in RAM (mlock: " +
                                std::strerror(errno) + "; raise `ulimit -l`)");
    }
    impl->locked = true;
  }
  impl->info.weight_type = dominant_weight_type(impl->info);
  impl->info.fingerprint = file_fingerprint(impl->file().bytes());
  MNEMO_RETURN_IF_ERROR(lease_loaded_model(impl.get(), params, anon_before));
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const ModelInfo& Model::info() const { return impl_->info; }
const Tokenizer& Model::tokenizer() const { return *impl_->tokenizer; }

ModelMemory Model::memory() const {
  ModelMemory m;
  const FileBytes& fb = impl_->file();
  m.weight_bytes = impl_->info.weight_bytes;
  m.mapped_bytes = fb.is_mapped() ? fb.size() : 0;
  m.resident_bytes = fb.resident_bytes();
  m.locked = impl_->locked;
  m.leased_bytes = impl_->weights_lease.bytes() + impl_->metadata_lease.bytes();
  return m;
}

Engine& Model::engine() const { return *impl_->engine; }
const std::shared_ptr<Engine>& Model::engine_ptr() const { return impl_->engine; }

}  // namespace mnemo
