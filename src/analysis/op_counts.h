// analysis/op_counts.h: FLOPs and bytes of every operation of one forward pass of a llama-family
// model (the counting half of the roofline cost model, include/mnemo/roofline.h; no device here).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/model.h"
#include "mnemo/roofline.h"
#include "mnemo/status.h"

namespace mnemo::analysis {

// A weight matrix: y (m) = W x (n), stored as `type` in `bytes` bytes.
struct Matrix {
  std::string type;
  int64_t n = 0, m = 0;
  double bytes = 0;
};

struct Layer {
  Matrix q, k, v, o, gate, up, down;
  double attn_norm_bytes = 0, ffn_norm_bytes = 0;
  double q_bias_bytes = 0, k_bias_bytes = 0, v_bias_bytes = 0;  // Qwen2's q/k/v biases, 0 when absent
};

// What the counts need of a model, read from its ModelInfo.
struct Shapes {
  int64_t d = 0, dq = 0, dkv = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_rot = 0, n_vocab = 0;
  std::vector<Layer> layers;
  Matrix embd;    // token_embd: a lookup of rows
  Matrix output;  // the head (token_embd itself when tied)
  double output_norm_bytes = 0;
};

// Errors (corrupt, naming the model file): a missing tensor or a non-positive dimension.
Expected<Shapes> read_shapes(const ModelInfo& info);

// One forward pass: T new tokens in each of S sequences after L0 cached positions; the head for
// n_out rows (0: skipped, as for all but the last prefill chunk).
struct Pass {
  int64_t T = 1, S = 1, L0 = 0, n_out = 1;
  double kv_bytes = 4;
};

// An operation of the pass with its FLOPs and bytes (OpCost's counting fields, summed over the
// layers it occurs in), and the batch its compute roof is looked up at.
struct PassOp {
  OpCost cost;
  int64_t batch = 1;
  bool weight_stream = false;  // a matrix product: its memory roof is its weight type's streaming rate
};

// The pass's operations in forward order; a layer operation appears once per (name, kind), its
// count the layers it covers. `ops` is cleared first (kept as a buffer across passes).
void count_pass(const Shapes& shapes, const Pass& pass, std::vector<PassOp>& ops);

}  // namespace mnemo::analysis
