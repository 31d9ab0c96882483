#include "train/graph.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernels.h"
#include "train/blas.h"
#include "train/ops.h"

namespace mnemo::train {
namespace {

int64_t saved_per_token_per_layer(const TrainShape& s) {
  const int64_t d = s.n_embd, dqkv = s.n_embd_q() + 2 * s.n_embd_kv();
  // x, rms1, xn1, qkv, att, lse (one per head), xm, rms2, xn2, gu, act
  return d + 1 + d + dqkv + s.n_embd_q() + s.n_head + d + 1 + d + 2 * s.n_ff + s.n_ff;
}

int64_t scratch_floats_per_thread(const TrainShape& s, int64_t T) {
  return std::max({2 * kAttnTile * T + T, s.n_vocab, s.n_embd});
}

kernels::RopeParams rope_params(const TrainShape& s) {
  kernels::RopeParams p;
  p.n_rot = s.head_dim();
  p.freq_base = s.rope_base;
  p.freq_scale = 1.0f;
  p.style = kernels::RopeStyle::kNormal;
  return p;
}

// Rows per thread for row-split phases.
constexpr int64_t kGrain = 16;

}  // namespace

GraphSizes graph_sizes(const TrainShape& s, int64_t B, int64_t T, int n_threads) {
  const int64_t N = B * T, d = s.n_embd, dqkv = s.n_embd_q() + 2 * s.n_embd_kv();
  GraphSizes g;
  g.saved = N * (s.n_layer * saved_per_token_per_layer(s) + 2 * d + 1);
  g.logits = N * s.n_vocab;
  g.backward = N * (d + d + std::max(s.n_ff, dqkv) + 2 * s.n_ff + s.n_embd_q());
  g.scratch = static_cast<int64_t>(std::max(1, n_threads)) * scratch_floats_per_thread(s, T);
  g.tables = 2 * T * s.head_dim() + N;
  return g;
}

double train_flops_per_step(const TrainShape& s, int64_t B, int64_t T) {
  const double d = static_cast<double>(s.n_embd), dqkv = static_cast<double>(s.n_embd_q() + 2 * s.n_embd_kv());
  const double per_layer = d * dqkv + static_cast<double>(s.n_embd_q()) * d + 3.0 * d * static_cast<double>(s.n_ff);
  const double matrix_params = static_cast<double>(s.n_layer) * per_layer + static_cast<double>(s.n_vocab) * d;
  const double tokens = static_cast<double>(B * T);
  const double pairs = static_cast<double>(T) * static_cast<double>(T + 1) / 2.0;  // causal (query, key) pairs
  const double attn_fwd = static_cast<double>(s.n_layer * B * s.n_head) * 4.0 * static_cast<double>(s.head_dim()) * pairs;
  return 6.0 * matrix_params * tokens + 3.0 * attn_fwd;
}

TrainGraph::TrainGraph(const TrainShape& s, const ParamLayout& layout, int64_t B, int64_t T, ThreadPool* pool)
    : s_(s), layout_(layout), B_(B), T_(T), N_(B * T), pool_(pool) {
  MNEMO_CHECK(B > 0 && T > 0 && pool != nullptr);
  const int64_t d = s.n_embd, N = N_;
  dqkv_ = s.n_embd_q() + 2 * s.n_embd_kv();
  const GraphSizes g = graph_sizes(s, B, T, pool->size());
  saved_.resize(g.saved);
  float* p = saved_.data();
  auto take = [&](int64_t n) {
    float* r = p;
    p += n;
    return r;
  };
  acts_.resize(static_cast<size_t>(s.n_layer));
  for (LayerActs& a : acts_) {
    a.x = take(N * d);
    a.rms1 = take(N);
    a.xn1 = take(N * d);
    a.qkv = take(N * dqkv_);
    a.att = take(N * s.n_embd_q());
    a.lse = take(N * s.n_head);
    a.xm = take(N * d);
    a.rms2 = take(N);
    a.xn2 = take(N * d);
    a.gu = take(N * 2 * s.n_ff);
    a.act = take(N * s.n_ff);
  }
  x_final_ = take(N * d);
  rms_final_ = take(N);
  xn_final_ = take(N * d);
  MNEMO_CHECK(p == saved_.data() + g.saved);
  logits_.resize(g.logits);
  dx_.resize(N * d);
  dxn_.resize(N * d);
  dbig_.resize(N * std::max(s.n_ff, dqkv_));
  dgu_.resize(N * 2 * s.n_ff);
  datt_.resize(N * s.n_embd_q());
  scratch_per_thread_ = scratch_floats_per_thread(s, T);
  scratch_.resize(g.scratch);
  const kernels::RopeParams rp = rope_params(s);
  const int64_t hd = s.head_dim();
  rope_fwd_.resize(T * hd);
  rope_bwd_.resize(T * hd);
  kernels::rope_table(rp, T, rope_fwd_.data());
  for (int64_t i = 0; i < T * hd; ++i) {
    // Inverse rotation: the same cosines, negated sines (the second half of each row).
    rope_bwd_[i] = (i % hd) < hd / 2 ? rope_fwd_[i] : -rope_fwd_[i];
  }
  losses_.resize(N);
}

uint64_t TrainGraph::bytes() const {
  return saved_.bytes() + logits_.bytes() + dx_.bytes() + dxn_.bytes() + dbig_.bytes() + dgu_.bytes() +
         datt_.bytes() + scratch_.bytes() + rope_fwd_.bytes() + rope_bwd_.bytes() + losses_.bytes();
}

void TrainGraph::rmsnorm_forward(const float* x, const float* w, float* rms, float* y) {
  const int64_t d = s_.n_embd;
  pool_->parallel_for(N_, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* xr = x + t * d;
      const float ss = dot(xr, xr, d);
      const float r = static_cast<float>(
          1.0 / std::sqrt(static_cast<double>(ss) / static_cast<double>(d) + static_cast<double>(s_.rms_eps)));
      rms[t] = r;
      float* yr = y + t * d;
      for (int64_t j = 0; j < d; ++j) yr[j] = xr[j] * r * w[j];
    }
  });
}

// y = x r w with r = (mean(x^2) + eps)^(-1/2):
//   dx += r (dy w) - x r^3 / d sum_j (dy w x)_j,   dw += sum_t dy x r.
void TrainGraph::rmsnorm_backward(const float* x, const float* w, const float* rms, const float* dy, float* dx,
                                  float* dw) {
  const int64_t d = s_.n_embd;
  pool_->run([&](int ith, int nth) {
    float* tmp = scratch_.data() + ith * scratch_per_thread_;
    int64_t t0, t1;
    ThreadPool::split_range(N_, 1, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; ++t) {
      const float* xr = x + t * d;
      const float* dyr = dy + t * d;
      for (int64_t j = 0; j < d; ++j) tmp[j] = dyr[j] * w[j];
      const float r = rms[t];
      const float c = dot(tmp, xr, d);
      float* dxr = dx + t * d;
      axpy(dxr, tmp, r, d);
      axpy(dxr, xr, -r * r * r * c / static_cast<float>(d), d);
    }
    // The weight gradient by columns, each summed over all tokens in order.
    int64_t j0, j1;
    ThreadPool::split_range(d, 16, ith, nth, &j0, &j1);
    if (j0 < j1) {
      for (int64_t t = 0; t < N_; ++t) acc_mul(dw + j0, dy + t * d + j0, x + t * d + j0, rms[t], j1 - j0);
    }
  });
}

void TrainGraph::rope(float* qkv, const float* table) {
  const kernels::RopeParams rp = rope_params(s_);
  const int64_t hd = s_.head_dim();
  pool_->parallel_for(N_, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* row = table + (t % T_) * hd;
      float* q = qkv + t * dqkv_;
      kernels::rope_with_table(q, s_.n_head, hd, row, rp);
      kernels::rope_with_table(q + s_.n_embd_q(), s_.n_head_kv, hd, row, rp);
    }
  });
}

void TrainGraph::attention_forward(const float* qkv, float* att, float* lse) {
  const int64_t H = s_.n_head, hd = s_.head_dim(), group = s_.n_head / s_.n_head_kv;
  const int64_t dq = s_.n_embd_q(), dkv = s_.n_embd_kv(), T = T_, ld = dqkv_;
  const float sc = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  pool_->run([&](int ith, int nth) {
    int64_t i0, i1;
    ThreadPool::split_range(B_ * H, 1, ith, nth, &i0, &i1);
    float* S = scratch_.data() + ith * scratch_per_thread_;
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t b = item / H, h = item % H, g = h / group;
      const float* Q = qkv + b * T * ld + h * hd;
      const float* K = qkv + b * T * ld + dq + g * hd;
      const float* V = qkv + b * T * ld + dq + dkv + g * hd;
      float* O = att + b * T * dq + h * hd;
      float* L = lse + (b * H + h) * T;
      for (int64_t q0 = 0; q0 < T; q0 += kAttnTile) {
        const int64_t m = std::min(T, q0 + kAttnTile) - q0, nk = q0 + m;
        gemm(false, true, m, nk, hd, sc, Q + q0 * ld, ld, K, ld, 0.0f, S, T);
        for (int64_t r = 0; r < m; ++r) {
          float* row = S + r * T;
          const int64_t n = q0 + r + 1;
          const float mx = max_of(row, n);
          const float sum = exp_sub_sum(row, n, mx);
          scale(row, n, 1.0f / sum);
          if (n < nk) std::memset(row + n, 0, static_cast<size_t>(nk - n) * sizeof(float));
          L[q0 + r] = mx + std::log(sum);
        }
        gemm(false, false, m, hd, nk, 1.0f, S, T, V, ld, 0.0f, O + q0 * dq, dq);
      }
    }
  });
}

// Per (sequence, KV head), over the query heads of its group in order (so dK, dV of a KV head are
// summed by one thread): with P recomputed from the saved log-sum-exp,
//   dV += P^T dO,  dP = dO V^T,  dS = P (dP - rowsum(dO o O)),  dQ = sc dS K,  dK += sc dS^T Q.
void TrainGraph::attention_backward(const float* qkv, const float* att, const float* lse, const float* datt,
                                    float* dqkv) {
  const int64_t H = s_.n_head, Hkv = s_.n_head_kv, hd = s_.head_dim(), group = H / Hkv;
  const int64_t dq = s_.n_embd_q(), dkv = s_.n_embd_kv(), T = T_, ld = dqkv_;
  const float sc = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  pool_->run([&](int ith, int nth) {
    int64_t i0, i1;
    ThreadPool::split_range(B_ * Hkv, 1, ith, nth, &i0, &i1);
    float* P = scratch_.data() + ith * scratch_per_thread_;
    float* dP = P + kAttnTile * T;
    float* D = dP + kAttnTile * T;
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t b = item / Hkv, g = item % Hkv;
      const float* K = qkv + b * T * ld + dq + g * hd;
      const float* V = qkv + b * T * ld + dq + dkv + g * hd;
      float* dK = dqkv + b * T * ld + dq + g * hd;
      float* dV = dqkv + b * T * ld + dq + dkv + g * hd;
      for (int64_t t = 0; t < T; ++t) {
        std::memset(dK + t * ld, 0, static_cast<size_t>(hd) * sizeof(float));
        std::memset(dV + t * ld, 0, static_cast<size_t>(hd) * sizeof(float));
      }
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const float* Q = qkv + b * T * ld + h * hd;
        const float* O = att + b * T * dq + h * hd;
        const float* dO = datt + b * T * dq + h * hd;
        float* dQ = dqkv + b * T * ld + h * hd;
        const float* L = lse + (b * H + h) * T;
        for (int64_t i = 0; i < T; ++i) D[i] = dot(dO + i * dq, O + i * dq, hd);
        for (int64_t q0 = 0; q0 < T; q0 += kAttnTile) {
          const int64_t m = std::min(T, q0 + kAttnTile) - q0, nk = q0 + m;
          gemm(false, true, m, nk, hd, sc, Q + q0 * ld, ld, K, ld, 0.0f, P, T);
          for (int64_t r = 0; r < m; ++r) {
            float* row = P + r * T;
            const int64_t n = q0 + r + 1;
            exp_sub_sum(row, n, L[q0 + r]);
            if (n < nk) std::memset(row + n, 0, static_cast<size_t>(nk - n) * sizeof(float));
          }
          gemm(true, false, nk, hd, m, 1.0f, P, T, dO + q0 * dq, dq, 1.0f, dV, ld);
          gemm(false, true, m, nk, hd, 1.0f, dO + q0 * dq, dq, V, ld, 0.0f, dP, T);
          for (int64_t r = 0; r < m; ++r) softmax_backward_row(P + r * T, dP + r * T, D[q0 + r], nk);
          gemm(false, false, m, hd, nk, sc, dP, T, K, ld, 0.0f, dQ + q0 * ld, ld);
          gemm(true, false, nk, hd, m, sc, dP, T, Q + q0 * ld, ld, 1.0f, dK, ld);
        }
      }
    }
  });
}

namespace {
// One full parameter buffer.
class FullParams final : public ParamSource {
 public:
  explicit FullParams(const float* p) : p_(p) {}
  const float* acquire(int64_t begin, int64_t) override { return p_ + begin; }
  void release(int64_t, int64_t) override {}

 private:
  const float* p_;
};
}  // namespace

double TrainGraph::forward(const float* P, const int32_t* inputs, const int32_t* targets, float grad_scale) {
  FullParams src(P);
  return forward(src, inputs, targets, grad_scale);
}

double TrainGraph::forward(ParamSource& src, const int32_t* inputs, const int32_t* targets, float grad_scale) {
  const int64_t d = s_.n_embd, V = s_.n_vocab, ff = s_.n_ff, dq = s_.n_embd_q(), N = N_;
  inputs_ = inputs;
  const int64_t e0 = layout_.token_embd(), e1 = e0 + V * d;
  const float* E = src.acquire(e0, e1);
  float* x0 = acts_[0].x;
  pool_->parallel_for(N, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      MNEMO_DCHECK(inputs[t] >= 0 && inputs[t] < V);
      std::memcpy(x0 + t * d, E + static_cast<int64_t>(inputs[t]) * d, static_cast<size_t>(d) * sizeof(float));
    }
  });
  src.release(e0, e1);
  for (int64_t l = 0; l < s_.n_layer; ++l) {
    LayerActs& a = acts_[static_cast<size_t>(l)];
    const LayerOffsets& o = layout_.layer(l);
    const int64_t l0 = o.attn_norm, l1 = o.wdown + d * ff;
    const float* pL = src.acquire(l0, l1);
    auto P = [&](int64_t offset) { return pL + (offset - l0); };  // the layer's tensor at offset
    rmsnorm_forward(a.x, P(o.attn_norm), a.rms1, a.xn1);
    linear_forward(*pool_, a.xn1, d, N, P(o.wqkv), d, dqkv_, a.qkv, dqkv_, 0.0f);
    rope(a.qkv, rope_fwd_.data());
    attention_forward(a.qkv, a.att, a.lse);
    // xm = x + att Wo^T
    pool_->parallel_for(N, kGrain, [&](int64_t t0, int64_t t1) {
      std::memcpy(a.xm + t0 * d, a.x + t0 * d, static_cast<size_t>((t1 - t0) * d) * sizeof(float));
      gemm(false, true, t1 - t0, d, dq, 1.0f, a.att + t0 * dq, dq, P(o.wo), dq, 1.0f, a.xm + t0 * d, d);
    });
    rmsnorm_forward(a.xm, P(o.ffn_norm), a.rms2, a.xn2);
    linear_forward(*pool_, a.xn2, d, N, P(o.wgu), d, 2 * ff, a.gu, 2 * ff, 0.0f);
    float* xnext = l + 1 < s_.n_layer ? acts_[static_cast<size_t>(l + 1)].x : x_final_;
    // act = silu(g) u; x' = xm + act Wdown^T
    pool_->parallel_for(N, kGrain, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) swiglu_forward(a.gu + t * 2 * ff, a.gu + t * 2 * ff + ff, ff, a.act + t * ff);
      std::memcpy(xnext + t0 * d, a.xm + t0 * d, static_cast<size_t>((t1 - t0) * d) * sizeof(float));
      gemm(false, true, t1 - t0, d, ff, 1.0f, a.act + t0 * ff, ff, P(o.wdown), ff, 1.0f, xnext + t0 * d, d);
    });
    src.release(l0, l1);
  }
  const bool tied = s_.tied_output;
  const int64_t h0 = layout_.output_norm(), h1 = tied ? h0 + d : layout_.n_params();
  const float* pH = src.acquire(h0, h1);
  const float* pOut = tied ? src.acquire(e0, e1) : pH + (layout_.output() - h0);
  rmsnorm_forward(x_final_, pH, rms_final_, xn_final_);
  linear_forward(*pool_, xn_final_, d, N, pOut, d, V, logits_.data(), V, 0.0f);
  if (tied) src.release(e0, e1);
  src.release(h0, h1);
  // Cross-entropy; with grad_scale, the logits become grad_scale (softmax - onehot).
  pool_->run([&](int ith, int nth) {
    int64_t t0, t1;
    ThreadPool::split_range(N, 1, ith, nth, &t0, &t1);
    float* tmp = scratch_.data() + ith * scratch_per_thread_;
    for (int64_t t = t0; t < t1; ++t) {
      float* row = logits_.data() + t * V;
      float* w = row;
      if (grad_scale == 0.0f) {
        std::memcpy(tmp, row, static_cast<size_t>(V) * sizeof(float));
        w = tmp;
      }
      const int32_t y = targets[t];
      MNEMO_DCHECK(y >= 0 && y < V);
      const float mx = max_of(w, V);
      const float ly = w[y];
      const float sum = exp_sub_sum(w, V, mx);
      losses_[t] = static_cast<float>(std::log(static_cast<double>(sum)) + static_cast<double>(mx) -
                                      static_cast<double>(ly));
      if (grad_scale != 0.0f) {
        scale(w, V, grad_scale / sum);
        w[y] -= grad_scale;
      }
    }
  });
  double total = 0.0;
  for (int64_t t = 0; t < N; ++t) total += static_cast<double>(losses_[t]);
  return total / static_cast<double>(N);
}

namespace {
// The whole gradient buffer at once.
class FullGrads final : public GradSink {
 public:
  explicit FullGrads(float* g) : g_(g) {}
  float* open(int64_t begin, int64_t) override { return g_ + begin; }
  void close(int64_t, int64_t) override {}

 private:
  float* g_;
};
}  // namespace

void TrainGraph::backward(const float* P, float* G) {
  FullParams src(P);
  FullGrads sink(G);
  backward(src, sink);
}

void TrainGraph::backward(ParamSource& src, GradSink& sink) {
  const int64_t d = s_.n_embd, V = s_.n_vocab, ff = s_.n_ff, dq = s_.n_embd_q(), N = N_;
  const float* dlogits = logits_.data();
  const int64_t e0 = layout_.token_embd(), e1 = e0 + V * d;
  const bool tied = s_.tied_output;
  float* gE = tied ? sink.open(e0, e1) : nullptr;  // the head writes into the embedding's gradient
  const int64_t h0 = layout_.output_norm(), h1 = tied ? h0 + d : layout_.n_params();
  float* gH = sink.open(h0, h1);
  float* gOut = tied ? gE + (layout_.output() - e0) : gH + (layout_.output() - h0);
  const float* pH = src.acquire(h0, h1);
  const float* pOut = tied ? src.acquire(e0, e1) : pH + (layout_.output() - h0);
  linear_backward_weight(*pool_, dlogits, V, xn_final_, d, N, d, V, gOut);
  linear_backward_input(*pool_, dlogits, V, N, pOut, d, V, dxn_.data(), d, 0.0f);
  dx_.zero();
  rmsnorm_backward(x_final_, pH, rms_final_, dxn_.data(), dx_.data(), gH);
  if (tied) src.release(e0, e1);
  src.release(h0, h1);
  sink.close(h0, h1);
  float* dx = dx_.data();
  float* dxn = dxn_.data();
  float* dbig = dbig_.data();
  float* dgu = dgu_.data();
  float* datt = datt_.data();
  for (int64_t l = s_.n_layer - 1; l >= 0; --l) {
    const LayerActs& a = acts_[static_cast<size_t>(l)];
    const LayerOffsets& o = layout_.layer(l);
    const int64_t l0 = o.attn_norm, l1 = o.wdown + d * ff;
    float* gL = sink.open(l0, l1);
    const float* pL = src.acquire(l0, l1);
    auto P = [&](int64_t offset) { return pL + (offset - l0); };  // the layer's tensor at offset
    auto G = [&](int64_t offset) { return gL + (offset - l0); };  // gradient of the layer's tensor at offset
    // x' = xm + act Wdown^T
    linear_backward_weight(*pool_, dx, d, a.act, ff, N, ff, d, G(o.wdown));
    linear_backward_input(*pool_, dx, d, N, P(o.wdown), ff, d, dbig, ff, 0.0f);
    pool_->parallel_for(N, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const float* gu = a.gu + t * 2 * ff;
        swiglu_backward(gu, gu + ff, dbig + t * ff, ff, dgu + t * 2 * ff, dgu + t * 2 * ff + ff);
      }
    });
    linear_backward_weight(*pool_, dgu, 2 * ff, a.xn2, d, N, d, 2 * ff, G(o.wgu));
    linear_backward_input(*pool_, dgu, 2 * ff, N, P(o.wgu), d, 2 * ff, dxn, d, 0.0f);
    rmsnorm_backward(a.xm, P(o.ffn_norm), a.rms2, dxn, dx, G(o.ffn_norm));  // dx = dL/dxm
    // xm = x + att Wo^T
    linear_backward_weight(*pool_, dx, d, a.att, dq, N, dq, d, G(o.wo));
    linear_backward_input(*pool_, dx, d, N, P(o.wo), dq, d, datt, dq, 0.0f);
    attention_backward(a.qkv, a.att, a.lse, datt, dbig);
    rope(dbig, rope_bwd_.data());
    linear_backward_weight(*pool_, dbig, dqkv_, a.xn1, d, N, d, dqkv_, G(o.wqkv));
    linear_backward_input(*pool_, dbig, dqkv_, N, P(o.wqkv), d, dqkv_, dxn, d, 0.0f);
    rmsnorm_backward(a.x, P(o.attn_norm), a.rms1, dxn, dx, G(o.attn_norm));  // dx = dL/dx
    src.release(l0, l1);
    sink.close(l0, l1);
  }
  // Embedding rows, by columns so that each element sums its tokens in order.
  float* dE = tied ? gE : sink.open(e0, e1);
  const int32_t* in = inputs_;
  pool_->parallel_for(d, 16, [&](int64_t j0, int64_t j1) {
    for (int64_t t = 0; t < N; ++t) axpy(dE + static_cast<int64_t>(in[t]) * d + j0, dx + t * d + j0, 1.0f, j1 - j0);
  });
  sink.close(e0, e1);
}

}  // namespace mnemo::train
