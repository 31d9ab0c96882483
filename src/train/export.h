// train/export.h: from the trainer's fp32 parameters to what inference uses: GGUF files (the
// llama keys and tensor names of runtime/load_gguf.cc, the vocabulary as llama.cpp's converter
// writes it) and in-memory LlamaModel views (for samples during training, and tests).
#pragma once

#include <memory>
#include <string>

#include "mnemo/model.h"
#include "mnemo/status.h"
#include "mnemo/tokenizer.h"
#include "model/llama.h"
#include "train/params.h"

namespace mnemo::train {

struct ExportParams {
  std::string path;
  std::string name;            // general.name
  bool f16 = true;             // matrices (and the embedding) as F16; norms stay F32
  std::string vocab_path;      // a GGUF (its tokenizer.* keys are copied) or a tokenizer.bin
  const Tokenizer* tokenizer;  // loaded from vocab_path (used for tokenizer.bin)
};

// Writes the model atomically.
Status export_gguf(const ExportParams& p, const TrainShape& s, const ParamLayout& layout, const float* params);

// The hyperparameters and F32 views of params as model/llama.h takes them; params must outlive
// the model.
LlamaConfig llama_config(const TrainShape& s);
Expected<std::shared_ptr<const LlamaModel>> inference_model(const TrainShape& s, const ParamLayout& layout,
                                                            const float* params);

// A loaded model as a training start: its shape (kUnsupported for what training does not model:
// qwen2, biases, partial or scaled RoPE), and its weights dequantized into params.
Expected<TrainShape> shape_of(const Model& model);
Status load_weights(const Model& model, const ParamLayout& layout, float* params);

}  // namespace mnemo::train
