// train/zero.h: data parallelism and ZeRO stages 0-2 (Rajbhandari et al., "ZeRO: Memory
// Optimizations Toward Training Trillion Parameter Models", SC'20) over train/comm.h.
//
// The flat fp32 buffer of train/params.h (n floats) is padded to n_pad = N S with S = ceil(n / N);
// rank r owns elements [r S, (r+1) S) (the padding is zero and never updated). Per step:
//   stage 0 (plain DP): full gradients, MPI_Allreduce, mean; every rank runs the full optimizer
//            (AdamW or GaLore). Model states 4P + 4P + 8P = 16P bytes per rank.
//   stage 1 (P_os):    full gradients; reduce-scattered (MPI_Reduce_scatter, in chunks of one
//            bucket), mean; AdamW on the owned shard with m, v of S floats; MPI_Allgather of the
//            parameters. 4P + 4P + 8P/N.
// Every collective on a range goes in chunks of kCommChunk floats (and stages 1-2 gather the
// parameters with MPI_Allgatherv chunk by chunk), so that the MPI library's own temporaries stay
// small: OpenMPI 4.1 allocates message-sized temporaries (a 4P-byte all-reduce costs 4P more).
//   stage 2 (P_os+g):  as stage 1, but backward (TrainGraph via GradSink) hands each layer's
//            gradients over as a bucket when they are final; the bucket is reduce-scattered
//            (MPI_Reduce_scatter, uneven blocks) at once, the owned part added to a gradient shard
//            of S floats and the rest dropped: 4P + 4P/N + 8P/N = 4P + 12P/N, plus two buckets
//            (the largest layer, and the token embedding when the head is tied to it).
//   stage 3 (P_os+g+p): as stage 2, and the parameters live only as shards: forward and backward
//            (TrainGraph via ParamSource) all-gather each range (MPI_Allgatherv) right before use
//            and drop it after (no prefetch: the gather is not overlapped), so no all-gather
//            follows the update. 16P/N, plus gather buffers the size of the buckets.
//            Sent per step: (N-1)/N 4 (gathered in forward + in backward + P reduce-scatter): with
//            an untied head 3P - E (backward does not read the embedding, E its size), slightly
//            under 1.5x stage 0's bytes; with a tied head 3P + E (forward reads the embedding at
//            the input and again at the head, backward at the head).
// Gradient clipping (torch's clip_grad_norm_) sums squares over the owned shard and all-reduces
// the sum. Bytes sent per rank per step (comm.h's ring formulas): 2 (N-1)/N 4P for every stage
// (stage 0 all-reduce; stages 1-2 reduce-scatter + all-gather), plus 16 (N-1)/N for the norm.
// Checkpoints hold the full (unsharded) optimizer state: shards are gathered into temporary full
// buffers to save and sliced out on load, so a checkpoint reads back on any rank count.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "mnemo/status.h"
#include "train/buffer.h"
#include "train/checkpoint.h"
#include "train/comm.h"
#include "train/graph.h"
#include "train/optimizer.h"
#include "train/params.h"

namespace mnemo::train {

inline constexpr int kMaxZeroStage = 3;
inline constexpr int64_t kCommChunk = 1 << 20;  // floats per collective call (4 MiB)

// Model-state bytes per rank (parameters + gradients + fp32 AdamW moments) by the formulas above,
// for n parameters over `ranks` ranks (shards of ceil(n / ranks) floats).
struct ZeroStateBytes {
  uint64_t parameters = 0, gradients = 0, optimizer = 0;
  uint64_t total() const { return parameters + gradients + optimizer; }
};
ZeroStateBytes zero_state_bytes(int stage, int64_t n, int ranks);

// Stage 2's bucket buffers, in floats: one for the largest range backward hands over (a layer,
// the head, or the untied embedding) and, when the head is tied, one for the embedding.
struct ZeroBuckets {
  int64_t main = 0, embedding = 0;
  uint64_t bytes() const { return 4 * static_cast<uint64_t>(main + embedding); }
};
ZeroBuckets zero_buckets(const ParamLayout& layout);

// "zero_stage: expected 0..2" and friends; subject names the config.
Status validate_zero(int stage, int ranks, const OptimizerSettings& o, const std::string& subject);

class ZeroEngine {
 public:
  static Expected<std::unique_ptr<ZeroEngine>> create(Comm& comm, int stage, const OptimizerSettings& o,
                                                      const ParamLayout& layout, int n_threads,
                                                      const std::string& subject);
  ~ZeroEngine();

  // Stages 0-2: the full parameters (n_pad floats). Stage 3: this rank's shard (S floats).
  float* params() { return params_.data(); }
  // Where forward and backward read the parameters.
  ParamSource& source();
  // The full parameters: stages 0-2 params(); stage 3 gathers them into scratch (a collective).
  const float* full_params(FloatBuffer& scratch);
  // Stage 3: keeps this rank's shard of a full (n floats) parameter buffer.
  void set_from_full(const float* full);
  // Starts a step: the gradient accumulators become zero.
  void begin_step();
  // Where TrainGraph::backward puts the gradients of each micro-batch.
  GradSink& sink();
  // Reduces the gradients over the ranks (mean), clips, updates and gathers the parameters.
  // Returns the global gradient norm before clipping.
  Expected<double> finish_step(float lr, ThreadPool& pool);

  int stage() const { return stage_; }
  int rank() const { return comm_.rank(); }
  int64_t own_begin() const { return own0_; }  // the real elements this rank owns: [own_begin, own_end)
  int64_t own_end() const { return own1_; }
  int64_t shard() const { return S_; }
  ZeroStateBytes allocated() const;        // what this rank holds, by class
  uint64_t bucket_bytes() const;           // stage 2-3's bucket buffers, stage 3's gather buffers
  uint64_t optimizer_workspace_bytes() const;
  int64_t steps_taken() const;
  void set_steps_taken(int64_t t);
  // The optimizer's full (unsharded) state tensors: names and sizes; data set only at stage 0.
  std::vector<StateTensor> full_state_shape() const;
  // Gathers the full optimizer state (a collective: every rank calls it) and, on rank 0, writes
  // the checkpoint.
  Status save(const std::string& path, const CheckpointMeta& meta);
  // True when this rank's live buffers hold the full state (stage 0, or one rank): then
  // with_full_state hands them over without copies, and they stay valid until the next step.
  bool state_is_local() const { return full_opt_ != nullptr || comm_.size() == 1; }
  // Calls f(params, state) on rank 0 with the full parameters (n floats) and optimizer state:
  // the live buffers when state_is_local, else gathered into temporaries that live during the
  // call (a collective: every rank calls it; f runs on rank 0 only).
  using FullStateFn = std::function<Status(const float*, const std::vector<StateTensor>&)>;
  Status with_full_state(const FullStateFn& f);
  // Reads parameters and the full state, keeping this rank's shard of it.
  Status load(const std::string& path, const CheckpointMeta& meta);

 private:
  ZeroEngine(Comm& comm, int stage, const ParamLayout& layout);
  Status init_optimizer(const OptimizerSettings& o, int n_threads, const std::string& subject);
  // Clips (the norm all-reduced) and updates the owned elements; g: their gradients, clipped in place.
  Expected<double> sharded_adamw(float* g, float lr, ThreadPool& pool);
  // How layout elements [a, b) split over the ranks' shards (MPI counts, in rank order).
  std::vector<int> block_counts(int64_t a, int64_t b) const;
  // Reduce-scatters buf (layout elements [begin, end)) chunk by chunk; take(first element, sums,
  // count) receives this rank's sums of each chunk.
  void reduce_scatter_range(float* buf, int64_t begin, int64_t end,
                            const std::function<void(int64_t, const float*, int64_t)>& take);
  // All-gathers buf (layout elements [begin, end), this rank's part in place) chunk by chunk.
  void all_gather_range(float* buf, int64_t begin, int64_t end);

  class BucketSink;
  class GatherSource;
  Comm& comm_;
  int stage_;
  ParamLayout layout_;
  OptimizerSettings o_;
  int64_t n_, n_pad_, S_, own0_, own1_;  // own1_: end of the owned real elements (<= (r+1) S)
  FloatBuffer params_, grads_;           // grads_: n_pad (stages 0-1) or S (stage 2)
  std::unique_ptr<Optimizer> full_opt_;  // stage 0
  FloatBuffer m_, v_;                    // stages 1-2: S floats each
  int64_t t_ = 0;
  std::unique_ptr<GradSink> sink_;
  std::unique_ptr<ParamSource> source_;
};

}  // namespace mnemo::train
