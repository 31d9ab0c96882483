// runtime/model_impl.h: what a loaded Model holds (internal to the runtime layer).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "mnemo/engine.h"
#include "mnemo/model.h"
#include "model/llama.h"
#include "plan/budget.h"
#include "tensor/tensor.h"

namespace mnemo {

struct Model::Impl {
  std::shared_ptr<Engine> engine;
  Lease weights_lease;   // what the weights will hold resident
  Lease metadata_lease;  // vocabulary, converted tensors: measured while loading
  // Exactly one of these owns the file bytes the weights point into.
  std::unique_ptr<gguf::GgufFile> gguf;
  std::unique_ptr<llama2c::Checkpoint> checkpoint;
  // Small tensors the loader had to convert (e.g. F16 norm vectors to F32).
  std::vector<TensorStorage> owned;
  std::shared_ptr<const LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  ModelInfo info;
  bool locked = false;

  const FileBytes& file() const { return gguf ? gguf->file() : checkpoint->file(); }
};

// Loaders: fill config and weights from a file. `owned` receives any converted tensors.
Status load_gguf_model(const std::string& path, const ModelParams& params, Model::Impl* impl);
Status load_llama2c_model(const std::string& path, const ModelParams& params, Model::Impl* impl);

// Fills impl->info from impl->model (shapes, bytes by class and type).
void describe_model(Model::Impl* impl, const std::string& path, const std::string& format, const std::string& name);

}  // namespace mnemo
