// mnemo/model.h: loading a model file.
//
// A Model is the weights (mapped from the file by default, never converted at load), the
// hyperparameters and the tokenizer. It is immutable after load and may be shared by any number
// of Contexts, on any threads.
//
// Supported files: GGUF v2/v3 (architectures llama and qwen2; tensor types F32, F16, BF16, Q8_0,
// Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K) and llama2.c checkpoints (.bin, with a tokenizer.bin).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/status.h"
#include "mnemo/tokenizer.h"

namespace mnemo {

class Engine;

struct ModelParams {
  // The engine whose budget the model's memory is counted against, and whose threads its contexts
  // run on; null: a new engine with the default budget and all CPUs, owned by the model.
  std::shared_ptr<Engine> engine;
  bool use_mmap = true;        // false: read the file into memory (--no-mmap)
  bool use_mlock = false;      // pin the weights in RAM (--mlock)
  std::string tokenizer_path;  // required for llama2.c checkpoints; overrides a GGUF's vocabulary
};

struct TensorSummary {
  std::string name;
  std::string type;             // "f32", "q4_0", ...
  std::vector<int64_t> shape;   // ggml order: shape[0] is the row length
  uint64_t bytes = 0;
};

struct ModelInfo {
  std::string path;
  std::string format;  // "gguf v3", "llama2.c"
  std::string arch;    // "llama", "qwen2"
  std::string name;    // general.name when present
  std::string chat_template;  // tokenizer.chat_template (Jinja; mnemo/chat.h) when present
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int64_t n_ctx_train = 0;
  int64_t n_rot = 0;
  float rope_freq_base = 0, rope_freq_scale = 1;
  std::string rope_style;  // "normal" or "neox"
  bool rope_freq_factors = false;  // per-pair frequency factors (rope_freqs.weight, Llama 3.1+)
  float rms_eps = 0;
  bool tied_output = false;
  bool qkv_bias = false;
  uint64_t n_params = 0;
  uint64_t file_bytes = 0;
  // Identifies the file's bytes for saved sessions (Context::save_sequence): SHA-256, as 64 hex
  // characters, of its size, its first MiB (header, metadata, tensor table), its last 64 KiB and
  // 4 KiB at 64 evenly spaced offsets. Cheap at load (about 1.3 MiB read) and different for another
  // model, quantization or fine-tune; not a checksum of every weight.
  std::string fingerprint;
  uint64_t weight_bytes = 0;
  std::string weight_type;  // the type holding most bytes of the layers' matrices ("q4_0", "f16")
  std::map<std::string, uint64_t> bytes_by_class;  // "token_embd", "attention", "ffn", "norm", "output", "rope"
  std::map<std::string, uint64_t> bytes_by_type;   // "f32", "q4_0", ...
  std::vector<TensorSummary> tensors;
};

struct ModelMemory {
  uint64_t weight_bytes = 0;      // bytes of weights as stored
  uint64_t mapped_bytes = 0;      // bytes of the file mapping (0 with --no-mmap)
  uint64_t resident_bytes = 0;    // of the mapping or buffer, resident in RAM now
  uint64_t leased_bytes = 0;      // counted against the engine's budget (weights and metadata)
  bool locked = false;
};

class Model {
 public:
  static Expected<std::unique_ptr<Model>> load(const std::string& path, const ModelParams& params = {});
  ~Model();

  const ModelInfo& info() const;
  const Tokenizer& tokenizer() const;
  ModelMemory memory() const;
  Engine& engine() const;
  const std::shared_ptr<Engine>& engine_ptr() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo
