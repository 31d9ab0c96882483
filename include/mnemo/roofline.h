// mnemo/roofline.h: a per-layer roofline cost model of inference (LLM-Viewer).
//
// Method: Yuan et al., "LLM Inference Unveiled: Survey and Roofline Model Insights" (arXiv
// 2402.16363), section 2 and its tool LLM-Viewer. Every operation of a forward pass is given its
// operations (FLOPs) and its memory traffic (weights in their stored type, activations read and
// written, KV cache read and written); its arithmetic intensity I = ops / bytes against the
// device's ridge point compute / bandwidth says whether it is memory- or compute-bound, and its
// time is max(ops / compute, bytes / bandwidth). A stage's time is the sum over its operations.
//
// What is modelled is mnemo's forward pass (src/model/llama.cc): f32 activations, weights read in
// their stored type, K and V written into a cache of kv_bytes_per_value bytes per value, attention
// fused with an online softmax (scores never leave registers), the output head evaluated for the
// last token of each forward pass only (all of them with logits_all). Conventions for the counts,
// per element: RMSNorm 4 ops (square, sum, scale, weight), RoPE 3 per rotated element (a pair is 4
// multiplies and 2 adds), softmax 5 per score (max, subtract, exp, sum, scale: LLM-Viewer's), SwiGLU 5
// (negate, exp, add, divide, multiply), a residual add 1; a matrix product 2 per multiply-add.
// Differences from LLM-Viewer: its mlp_act uses the hidden size and its lm_head lacks the 2x (the
// brief's "bugs"); both are counted correctly here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/hw_profile.h"
#include "mnemo/model.h"
#include "mnemo/status.h"

namespace mnemo {

enum class Stage { kPrefill, kDecode };
const char* stage_name(Stage stage);  // "prefill", "decode"

struct RooflineRequest {
  Stage stage = Stage::kDecode;
  int64_t n_tokens = 128;        // prefill: prompt tokens; decode: tokens generated, one per step
  int64_t n_ctx = 0;             // positions already in the cache when the stage starts
  int64_t n_batch = 512;         // prefill: tokens per forward pass (the prompt is cut in chunks)
  int64_t n_seq = 1;             // sequences evaluated together (LLM-Viewer's batch size)
  int n_threads = 1;
  double kv_bytes_per_value = 4;  // bytes per cached K or V value (4: F32, 2: F16, 1.0625: Q8_0;
                                  // from kv_cache_types() or ContextMemory::kv_bytes_per_value)
  bool logits_all = false;  // output head for every token, not only each pass's last
};

// One operation of the forward pass, summed over the stage (every step, and every layer for the
// layer operations).
struct OpCost {
  std::string name;      // "q_proj", "qk", ..., "token_embd", "lm_head"
  std::string kind;      // the compute kind whose roof applies (a weight type, "attention", "vector")
  bool per_layer = true; // a layer operation (totals over its layers) or once per forward pass
  int64_t count = 1;     // instances per forward pass: the layers it occurs in, or 1
  double flops = 0;
  double weight_bytes = 0;
  double act_read_bytes = 0;
  double act_write_bytes = 0;
  double kv_read_bytes = 0;
  double kv_write_bytes = 0;
  double compute_seconds = 0;  // sum over steps of flops / compute roof
  double memory_seconds = 0;   // sum over steps of bytes / bandwidth
  double seconds = 0;          // sum over steps of max(compute, memory)
  double gflop_s_roof = 0;     // compute roof of the stage's first step
  double gb_s_roof = 0;        // memory roof: the weight type's streaming rate for matrix products,
                               // the general bandwidth otherwise
  double bytes() const { return weight_bytes + act_read_bytes + act_write_bytes + kv_read_bytes + kv_write_bytes; }
  double intensity() const;    // flops per byte (0 when it moves no bytes)
  // Memory-bound when the memory time exceeds the compute time: at the ridge exactly, compute-bound
  // (LLM-Viewer's convention).
  bool memory_bound() const { return memory_seconds > compute_seconds; }
};

struct StageCost {
  RooflineRequest request;
  std::string profile;
  int64_t n_layer = 0;
  double bandwidth_gb_s = 0;   // the general memory roof (weight products may have their own)
  std::vector<OpCost> ops;     // in forward order: token_embd, the layer operations, output_norm, lm_head
  double flops = 0, bytes = 0, seconds = 0;
  double tokens_per_s = 0;     // n_tokens * n_seq / seconds
  double layer_seconds() const;  // the layer operations' share of `seconds`, per layer
};

// FLOPs and bytes of every operation of the stage, without a device (the roofs and times stay 0).
// Errors: a non-positive size, a model without the tensors of a llama-family layer.
Expected<StageCost> count_stage(const ModelInfo& info, const RooflineRequest& request);

// count_stage, then the roofs and times on `profile`. Errors: as count_stage, and a compute kind
// the profile does not cover.
Expected<StageCost> analyze_stage(const HardwareProfile& profile, const ModelInfo& info, const RooflineRequest& request);

// What the planner calls: the predicted time of a stage and its tokens per second.
struct Prediction {
  double seconds = 0;
  double tokens_per_s = 0;
};
Expected<Prediction> predict(const HardwareProfile& profile, const ModelInfo& info, const RooflineRequest& request);
// The same for the common case: one sequence, prefill in one pass of n_tokens (or decode of n_tokens
// steps) after n_ctx cached positions, an F32 KV cache (RooflineRequest's default).
Expected<Prediction> predict(const HardwareProfile& profile, const ModelInfo& info, Stage stage, int64_t n_tokens,
                             int64_t n_ctx, int n_threads);

// The smallest number of tokens per forward pass, in [1, max_batch], at which every matrix product
// of the layers is compute-bound on `profile` (ops / compute >= bytes / bandwidth): the batch
// beyond which a larger prefill pass no longer saves time per token. 0 when none up to max_batch
// is. (Found by a scan in steps of 1/16 and bisection, exact where compute-boundness does not flip
// back and forth within a step.) Errors: as analyze_stage.
Expected<int64_t> prefill_ridge_batch(const HardwareProfile& profile, const ModelInfo& info, int n_threads,
                                      int64_t max_batch = 4096);

// Reports. JSON: the stages with every operation and the totals. SVG: a log-log roofline plot
// (arithmetic intensity against attainable GFLOP/s) with the bandwidth roof, the compute roofs of
// the kinds in use and every operation of every stage as a point.
std::string roofline_json(const HardwareProfile& profile, const ModelInfo& info, const std::vector<StageCost>& stages);
std::string roofline_svg(const HardwareProfile& profile, const ModelInfo& info, const std::vector<StageCost>& stages);

}  // namespace mnemo
