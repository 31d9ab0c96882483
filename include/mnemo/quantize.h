// mnemo/quantize.h: writing quantized models, and measuring what quantization costs.
//
// quantize_model() reads any model Model::load reads (GGUF with F32/F16/BF16 weights, or a
// llama2.c checkpoint with its tokenizer) and writes a GGUF whose 2-D weights are in one of:
//   - llama.cpp's types q8_0, q4_0, q5_0, q4_k, q6_k (and f16, bf16, f32), byte-identical to
//     llama-quantize's reference quantizers and with its choice of type per tensor (q4_k means
//     llama.cpp's Q4_K_M mix); llama.cpp loads these files.
//   - mnemo's own group types int4-sym, int4-asym, fp4, bitmod4, int3-sym, int3-asym, fp3, bitmod3
//     with an f16 scale per group of 32, 64 or 128 weights, and bipolar:W (W = 1..8). Files holding
//     them are mnemo-only (type ids >= 100; llama.cpp refuses them). token_embd and output get
//     q8_0 unless chosen otherwise.
// A tensor whose rows a type cannot hold falls back to a wider type (llama.cpp's rule: q4_k -> q5_0,
// q6_k -> q8_0, then f16; mnemo's types and the 32-blocks -> f16); each fallback is reported.
// With a calibration text, weights that follow an RMSNorm (q/k/v, gate/up) are first scaled per
// input channel (activation-aware, AWQ: Lin et al., MLSys 2024) and the inverse scale is folded
// into the norm, so the model computes the same function before rounding.
// Everything is checked before anything is written; the output appears atomically.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/convert.h"  // ProgressFn
#include "mnemo/status.h"

namespace mnemo {

struct QuantizeParams {
  std::string input;        // GGUF or llama2.c checkpoint
  std::string tokenizer;    // tokenizer.bin, required for llama2.c checkpoints
  std::string output;       // GGUF path
  std::string type;         // see quantize_type_names(); also "bitmod4_g64"-style full names
  int group = 0;            // 32, 64 or 128 for the group types; 0: the largest dividing n_embd
  std::string embd_type;    // token_embd.weight's type ("" = the default policy above)
  std::string output_type;  // output.weight's type ("" = the default policy above)
  std::string calib_file;   // activation-aware scaling from this text ("" = none)
  int64_t calib_tokens = 8192;  // tokens of the calibration text used (at least 1024 required)
  int64_t calib_ctx = 128;      // positions per calibration chunk
  int n_threads = 0;            // 0 = all CPUs
};

struct TensorQuantReport {
  std::string name;
  std::vector<int64_t> shape;
  std::string type;        // as written ("bitmod4_g64", "q8_0", "f32", ...)
  std::string role;        // "method" (the requested type), "fallback", "embd", "output", "copy"
  uint64_t bytes = 0;
  double mse = 0;          // mean squared error of the weights as the file holds them (0 for copies)
  double mean_sq = 0;      // mean square of the original weights (for relative error)
  double awq_alpha = -1;   // the activation-aware exponent chosen for this tensor's group; -1: none
};

struct QuantizeReport {
  std::string type;          // the requested type's file name (e.g. "bitmod4_g64")
  int group = 0;             // group size used (0 when not a group type)
  std::vector<TensorQuantReport> tensors;
  int n_method = 0, n_fallback = 0, n_other = 0, n_copied = 0;
  uint64_t method_elements = 0, method_bytes = 0;  // tensors in the requested type
  double method_mse = 0;     // mean squared error over their weights
  uint64_t weight_elements = 0, weight_bytes = 0;  // every 2-D weight
  uint64_t file_bytes = 0;
  std::vector<std::string> notes;  // fallbacks and other decisions, one line each
  double method_bpw() const { return method_elements ? 8.0 * static_cast<double>(method_bytes) / static_cast<double>(method_elements) : 0; }
  double weight_bpw() const { return weight_elements ? 8.0 * static_cast<double>(weight_bytes) / static_cast<double>(weight_elements) : 0; }
};

// Quantizes params.input into params.output. `progress` gets (weights done, weights total).
Status quantize_model(const QuantizeParams& params, QuantizeReport* report = nullptr,
                      const ProgressFn& progress = {});

// One line of what a quantization did, as `mnemo quantize` prints it: how many weights took the
// requested type (with their bits/weight and weight MSE, only when there are any), how many fell
// back and to which types (rows not a multiple of the type's block), the types llama.cpp's mix
// rule, the embedding and the output took, then the totals. Never "0 tensors ... MSE 0".
std::string quantize_summary(const QuantizeReport& report);

// The type names --type accepts: "q8_0", ..., "bitmod3", "bipolar:1" ... "bipolar:8".
std::vector<std::string> quantize_type_names();
// The group types (those that take --group).
std::vector<std::string> group_type_names();

// Whether a stored type name (as Model info prints it) is one of mnemo's own types, which only
// mnemo reads.
bool is_mnemo_only_type(std::string_view stored_type_name);

// Speed of the decode kernel (one token) of a type on a random n x m matrix: the median of
// `reps` timed runs after one warm-up, on n_threads threads. Bipolar types use `act_bits`.
struct KernelTiming {
  std::string type;       // stored type name
  double seconds = 0;     // per matrix-vector product
  double gbytes_per_s = 0;  // weight bytes read per second
  double bpw = 0;
};
Expected<KernelTiming> time_decode_kernel(const std::string& type, int group, int64_t n, int64_t m, int n_threads,
                                          int reps = 20, int act_bits = 8);

// Writes `contents` to `path` atomically (temporary file, fsync, rename), for the tools' reports
// and plots.
Status write_file_atomically(const std::string& path, const std::string& contents);

}  // namespace mnemo
