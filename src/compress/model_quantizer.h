// compress/model_quantizer.h: a whole model to a quantized GGUF (the engine of
// mnemo::quantize_model, include/mnemo/quantize.h; the runtime hands it a loaded model).
//
// Per 2-D weight the type is chosen as follows (1-D tensors are copied):
//   llama.cpp types: llama-quantize's rules for that file type (llama_tensor_get_type at c392e50:
//     output.weight, or token_embd.weight when the output is tied, gets q6_k, or q8_0 when its rows
//     are not a multiple of the requested type's block; for q4_k (Q4_K_M) attn_v and ffn_down get
//     q6_k in the layers use_more_bits() picks; everything else the requested type).
//   mnemo types: blk.* weights the requested type; token_embd and output q8_0.
//   --embd-type / --output-type override the embedding's and output's types.
// Then a row length the type cannot hold falls back: q4_k -> q5_0, q6_k -> q8_0 (llama.cpp's
// chain), and f16 when that does not fit either (llama.cpp stops with an error for q4_0/q5_0/q8_0;
// mnemo writes f16). Every fallback is counted and noted.
#pragma once

#include <string>

#include "formats/gguf.h"
#include "mnemo/quantize.h"
#include "mnemo/tokenizer.h"
#include "model/config.h"
#include "model/weights.h"

namespace mnemo::compress {

struct SourceModel {
  const gguf::GgufFile* file = nullptr;  // metadata and every tensor, in file order
  LlamaConfig config;
  LlamaWeights weights;                  // views into `file` (norms as f32)
  const Tokenizer* tokenizer = nullptr;
};

// A parsed --type (with --group).
struct TypeSpec {
  std::string name;    // CLI name: "q4_0", "bitmod4", "bipolar:3"
  DType dtype = DType::F32;
  bool ggml = true;    // llama.cpp's own type
  int group = 0;       // group types: 32, 64 or 128
  int ftype = -1;      // llama.cpp file type id (general.file_type), -1 for mnemo types
};

// Parses type and group against a model whose embedding width is n_embd (the row length of most
// weights): unknown types, a group size for a type without one, and a group size (or bipolar's 64)
// that does not divide n_embd are errors (kInvalidArgument) that name the sizes that would.
Expected<TypeSpec> parse_type(const std::string& type, int group, int64_t n_embd);

Status quantize_source(const SourceModel& src, const QuantizeParams& params, QuantizeReport* report,
                       const ProgressFn& progress);

}  // namespace mnemo::compress
