// train/graph.h: the llama forward pass with saved activations, the cross-entropy loss, and the
// hand-written backward pass (fp32, in the manner of llm.c's train_gpt2.c), for B sequences of T
// tokens. Shapes of the model are in train/params.h; model/llama.h has the equations.
//
// Forward, per layer (N = B T tokens, row-major (N, width) activations):
//   xn1 = RMSNorm(x) a            qkv = xn1 Wqkv^T, then RoPE on q and k (position t mod T)
//   att = softmax(q k^T / sqrt(hd), causal) v  per head (GQA: head h reads KV head h / (H / H_kv))
//   xm  = x + att Wo^T            xn2 = RMSNorm(xm) f
//   gu  = xn2 [Wgate; Wup]^T      act = silu(g) * u         x' = xm + act Wdown^T
// then logits = RMSNorm(x_L) o Wout^T and loss = mean_t (logsumexp(logits_t) - logits_t[target_t]).
//
// Attention saves only each row's log-sum-exp and recomputes the probabilities in the backward
// pass (FlashAttention's recomputation, Dao et al. 2022): the (T, T) matrices never outlive one
// 64-query tile, so activation memory is linear in T.
//
// Threads: every phase is split statically over the pool (rows of tokens, rows of weight
// gradients, columns of norm-weight gradients, (sequence, head) pairs of attention), so results
// are bit-identical for a given thread count. Nothing is allocated after construction.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "train/buffer.h"
#include "train/params.h"

namespace mnemo::train {

// Floats a TrainGraph allocates, by purpose (the memory estimator's activation figures).
struct GraphSizes {
  int64_t saved = 0;     // activations kept for the backward pass, all layers plus the head
  int64_t logits = 0;    // (N, n_vocab) logits, overwritten by their gradient
  int64_t backward = 0;  // gradient buffers of one layer, reused by every layer
  int64_t scratch = 0;   // per-thread attention tiles and row buffers, all threads
  int64_t tables = 0;    // RoPE tables, per-token losses
  int64_t total() const { return saved + logits + backward + scratch + tables; }
};
GraphSizes graph_sizes(const TrainShape& s, int64_t B, int64_t T, int n_threads);

// Where backward() puts gradients. It asks for one range of the parameter layout at a time, in
// backward order (the head's [output_norm, end) or, tied, just output_norm; layers L-1 .. 0, each
// [attn_norm(l), attn_norm(l+1)); the token embedding [0, n_vocab d), opened first when tied
// because the head writes into it), adds into it, and closes it once final. The default keeps
// one full gradient buffer; ZeRO-2 (train/zero.h) reduce-scatters each closed range as a bucket.
class GradSink {
 public:
  virtual ~GradSink() = default;
  // Floats for layout elements [begin, end), holding what was there (backward adds).
  virtual float* open(int64_t begin, int64_t end) = 0;
  // Elements [begin, end) are final for this backward pass.
  virtual void close(int64_t begin, int64_t end) = 0;
};

// Where forward() and backward() read parameters: one range of the layout at a time, the same
// ranges as GradSink's (the embedding, each layer, the head; when tied, the head's output_norm
// and the embedding are held together). The default is one full buffer; ZeRO-3 (train/zero.h)
// all-gathers each range before use and drops it after.
class ParamSource {
 public:
  virtual ~ParamSource() = default;
  // Floats of layout elements [begin, end), valid until release(begin, end).
  virtual const float* acquire(int64_t begin, int64_t end) = 0;
  virtual void release(int64_t begin, int64_t end) = 0;
};

// Queries per attention tile.
constexpr int64_t kAttnTile = 64;

class TrainGraph {
 public:
  TrainGraph(const TrainShape& s, const ParamLayout& layout, int64_t B, int64_t T, ThreadPool* pool);

  // Runs the forward pass on B rows: row b's inputs are inputs[b*T .. b*T+T) and its targets
  // targets[b*T .. b*T+T) (the ids must be below n_vocab). Returns the mean loss over the B*T
  // tokens. With grad_scale != 0 the logits are replaced by grad_scale * d(sum of losses)/d(logits)
  // (grad_scale = 1 / tokens per optimizer step), ready for backward(); with 0 they are kept.
  double forward(const float* params, const int32_t* inputs, const int32_t* targets, float grad_scale);
  double forward(ParamSource& params, const int32_t* inputs, const int32_t* targets, float grad_scale);
  // Adds the gradients of the last forward(grad_scale != 0) into grads (the parameter layout).
  void backward(const float* params, float* grads);
  // The same, range by range through params and sink.
  void backward(ParamSource& params, GradSink& sink);

  const float* logits() const { return logits_.data(); }  // (B*T, n_vocab), after forward(.., 0)
  const float* token_losses() const { return losses_.data(); }  // (B*T)
  int64_t B() const { return B_; }
  int64_t T() const { return T_; }
  uint64_t bytes() const;

 private:
  struct LayerActs {
    float *x, *rms1, *xn1, *qkv, *att, *lse, *xm, *rms2, *xn2, *gu, *act;
  };
  void rmsnorm_forward(const float* x, const float* w, float* rms, float* y);
  void rmsnorm_backward(const float* x, const float* w, const float* rms, const float* dy, float* dx, float* dw);
  void rope(float* qkv, const float* table);
  void attention_forward(const float* qkv, float* att, float* lse);
  void attention_backward(const float* qkv, const float* att, const float* lse, const float* datt, float* dqkv);

  TrainShape s_;
  ParamLayout layout_;
  int64_t B_, T_, N_;
  int64_t dqkv_;  // width of a fused q|k|v row
  ThreadPool* pool_;
  std::vector<LayerActs> acts_;
  FloatBuffer saved_;
  float *x_final_ = nullptr, *rms_final_ = nullptr, *xn_final_ = nullptr;
  const int32_t* inputs_ = nullptr;
  FloatBuffer logits_;
  FloatBuffer dx_, dxn_, dbig_, dgu_, datt_;  // dbig_: d(act) then d(qkv)
  FloatBuffer scratch_;  // per thread: attention tiles (2 kAttnTile T + T) or a row of max(V, d)
  int64_t scratch_per_thread_ = 0;
  FloatBuffer rope_fwd_, rope_bwd_;  // (T, hd): cos | sin, and cos | -sin
  FloatBuffer losses_;
};

// FLOPs of one forward+backward over B sequences of T tokens counted the usual way: 6 per
// matrix parameter per token, plus 3x the causal attention forward (4 hd per (query, key) pair);
// the attention recomputation in the backward pass is not counted.
double train_flops_per_step(const TrainShape& s, int64_t B, int64_t T);

}  // namespace mnemo::train
