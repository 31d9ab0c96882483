// model/llama_forward.cc: one planned batch through the layers (LlamaSession::run_plan), as one
// ThreadPool job. See llama.h for the phases and model/batch.h for the order of the tokens.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <numeric>
#include <utility>

#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "model/llama.h"

namespace mnemo {
namespace {

using kernels::ActRounding;

bool is_q8(ActRounding r) { return r == ActRounding::kQ8x32 || r == ActRounding::kQ8x256; }

// Weight rows per chunk that the GEMV tiles of a small group share while they are in cache
// (~128 KiB of weights: well inside L2), a multiple of the row grain (16).
int64_t tile_rows(const TensorView& W) {
  const int64_t rows = static_cast<int64_t>((128u << 10) / std::max<uint64_t>(1, W.row_bytes()));
  return std::max<int64_t>(16, rows / 16 * 16);
}

}  // namespace

// Tokens [t0, t0 + T) of the plan (or logits rows, for the output head) that go through the
// weights together. small: every token is a GEMV token (runs of <= kGemvMaxTokens), held in the
// thread's own buffers; else one run, the product a single-sequence forward of it computes.
// Runs [run_begin, run_end) of the plan make up a layer group.
struct LlamaSession::Group {
  int64_t t0 = 0, T = 0;
  bool small = false;
  int64_t run_begin = 0, run_end = 0;
  // The token count the kernels' regime is chosen by (a GEMV tile's, for small groups).
  int64_t kT() const { return small ? std::min<int64_t>(T, kernels::kGemvMaxTokens) : T; }
};

// The work of thread ith of nth on one planned batch.
class LlamaSession::Job {
 public:
  Job(LlamaSession& s, const BatchPlan& plan, float* logits_out, int ith, int nth);
  void run();

 private:
  // A matmul input and what its buffers hold. Every weight gets its activations rounded as
  // llama.cpp rounds them for its type (kernels::activation_rounding): f32 rows in x (rounded as
  // `x_rounding` says) or Q8 rows in this thread's my_q8_.
  struct Input {
    const float* x = nullptr;  // T rows of width n, row stride n
    int64_t T = 0, n = 0;
    bool small = false;        // GEMV tokens (Group::small)
    ActRounding x_rounding = ActRounding::kF32;
    int q8_held = -1;          // ActRounding held in my_q8_ for these rows, -1: none
    int round_held = -1;       // ActRounding held in my_round_ for these rows, -1: none
    int64_t kT() const { return small ? std::min<int64_t>(T, kernels::kGemvMaxTokens) : T; }
  };

  kernels::MatmulArgs args_for(const TensorView& W, Input& in);
  Input norm_input(const float* src, const int32_t* idx, int64_t T, bool small, const float* norm,
                   std::initializer_list<const TensorView*> consumers, float* xn_rows);
  kernels::MatmulArgs plain_input(const TensorView& W, float* src, int64_t T, int64_t n, bool small);
  void matmul(const TensorView& W, const kernels::MatmulArgs& a, bool small, int64_t r0, int64_t r1);
  std::pair<int64_t, int64_t> rows(const TensorView& W, kernels::MatmulArgs a, bool small, float* y, int64_t ldy,
                                   bool accumulate, int64_t grain);
  template <class F>
  void for_groups(F&& f) const;
  template <class F>
  void for_output_groups(F&& f) const;
  void qkv(const LlamaLayerWeights& lw, int64_t l, const Group& g);
  void bias_rope(float* y, int64_t ldy, int64_t t0, int64_t T, int64_t h0, int64_t h1, const float* bias, bool rope);
  void attention(int64_t l);
  void ffn(const LlamaLayerWeights& lw);
  void output();

  LlamaSession& s_;
  const LlamaConfig& c_;
  const LlamaWeights& w_;
  const BatchPlan& plan_;
  float* const logits_;
  const int ith_, nth_;
  const int64_t d_, dq_, dkv_, ff_, hd_;
  float *x_, *xn_, *q_, *attn_, *hb_, *hb2_, *rope_;
  float *k_new_, *v_new_;  // f32 staging of K and V (plan order) for a cache of another type than F32
  float *my_f32_, *my_round_;
  uint8_t* my_q8_;
  void* scratch_;
  int64_t q8_stride_, decode_rows_;
};

LlamaSession::Job::Job(LlamaSession& s, const BatchPlan& plan, float* logits_out, int ith, int nth)
    : s_(s), c_(s.model_->config()), w_(s.model_->weights()), plan_(plan), logits_(logits_out), ith_(ith), nth_(nth),
      d_(c_.n_embd), dq_(c_.n_embd_q()), dkv_(c_.n_embd_kv()), ff_(c_.n_ff), hd_(c_.head_dim) {
  const SessionLayout& L = s.layout_;
  x_ = s.f32(L.x);
  xn_ = s.f32(L.xn);
  q_ = s.f32(L.q);
  attn_ = s.f32(L.attn);
  hb_ = s.f32(L.hb);
  hb2_ = s.f32(L.hb2);
  rope_ = s.f32(L.rope);
  k_new_ = s.f32(L.k_new);
  v_new_ = s.f32(L.v_new);
  uint8_t* const slice = s.block_ + L.arena.offset + static_cast<size_t>(ith) * L.arena_layout.thread_bytes;
  my_f32_ = reinterpret_cast<float*>(slice + L.arena_layout.dec_f32_off);
  my_round_ = reinterpret_cast<float*>(slice + L.arena_layout.round_off);
  my_q8_ = slice + L.arena_layout.dec_q8_off;
  scratch_ = slice + L.arena_layout.scratch_off;
  q8_stride_ = static_cast<int64_t>(L.arena_layout.q8_stride);
  decode_rows_ = L.arena_layout.decode_rows;
}

// The MatmulArgs for W on `in` (all its rows), converting this thread's copy when W wants other rows.
kernels::MatmulArgs LlamaSession::Job::args_for(const TensorView& W, Input& in) {
  kernels::MatmulArgs a;
  a.T = in.T;
  a.ldx = in.n;
  a.x = in.x;
  const ActRounding r = kernels::activation_rounding(W.type);
  if (kernels::matmul_uses_q8(W.type, in.kT())) {
    MNEMO_DCHECK(in.small && (is_q8(r) || r == ActRounding::kF32));  // kF32: mnemo's own types (Q8 rows of 32)
    const ActRounding qr = is_q8(r) ? r : ActRounding::kQ8x32;
    if (in.q8_held != static_cast<int>(qr)) {
      MNEMO_DCHECK(in.x_rounding == ActRounding::kF32);
      for (int64_t t = 0; t < in.T; ++t) kernels::quantize_q8(in.x + t * in.n, in.n, my_q8_ + t * q8_stride_, qr);
      in.q8_held = static_cast<int>(qr);
    }
    a.xq = my_q8_;
    a.ldq = q8_stride_;
  } else if (r != in.x_rounding) {
    MNEMO_DCHECK(in.x_rounding == ActRounding::kF32);
    if (in.round_held != static_cast<int>(r)) {
      for (int64_t t = 0; t < in.T; ++t) kernels::round_activations(r, in.x + t * in.n, in.n, my_round_ + t * in.n);
      in.round_held = static_cast<int>(r);
    }
    a.x = my_round_;
  }
  return a;
}

// Matmul input: T rows of RMSNorm(src row) * norm for the given consumers; src row t is
// src + idx[t] * d (idx null: src + t * d). Small: computed by every thread into its own buffers.
// Else: split by token into xn_rows, then a barrier. When all consumers round alike the rounding
// is done here, once.
LlamaSession::Job::Input LlamaSession::Job::norm_input(const float* src, const int32_t* idx, int64_t T, bool small,
                                                       const float* norm,
                                                       std::initializer_list<const TensorView*> consumers,
                                                       float* xn_rows) {
  Input in;
  in.T = T;
  in.n = d_;
  in.small = small;
  bool uniform = true, any_q8 = false, all_q8 = true;
  const ActRounding r0 = kernels::activation_rounding((*consumers.begin())->type);
  for (const TensorView* v : consumers) {
    uniform &= kernels::activation_rounding(v->type) == r0;
    any_q8 |= kernels::matmul_uses_q8(v->type, in.kT());
    all_q8 &= kernels::matmul_uses_q8(v->type, in.kT());
  }
  auto row = [&](int64_t t) { return src + (idx != nullptr ? idx[t] : t) * d_; };
  if (small) {
    MNEMO_DCHECK(T <= decode_rows_);
    in.x = my_f32_;
    if (any_q8 && uniform && is_q8(r0) && all_q8) {
      // The fused path: only the Q8 rows are needed.
      for (int64_t t = 0; t < T; ++t) kernels::rmsnorm_q8(row(t), norm, c_.rms_eps, d_, nullptr, my_q8_ + t * q8_stride_, r0);
      in.q8_held = static_cast<int>(r0);
    } else {
      for (int64_t t = 0; t < T; ++t) kernels::rmsnorm(row(t), norm, c_.rms_eps, d_, my_f32_ + t * d_);
      if (uniform && !any_q8 && r0 != ActRounding::kF32) {
        for (int64_t t = 0; t < T; ++t) kernels::round_activations(r0, my_f32_ + t * d_, d_, my_f32_ + t * d_);
        in.x_rounding = r0;
      }
    }
    return in;
  }
  MNEMO_DCHECK(!any_q8);
  int64_t t0, t1;
  ThreadPool::split_range(T, 1, ith_, nth_, &t0, &t1);
  for (int64_t t = t0; t < t1; ++t) {
    kernels::rmsnorm(row(t), norm, c_.rms_eps, d_, xn_rows + t * d_);
    if (uniform && r0 != ActRounding::kF32) kernels::round_activations(r0, xn_rows + t * d_, d_, xn_rows + t * d_);
  }
  s_.pool_->barrier();
  in.x = xn_rows;
  if (uniform) in.x_rounding = r0;
  MNEMO_DCHECK(uniform || s_.layout_.arena_layout.mixed_rounding);  // my_round_ then holds n_batch rows
  return in;
}

// Matmul input: T rows of width n at src (complete, after a barrier), for W alone. Small: each
// thread rounds or quantizes a copy for itself. Else: rounded in place, split by token, then a
// barrier (src is read by this matmul only).
kernels::MatmulArgs LlamaSession::Job::plain_input(const TensorView& W, float* src, int64_t T, int64_t n, bool small) {
  Input in;
  in.x = src;
  in.T = T;
  in.n = n;
  in.small = small;
  const ActRounding r = kernels::activation_rounding(W.type);
  if (!small && r != ActRounding::kF32 && !kernels::matmul_uses_q8(W.type, T)) {
    int64_t t0, t1;
    ThreadPool::split_range(T, 1, ith_, nth_, &t0, &t1);
    for (int64_t t = t0; t < t1; ++t) kernels::round_activations(r, src + t * n, n, src + t * n);
    s_.pool_->barrier();
    in.x_rounding = r;
  }
  return args_for(W, in);
}

// Rows [r0, r1) of W on a.T tokens. A small group is one GEMV call of up to kGemvTileTokens tokens
// (MatmulArgs::gemv: each token's result that of a one-token call; Q4_0 shares each block's
// unpacking among them); a larger one runs its tiles one after another on each chunk of rows, so
// the chunk is read from memory once for all of them.
void LlamaSession::Job::matmul(const TensorView& W, const kernels::MatmulArgs& a, bool small, int64_t r0, int64_t r1) {
  if (!small || a.T <= kernels::kGemvMaxTokens) {
    kernels::matmul_rows(W, a, r0, r1, scratch_);
    return;
  }
  kernels::MatmulArgs g = a;
  g.gemv = true;
  if (a.T <= kernels::kGemvTileTokens) {
    kernels::matmul_rows(W, g, r0, r1, scratch_);
    return;
  }
  const int64_t chunk = tile_rows(W);
  for (int64_t s = r0; s < r1; s += chunk) {
    const int64_t e = std::min(r1, s + chunk);
    for (int64_t t = 0; t < a.T; t += kernels::kGemvTileTokens) {
      kernels::MatmulArgs b = g;
      b.T = std::min<int64_t>(kernels::kGemvTileTokens, a.T - t);
      b.x = a.x + t * a.ldx;
      if (a.xq != nullptr) b.xq = static_cast<const uint8_t*>(a.xq) + t * a.ldq;
      b.y = a.y + t * a.ldy;
      kernels::matmul_rows(W, b, s, e, scratch_);
    }
  }
}

// Rows of W split over the threads in units of `grain`, written (or added) to y. The grain is at
// least kernels::matmul_row_grain of every product sharing the split, so that the results do not
// depend on the thread count.
std::pair<int64_t, int64_t> LlamaSession::Job::rows(const TensorView& W, kernels::MatmulArgs a, bool small, float* y,
                                                    int64_t ldy, bool accumulate, int64_t grain) {
  a.y = y;
  a.ldy = ldy;
  a.accumulate = accumulate;
  int64_t r0, r1;
  ThreadPool::split_range(W.n_rows(), grain, ith_, nth_, &r0, &r1);
  matmul(W, a, small, r0, r1);
  return {r0, r1};
}

// Layer groups: the small runs packed into groups of at most decode_rows tokens, then each other
// run alone.
template <class F>
void LlamaSession::Job::for_groups(F&& f) const {
  int64_t r = 0;
  while (r < plan_.n_small_runs) {
    Group g{plan_.runs[r].t0, 0, true, r, r};
    while (r < plan_.n_small_runs && g.T + plan_.runs[r].T <= decode_rows_) g.T += plan_.runs[r++].T;
    g.run_end = r;
    f(g);
  }
  for (; r < plan_.n_runs; ++r) f(Group{plan_.runs[r].t0, plan_.runs[r].T, false, r, r + 1});
}

// Output-head groups over logits rows: rows [0, n_out_small) in groups of at most decode_rows,
// then the rows of each run that wants more than kGemvMaxTokens.
template <class F>
void LlamaSession::Job::for_output_groups(F&& f) const {
  for (int64_t o = 0; o < plan_.n_out_small; o += decode_rows_) {
    f(Group{o, std::min(decode_rows_, plan_.n_out_small - o), true, 0, 0});
  }
  int64_t o = plan_.n_out_small;
  for (int64_t r = 0; r < plan_.n_runs; ++r) {
    if (plan_.runs[r].n_out <= kernels::kGemvMaxTokens) continue;
    f(Group{o, plan_.runs[r].n_out, false, r, r + 1});
    o += plan_.runs[r].n_out;
  }
}

// Biases and RoPE on heads [h0, h1) of plan tokens [t0, t0 + T), rows y + t * ldy.
void LlamaSession::Job::bias_rope(float* y, int64_t ldy, int64_t t0, int64_t T, int64_t h0, int64_t h1,
                                  const float* bias, bool rope) {
  for (int64_t t = 0; t < T; ++t) {
    float* row = y + t * ldy + h0 * hd_;
    if (bias != nullptr) kernels::add(row, bias + h0 * hd_, (h1 - h0) * hd_);
    if (rope) kernels::rope_with_table(row, h1 - h0, hd_, rope_ + plan_.tok[t0 + t].pos * c_.rope.n_rot, c_.rope);
  }
}

// Q, K, V of group g for this thread's heads, then biases and RoPE on them. Q rows go to q_ (plan
// order); K and V rows, one product per run, straight into their sequence's cache rows when the
// cache is F32, else into k_new_/v_new_ (plan order) and from there, per token and for this
// thread's heads only, converted into the cache's type (KvCache::store_k/store_v) by the thread
// that computed them. A token's rows are the same whatever else is in the batch.
void LlamaSession::Job::qkv(const LlamaLayerWeights& lw, int64_t l, const Group& g) {
  Input in = norm_input(x_ + g.t0 * d_, nullptr, g.T, g.small, lw.attn_norm, {&lw.wq, &lw.wk, &lw.wv}, xn_ + g.t0 * d_);
  // The split: units of gh heads of Q, K and V. gh = 1, except where a product goes to OpenBLAS in
  // fixed row chunks (kernels::matmul_fixed_chunk): then a unit is the fewest whole heads that
  // span a multiple of the chunk, so that no chunk is cut by a thread boundary and the results do
  // not depend on the thread count.
  int64_t gh = 1;
  for (const TensorView* W : {&lw.wq, &lw.wk, &lw.wv}) {
    const int64_t chunk = kernels::matmul_fixed_chunk(W->type, W->ne[0], in.kT());
    gh = std::max(gh, chunk / std::gcd(chunk, hd_));
  }
  const int64_t q_units = (c_.n_head + gh - 1) / gh, kv_units = (c_.n_head_kv + gh - 1) / gh;
  int64_t u0, u1;
  ThreadPool::split_range(q_units + 2 * kv_units, 1, ith_, nth_, &u0, &u1);
  auto heads = [&](int64_t first_unit, int64_t n_heads) {
    return std::pair<int64_t, int64_t>(std::clamp((u0 - first_unit) * gh, int64_t{0}, n_heads),
                                       std::clamp((u1 - first_unit) * gh, int64_t{0}, n_heads));
  };
  const bool bias = c_.qkv_bias;
  if (const auto [h0, h1] = heads(0, c_.n_head); h0 < h1) {
    kernels::MatmulArgs a = args_for(lw.wq, in);
    a.y = q_ + g.t0 * dq_;
    a.ldy = dq_;
    matmul(lw.wq, a, g.small, h0 * hd_, h1 * hd_);
    bias_rope(a.y, dq_, g.t0, g.T, h0, h1, bias ? lw.bq : nullptr, true);
  }
  const auto [h0, h1] = heads(q_units, c_.n_head_kv);
  const auto [v0, v1] = heads(q_units + kv_units, c_.n_head_kv);
  for (int64_t r = g.run_begin; r < g.run_end; ++r) {
    const BatchRun& run = plan_.runs[r];
    auto one = [&](const TensorView& W, int64_t k0, int64_t k1, bool is_k, const float* b, bool rope) {
      if (k0 >= k1) return;
      const KvCache& kv = s_.kv_;
      const bool direct = (is_k ? kv.type_k() : kv.type_v()) == KvType::kF32;
      float* const y = direct ? (is_k ? kv.k_f32(run.seq, l) : kv.v_f32(run.seq, l)) + run.pos0 * dkv_
                              : (is_k ? k_new_ : v_new_) + run.t0 * dkv_;
      kernels::MatmulArgs a = args_for(W, in);
      const int64_t off = run.t0 - g.t0;
      a.T = run.T;
      a.x += off * a.ldx;
      if (a.xq != nullptr) a.xq = static_cast<const uint8_t*>(a.xq) + off * a.ldq;
      a.y = y;
      a.ldy = dkv_;
      kernels::matmul_rows(W, a, k0 * hd_, k1 * hd_, scratch_);
      bias_rope(y, dkv_, run.t0, run.T, k0, k1, b, rope);
      if (direct) return;
      for (int64_t t = 0; t < run.T; ++t) {
        const float* row = y + t * dkv_ + k0 * hd_;
        if (is_k) {
          kv.store_k(run.seq, l, run.pos0 + t, k0 * hd_, (k1 - k0) * hd_, row);
        } else {
          kv.store_v(run.seq, l, run.pos0 + t, k0 * hd_, (k1 - k0) * hd_, row);
        }
      }
    };
    one(lw.wk, h0, h1, /*is_k=*/true, bias ? lw.bk : nullptr, true);
    one(lw.wv, v0, v1, /*is_k=*/false, bias ? lw.bv : nullptr, false);
  }
}

// Every run's queries against its own sequence's cache rows (of the cache's types). Each run's work
// items are dealt round-robin starting where the previous run's ended, so that many one-token runs
// spread over the threads.
void LlamaSession::Job::attention(int64_t l) {
  const kernels::AttentionShape shape{c_.n_head, c_.n_head_kv, c_.head_dim};
  const float scale = 1.0f / std::sqrt(static_cast<float>(c_.head_dim));
  int64_t first = 0;
  for (int64_t r = 0; r < plan_.n_runs; ++r) {
    const BatchRun& run = plan_.runs[r];
    const int part = static_cast<int>((ith_ + nth_ - first % nth_) % nth_);
    kernels::attention_part(q_ + run.t0 * dq_, run.T, run.pos0, s_.kv_.rows(run.seq, l), shape, scale,
                            attn_ + run.t0 * dq_, part, nth_);
    first += kernels::attention_items(run.T, shape);
  }
  // H2O / KVMerger: the attention each slot receives, accumulated per (layer, KV head) of the
  // run's sequence (kernels::attention_scores_part, one KV head per item). Off for other policies.
  if (!s_.kv_policy().needs_scores()) return;
  const int64_t budget = s_.kv_policy().budget;
  float* const work = s_.f32(s_.layout_.score_work) + ith_ * (budget + hd_);
  for (int64_t r = 0; r < plan_.n_runs; ++r) {
    const BatchRun& run = plan_.runs[r];
    float* const sc = s_.scores(run.seq) + l * c_.n_head_kv * budget;
    kernels::attention_scores_part(q_ + run.t0 * dq_, run.T, run.pos0, s_.kv_.rows(run.seq, l), shape, scale, sc,
                                   budget, work, ith_, nth_);
  }
}

// Feed-forward: this thread's rows of gate and up, SwiGLU on them, then (after the barrier) its
// rows of down added into the residual.
void LlamaSession::Job::ffn(const LlamaLayerWeights& lw) {
  for_groups([&](const Group& g) {
    Input in = norm_input(x_ + g.t0 * d_, nullptr, g.T, g.small, lw.ffn_norm, {&lw.ffn_gate, &lw.ffn_up}, xn_ + g.t0 * d_);
    const int64_t grain = std::max({int64_t{32}, kernels::matmul_row_grain(lw.ffn_gate.type, d_, g.kT()),
                                    kernels::matmul_row_grain(lw.ffn_up.type, d_, g.kT())});
    float* const hb = hb_ + g.t0 * ff_;
    float* const hb2 = hb2_ + g.t0 * ff_;
    const auto [r0, r1] = rows(lw.ffn_gate, args_for(lw.ffn_gate, in), g.small, hb, ff_, false, grain);
    rows(lw.ffn_up, args_for(lw.ffn_up, in), g.small, hb2, ff_, false, grain);
    for (int64_t t = 0; t < g.T && r0 < r1; ++t) kernels::swiglu(hb + t * ff_ + r0, hb2 + t * ff_ + r0, r1 - r0, hb + t * ff_ + r0);
  });
  s_.pool_->barrier();
  for_groups([&](const Group& g) {
    rows(lw.ffn_down, plain_input(lw.ffn_down, hb_ + g.t0 * ff_, g.T, ff_, g.small), g.small, x_ + g.t0 * d_, d_,
         /*accumulate=*/true, kernels::matmul_row_grain(lw.ffn_down.type, ff_, g.kT()));
  });
  s_.pool_->barrier();
}

// The output head on the rows that want logits.
void LlamaSession::Job::output() {
  for_output_groups([&](const Group& g) {
    Input in = norm_input(x_, plan_.out_tok + g.t0, g.T, g.small, w_.output_norm, {&w_.output}, xn_ + g.t0 * d_);
    rows(w_.output, args_for(w_.output, in), g.small, logits_ + g.t0 * c_.n_vocab, c_.n_vocab, false,
         kernels::matmul_row_grain(w_.output.type, d_, g.kT()));
  });
}

void LlamaSession::Job::run() {
  for (int64_t l = 0; l < c_.n_layer; ++l) {
    const LlamaLayerWeights& lw = w_.layers[static_cast<size_t>(l)];
    for_groups([&](const Group& g) { qkv(lw, l, g); });
    s_.pool_->barrier();
    attention(l);
    s_.pool_->barrier();
    for_groups([&](const Group& g) {
      rows(lw.wo, plain_input(lw.wo, attn_ + g.t0 * dq_, g.T, dq_, g.small), g.small, x_ + g.t0 * d_, d_,
           /*accumulate=*/true, kernels::matmul_row_grain(lw.wo.type, dq_, g.kT()));
    });
    s_.pool_->barrier();
    ffn(lw);
  }
  if (plan_.n_out > 0) output();
}

void LlamaSession::run_plan(const BatchPlan& plan, float* logits_out) {
  const LlamaWeights& w = model_->weights();
  const int64_t d = model_->config().n_embd;
  float* const x = f32(layout_.x);
  for (int64_t t = 0; t < plan.n_tokens; ++t) kernels::get_row(w.token_embd, plan.tok[t].token, x + t * d);
  if (kv_policy().needs_scores()) {  // the new slots start with no attention received
    const LlamaConfig& c = model_->config();
    const int64_t budget = kv_policy().budget;
    for (int64_t r = 0; r < plan.n_runs; ++r) {
      float* const sc = scores(plan.runs[r].seq);
      for (int64_t row = 0; row < c.n_layer * c.n_head_kv; ++row) {
        std::fill_n(sc + row * budget + plan.runs[r].pos0, plan.runs[r].T, 0.0f);
      }
    }
  }
  pool_->run([&](int ith, int nth) {
    Job job(*this, plan, logits_out, ith, nth);
    job.run();
  });
}

}  // namespace mnemo
