// train/optimizer.h: AdamW and GaLore over the flat parameter layout of train/params.h.
//
// AdamW (Loshchilov & Hutter 2019) follows torch.optim.AdamW exactly: decoupled decay
// p *= 1 - lr wd first, then m, v, and p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps). Decay
// applies to matrices (the embedding and the output head included), not to norm weights.
//
// GaLore (Zhao et al., ICML 2024, Algorithm 2; galore_torch/adamw.py and galore_projector.py)
// applies to the attention and MLP matrices: every update_interval steps (and at the first) the
// gradient G (out x in) is decomposed by SVD (LAPACK sgesdd) and P keeps r singular vectors of one
// side; Adam runs on the projected gradient R and its moments keep R's shape (they are kept, not
// reset, across projection changes, as in the reference); the update scale * P-back-projection of
// m / (sqrt(v) + eps) is applied with step size lr sqrt(bc2) / bc1, then decay p -= lr wd p.
// Which side is projected is the reference's proj_type, for a matrix with sides a >= b:
//   "reverse_std": P holds the a-side vectors (a x r), R is r x b: state a r + 2 b r (default);
//   "std":         P holds the b-side vectors (b x r), R is a x r: state b r + 2 a r.
// The embedding, the norms and the output head stay on AdamW (2 floats per parameter).
//
// Both optimizers clip the gradient to a global L2 norm first (torch.nn.utils.clip_grad_norm_:
// scale by max_norm / (norm + 1e-6) when that is below 1). The norm is summed over fixed chunks in
// a fixed order, so it does not depend on the thread count.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "mnemo/status.h"
#include "train/buffer.h"
#include "train/params.h"

namespace mnemo::train {

struct OptimizerSettings {
  std::string type = "adamw";  // "adamw" or "galore"
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
  float grad_clip = 1.0f;      // <= 0: no clipping
  // GaLore
  int64_t rank = 128;
  int64_t update_interval = 200;
  float scale = 0.25f;
  std::string proj_type = "reverse_std";  // or "std"
};

// Bytes of optimizer state for a layout (the formula: AdamW 2 floats per parameter; GaLore as
// above for each projected matrix). Equal to Optimizer::state_bytes() of the built optimizer.
uint64_t optimizer_state_bytes(const OptimizerSettings& o, const ParamLayout& layout);
// Bytes of scratch the optimizer allocates besides its state (GaLore: per-thread SVD and
// projection buffers).
uint64_t optimizer_workspace_bytes(const OptimizerSettings& o, const ParamLayout& layout, int n_threads);
// Whether GaLore projects this tensor (attention and MLP matrices).
bool galore_target(const ParamInfo& t);

// Checks the settings against the layout (e.g. rank <= the smaller side of every projected
// matrix); errors name "<subject>: optimizer.<field>".
Status validate_optimizer(const OptimizerSettings& o, const ParamLayout& layout, const std::string& subject);

// A named piece of optimizer state (checkpoints save and restore these in order).
struct StateTensor {
  std::string name;
  float* data;
  int64_t n;
};

class Optimizer {
 public:
  // Validates (validate_optimizer), then allocates the state (zero).
  static Expected<std::unique_ptr<Optimizer>> create(const OptimizerSettings& o, const ParamLayout& layout,
                                                     int n_threads, const std::string& subject);
  virtual ~Optimizer() = default;

  // One update with learning rate lr. grads are clipped in place. Returns the gradient norm before
  // clipping. Errors: an SVD that does not converge (GaLore).
  virtual Expected<double> step(float* params, float* grads, float lr, ThreadPool& pool) = 0;

  int64_t steps_taken() const { return t_; }
  void set_steps_taken(int64_t t) { t_ = t; }
  uint64_t state_bytes() const;
  virtual uint64_t workspace_bytes() const = 0;
  const std::vector<StateTensor>& state() const { return state_; }
  const OptimizerSettings& settings() const { return o_; }

 protected:
  Optimizer(const OptimizerSettings& o, const ParamLayout& layout) : o_(o), layout_(layout) {}
  // Global-norm clipping; returns the norm before clipping.
  double clip(float* grads, ThreadPool& pool) const;
  // torch AdamW on elements [begin, end) of tensor t, with m, v at the same offsets.
  void adamw_range(const ParamInfo& t, int64_t begin, int64_t end, float* p, const float* g, float* m, float* v,
                   float lr) const;

  OptimizerSettings o_;
  ParamLayout layout_;
  int64_t t_ = 0;  // completed steps
  std::vector<StateTensor> state_;
};

// torch AdamW on n elements of one tensor after `steps` completed updates (this one included);
// decay: whether weight decay applies (matrices). p, g, m, v point at the same element.
void adamw_update(const OptimizerSettings& o, int64_t steps, bool decay, int64_t n, float* p, const float* g, float* m,
                  float* v, float lr);

// The global L2 norm of x (n floats), summed in double over fixed 4096-element chunks in order.
double global_norm(const float* x, int64_t n, ThreadPool& pool);

}  // namespace mnemo::train
