#include "train/optimizer.h"

#include <cmath>

#include "base/strings.h"
#include "train/blas.h"

namespace mnemo::train {

namespace {
constexpr int64_t kNormChunk = 4096;
}  // namespace

double global_norm(const float* x, int64_t n, ThreadPool& pool) {
  const int64_t n_chunks = (n + kNormChunk - 1) / kNormChunk;
  std::vector<double> partial(static_cast<size_t>(n_chunks));
  pool.parallel_for(n_chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t b = c * kNormChunk, e = std::min(n, b + kNormChunk);
      double s = 0.0;
      for (int64_t i = b; i < e; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
      partial[static_cast<size_t>(c)] = s;
    }
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return std::sqrt(total);
}

double Optimizer::clip(float* grads, ThreadPool& pool) const {
  const int64_t n = layout_.n_params();
  const double norm = global_norm(grads, n, pool);
  if (o_.grad_clip > 0.0f) {
    const double coef = static_cast<double>(o_.grad_clip) / (norm + 1e-6);
    if (coef < 1.0) {
      const float c = static_cast<float>(coef);
      pool.parallel_for(n, 1024, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) grads[i] *= c;
      });
    }
  }
  return norm;
}

void adamw_update(const OptimizerSettings& o, int64_t steps, bool decay, int64_t n, float* p, const float* g, float* m,
                  float* v, float lr) {
  // As torch.optim.AdamW's single-tensor path, with its scalars computed in double.
  const double step = static_cast<double>(steps);
  const double bc1 = 1.0 - std::pow(static_cast<double>(o.beta1), step);
  const double bc2 = 1.0 - std::pow(static_cast<double>(o.beta2), step);
  const float step_size = static_cast<float>(static_cast<double>(lr) / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  decay = decay && o.weight_decay != 0.0f;
  const float keep = static_cast<float>(1.0 - static_cast<double>(lr) * static_cast<double>(o.weight_decay));
  const float b1 = o.beta1, b2 = o.beta2;
  const float a1 = static_cast<float>(1.0 - static_cast<double>(b1));
  const float a2 = static_cast<float>(1.0 - static_cast<double>(b2));
  const float eps = o.eps;
  for (int64_t i = 0; i < n; ++i) {
    float pi = p[i];
    if (decay) pi *= keep;
    const float gi = g[i];
    const float mi = m[i] * b1 + gi * a1;
    const float vi = v[i] * b2 + a2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    p[i] = pi + (-step_size) * (mi / denom);
  }
}

void Optimizer::adamw_range(const ParamInfo& t, int64_t begin, int64_t end, float* p, const float* g, float* m,
                            float* v, float lr) const {
  adamw_update(o_, t_, t.is_matrix(), end - begin, p + begin, g + begin, m + begin, v + begin, lr);
}

uint64_t Optimizer::state_bytes() const {
  uint64_t n = 0;
  for (const StateTensor& s : state_) n += static_cast<uint64_t>(s.n);
  return n * sizeof(float);
}

namespace {

class AdamW final : public Optimizer {
 public:
  AdamW(const OptimizerSettings& o, const ParamLayout& layout) : Optimizer(o, layout) {
    m_.resize(layout.n_params());
    v_.resize(layout.n_params());
    state_.push_back({"adamw.m", m_.data(), m_.size()});
    state_.push_back({"adamw.v", v_.data(), v_.size()});
  }

  Expected<double> step(float* params, float* grads, float lr, ThreadPool& pool) override {
    const double norm = clip(grads, pool);
    ++t_;
    pool.parallel_for(layout_.n_params(), 1024, [&](int64_t b, int64_t e) {
      for (const ParamInfo& t : layout_.tensors()) {
        const int64_t tb = std::max(b, t.offset), te = std::min(e, t.offset + t.numel());
        if (tb < te) adamw_range(t, tb, te, params, grads, m_.data(), v_.data(), lr);
      }
    });
    return norm;
  }
  uint64_t workspace_bytes() const override { return 0; }

 private:
  FloatBuffer m_, v_;
};

struct Projected {
  const ParamInfo* t;
  bool left;      // P = U[:, :r] (out x r), R = P^T G (r x in); else P = Vt[:r] (r x in), R = G P^T (out x r)
  int64_t p_size, r_size;
  float *P, *m, *v;
};

Projected plan_projection(const ParamInfo& t, int64_t r, const std::string& proj_type) {
  Projected p{};
  p.t = &t;
  const bool tall = t.rows >= t.cols;
  p.left = proj_type == "std" ? !tall : tall;
  p.p_size = p.left ? t.rows * r : r * t.cols;
  p.r_size = p.left ? r * t.cols : t.rows * r;
  return p;
}

int64_t galore_thread_floats(const ParamLayout& layout, int64_t r) {
  int64_t most = 0;
  for (const ParamInfo& t : layout.tensors()) {
    if (!galore_target(t)) continue;
    const int64_t k = std::min(t.rows, t.cols);
    // A copy of G, U, S, Vt for the SVD, and the normalized low-rank update.
    most = std::max(most, t.rows * t.cols + t.rows * k + k + k * t.cols + std::max(t.rows, t.cols) * r);
  }
  return most;
}

class Galore final : public Optimizer {
 public:
  Galore(const OptimizerSettings& o, const ParamLayout& layout, int n_threads) : Optimizer(o, layout) {
    int64_t proj_floats = 0, adam_floats = 0;
    for (const ParamInfo& t : layout_.tensors()) {
      if (galore_target(t)) {
        Projected p = plan_projection(t, o.rank, o.proj_type);
        proj_floats += p.p_size + 2 * p.r_size;
        proj_.push_back(p);
      } else {
        adam_.push_back({&t, adam_floats});
        adam_floats += t.numel();
      }
    }
    // Pointers into layout_ (this object's copy), not the caller's.
    proj_store_.resize(proj_floats);
    float* q = proj_store_.data();
    for (Projected& p : proj_) {
      p.P = q;
      p.m = q + p.p_size;
      p.v = p.m + p.r_size;
      q = p.v + p.r_size;
      state_.push_back({p.t->name + ".P", p.P, p.p_size});
      state_.push_back({p.t->name + ".m", p.m, p.r_size});
      state_.push_back({p.t->name + ".v", p.v, p.r_size});
    }
    m_.resize(adam_floats);
    v_.resize(adam_floats);
    state_.push_back({"adamw.m", m_.data(), m_.size()});
    state_.push_back({"adamw.v", v_.data(), v_.size()});
    per_thread_ = galore_thread_floats(layout_, o.rank);
    work_.resize(per_thread_ * std::max(1, n_threads));
  }

  Expected<double> step(float* params, float* grads, float lr, ThreadPool& pool) override {
    const double norm = clip(grads, pool);
    const bool refresh = t_ % o_.update_interval == 0;
    ++t_;
    // Projected matrices, dealt round-robin to the threads (each matrix on one thread).
    std::vector<Status> errors(static_cast<size_t>(pool.size()));
    pool.run([&](int ith, int nth) {
      float* w = work_.data() + ith * per_thread_;
      for (size_t j = static_cast<size_t>(ith); j < proj_.size(); j += static_cast<size_t>(nth)) {
        Status s = update_matrix(proj_[j], params, grads, lr, refresh, w);
        if (!s.is_ok() && errors[static_cast<size_t>(ith)].is_ok()) errors[static_cast<size_t>(ith)] = s;
      }
    });
    for (const Status& s : errors) MNEMO_RETURN_IF_ERROR(s);
    // Everything else: AdamW.
    pool.parallel_for(static_cast<int64_t>(adam_.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const ParamInfo& t = *adam_[static_cast<size_t>(k)].t;
        const int64_t off = adam_[static_cast<size_t>(k)].offset;
        adamw_range(t, 0, t.numel(), params + t.offset, grads + t.offset, m_.data() + off, v_.data() + off, lr);
      }
    });
    return norm;
  }

  uint64_t workspace_bytes() const override { return work_.bytes(); }

 private:
  Status update_matrix(Projected& p, float* params, const float* grads, float lr, bool refresh, float* w) {
    const ParamInfo& t = *p.t;
    const int64_t out = t.rows, in = t.cols, r = o_.rank, k = std::min(out, in);
    const float* G = grads + t.offset;
    float* W = params + t.offset;
    if (refresh) {
      float* A = w;
      float* U = A + out * in;
      float* S = U + out * k;
      float* Vt = S + k;
      std::copy(G, G + out * in, A);
      MNEMO_RETURN_IF_ERROR(svd(out, in, A, U, S, Vt).with_context("GaLore projection of " + t.name));
      if (p.left) {
        for (int64_t i = 0; i < out; ++i) std::copy(U + i * k, U + i * k + r, p.P + i * r);
      } else {
        std::copy(Vt, Vt + r * in, p.P);
      }
    }
    float* R = w;  // the SVD buffers are free again
    if (p.left) {
      gemm(true, false, r, in, out, 1.0f, p.P, r, G, in, 0.0f, R, in);
    } else {
      gemm(false, true, out, r, in, 1.0f, G, in, p.P, in, 0.0f, R, r);
    }
    // Adam on R (galore_torch/adamw.py): eps outside the square root, bias correction in the step.
    const float b1 = o_.beta1, b2 = o_.beta2;
    const float a1 = static_cast<float>(1.0 - static_cast<double>(b1));
    const float a2 = static_cast<float>(1.0 - static_cast<double>(b2));
    for (int64_t i = 0; i < p.r_size; ++i) {
      const float g = R[i];
      p.m[i] = p.m[i] * b1 + g * a1;
      p.v[i] = p.v[i] * b2 + a2 * (g * g);
      R[i] = p.m[i] / (std::sqrt(p.v[i]) + o_.eps);
    }
    const double step = static_cast<double>(t_);
    const double bc1 = 1.0 - std::pow(static_cast<double>(b1), step);
    const double bc2 = 1.0 - std::pow(static_cast<double>(b2), step);
    const double step_size = static_cast<double>(lr) * std::sqrt(bc2) / bc1;
    const float alpha = static_cast<float>(-step_size * static_cast<double>(o_.scale));
    if (p.left) {
      gemm(false, false, out, in, r, alpha, p.P, r, R, in, 1.0f, W, in);
    } else {
      gemm(false, false, out, in, r, alpha, R, r, p.P, in, 1.0f, W, in);
    }
    if (o_.weight_decay > 0.0f) {
      const float a = static_cast<float>(-static_cast<double>(lr) * static_cast<double>(o_.weight_decay));
      for (int64_t i = 0; i < out * in; ++i) W[i] = W[i] + a * W[i];
    }
    return Status::ok();
  }

  struct Plain {
    const ParamInfo* t;
    int64_t offset;  // into m_, v_
  };
  std::vector<Projected> proj_;
  std::vector<Plain> adam_;
  FloatBuffer proj_store_, m_, v_, work_;
  int64_t per_thread_ = 0;
};

}  // namespace

bool galore_target(const ParamInfo& t) {
  return (t.kind == ParamKind::kAttention || t.kind == ParamKind::kFfn) && t.rows > 1;
}

uint64_t optimizer_state_bytes(const OptimizerSettings& o, const ParamLayout& layout) {
  if (o.type != "galore") return 2ull * static_cast<uint64_t>(layout.n_params()) * sizeof(float);
  uint64_t floats = 0;
  for (const ParamInfo& t : layout.tensors()) {
    if (galore_target(t)) {
      const Projected p = plan_projection(t, o.rank, o.proj_type);
      floats += static_cast<uint64_t>(p.p_size + 2 * p.r_size);
    } else {
      floats += 2ull * static_cast<uint64_t>(t.numel());
    }
  }
  return floats * sizeof(float);
}

uint64_t optimizer_workspace_bytes(const OptimizerSettings& o, const ParamLayout& layout, int n_threads) {
  if (o.type != "galore") return 0;
  return static_cast<uint64_t>(galore_thread_floats(layout, o.rank)) * static_cast<uint64_t>(std::max(1, n_threads)) *
         sizeof(float);
}

Status validate_optimizer(const OptimizerSettings& o, const ParamLayout& layout, const std::string& subject) {
  auto bad = [&](const std::string& field, const std::string& what) {
    return invalid_argument(subject + ": optimizer." + field + ": " + what);
  };
  if (o.type != "adamw" && o.type != "galore") {
    return bad("type", "expected \"adamw\" or \"galore\", found \"" + o.type + "\"");
  }
  if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f)) return bad("beta1", str_printf("expected [0, 1), found %g", o.beta1));
  if (!(o.beta2 >= 0.0f && o.beta2 < 1.0f)) return bad("beta2", str_printf("expected [0, 1), found %g", o.beta2));
  if (!(o.eps > 0.0f)) return bad("eps", str_printf("expected a positive value, found %g", o.eps));
  if (!(o.weight_decay >= 0.0f)) return bad("weight_decay", str_printf("expected >= 0, found %g", o.weight_decay));
  if (!std::isfinite(o.grad_clip)) return bad("grad_clip", "expected a finite value (<= 0: off)");
  if (o.type == "adamw") return Status::ok();
  if (o.proj_type != "std" && o.proj_type != "reverse_std") {
    return bad("galore.proj_type", "expected \"reverse_std\" or \"std\", found \"" + o.proj_type + "\"");
  }
  if (o.update_interval < 1) {
    return bad("galore.update_interval", str_printf("expected a positive step count, found %lld",
                                                    static_cast<long long>(o.update_interval)));
  }
  if (!(o.scale > 0.0f)) return bad("galore.scale", str_printf("expected a positive value, found %g", o.scale));
  for (const ParamInfo& t : layout.tensors()) {
    if (!galore_target(t)) continue;
    const int64_t k = std::min(t.rows, t.cols);
    if (o.rank < 1 || o.rank > k) {
      return bad("galore.rank", str_printf("expected 1..%lld (the smaller side of %s, %lld x %lld), found %lld",
                                           static_cast<long long>(k), t.name.c_str(), static_cast<long long>(t.rows),
                                           static_cast<long long>(t.cols), static_cast<long long>(o.rank)));
    }
  }
  return Status::ok();
}

Expected<std::unique_ptr<Optimizer>> Optimizer::create(const OptimizerSettings& o, const ParamLayout& layout,
                                                       int n_threads, const std::string& subject) {
  MNEMO_RETURN_IF_ERROR(validate_optimizer(o, layout, subject));
  if (o.type == "adamw") return std::unique_ptr<Optimizer>(new AdamW(o, layout));
  return std::unique_ptr<Optimizer>(new Galore(o, layout, n_threads));
}

}  // namespace mnemo::train
