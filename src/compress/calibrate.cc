#include "compress/calibrate.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace mnemo::compress {
namespace {

size_t round64(size_t b) { return (b + 63) / 64 * 64; }

}  // namespace

Expected<Activations> collect_activations(const LlamaConfig& c, const LlamaWeights& w, std::span<const int32_t> tokens,
                                          int32_t bos, int64_t ctx, int64_t max_rows, ThreadPool& pool) {
  if (ctx < 2) return invalid_argument("calibration: context must be at least 2 positions");
  const int64_t n_tok = static_cast<int64_t>(tokens.size());
  const int64_t d = c.n_embd, dq = c.n_embd_q(), dkv = c.n_embd_kv(), ff = c.n_ff;
  const int64_t T = std::min(ctx, n_tok);
  Activations out;
  out.layers.resize(static_cast<size_t>(c.n_layer));
  const int64_t stride = std::max<int64_t>(1, (n_tok + max_rows - 1) / std::max<int64_t>(1, max_rows));
  for (LayerActivations& l : out.layers) {
    l.attn_abs_sum.assign(static_cast<size_t>(d), 0.0);
    l.ffn_abs_sum.assign(static_cast<size_t>(d), 0.0);
  }

  // Buffers, sized once for a chunk of T tokens.
  std::vector<float> x(static_cast<size_t>(T * d)), xn(static_cast<size_t>(T * d)), q(static_cast<size_t>(T * dq));
  std::vector<float> k(static_cast<size_t>(T * dkv)), v(static_cast<size_t>(T * dkv)), att(static_cast<size_t>(T * dq));
  std::vector<float> tmp(static_cast<size_t>(T * std::max(d, ff))), g(static_cast<size_t>(T * ff)), u(static_cast<size_t>(T * ff));
  size_t work_bytes = 64;
  auto need = [&](const TensorView& t) {
    work_bytes = std::max(work_bytes, kernels::matmul_work_size(t.type, t.ne[0], T, pool.size()));
  };
  for (const LlamaLayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) need(*t);
  }
  std::vector<uint8_t> work(round64(work_bytes) + 64);
  auto mm = [&](const TensorView& W, const float* in, int64_t m, float* y) {
    kernels::matmul(W, in, m, y, work.data(), work.size(), pool);
  };
  const kernels::AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim};
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

  for (int64_t p0 = 0; p0 < n_tok; p0 += T) {
    const int64_t m = std::min(T, n_tok - p0);
    for (int64_t t = 0; t < m; ++t) {
      int32_t id = tokens[static_cast<size_t>(p0 + t)];
      if (t == 0 && bos >= 0) id = bos;
      if (id < 0 || id >= c.n_vocab) return corrupt("calibration: token id out of range");
      kernels::get_row(w.token_embd, id, x.data() + t * d);
    }
    // Rows of this chunk that are sampled (global index % stride == 0).
    auto record = [&](std::vector<double>& sums, std::vector<float>& rows, const float* src) {
      for (int64_t t = 0; t < m; ++t) {
        const float* r = src + t * d;
        for (int64_t j = 0; j < d; ++j) sums[static_cast<size_t>(j)] += std::fabs(r[j]);
        if ((p0 + t) % stride == 0 && static_cast<int64_t>(rows.size()) < max_rows * d) rows.insert(rows.end(), r, r + d);
      }
    };
    for (int64_t li = 0; li < c.n_layer; ++li) {
      const LlamaLayerWeights& l = w.layers[static_cast<size_t>(li)];
      LayerActivations& la = out.layers[static_cast<size_t>(li)];
      for (int64_t t = 0; t < m; ++t) kernels::rmsnorm(x.data() + t * d, l.attn_norm, c.rms_eps, d, xn.data() + t * d);
      record(la.attn_abs_sum, la.attn_rows, xn.data());
      mm(l.wq, xn.data(), m, q.data());
      mm(l.wk, xn.data(), m, k.data());
      mm(l.wv, xn.data(), m, v.data());
      for (int64_t t = 0; t < m; ++t) {
        if (l.bq != nullptr) kernels::add(q.data() + t * dq, l.bq, dq);
        if (l.bk != nullptr) kernels::add(k.data() + t * dkv, l.bk, dkv);
        if (l.bv != nullptr) kernels::add(v.data() + t * dkv, l.bv, dkv);
        kernels::rope(q.data() + t * dq, c.n_head, c.head_dim, t, c.rope);
        kernels::rope(k.data() + t * dkv, c.n_head_kv, c.head_dim, t, c.rope);
      }
      kernels::attention(q.data(), m, 0, k.data(), v.data(), dkv, shape, scale, att.data(), pool);
      mm(l.wo, att.data(), m, tmp.data());
      for (int64_t t = 0; t < m; ++t) kernels::add(x.data() + t * d, tmp.data() + t * d, d);
      for (int64_t t = 0; t < m; ++t) kernels::rmsnorm(x.data() + t * d, l.ffn_norm, c.rms_eps, d, xn.data() + t * d);
      record(la.ffn_abs_sum, la.ffn_rows, xn.data());
      mm(l.ffn_gate, xn.data(), m, g.data());
      mm(l.ffn_up, xn.data(), m, u.data());
      for (int64_t t = 0; t < m; ++t) kernels::swiglu(g.data() + t * ff, u.data() + t * ff, ff, g.data() + t * ff);
      mm(l.ffn_down, g.data(), m, tmp.data());
      for (int64_t t = 0; t < m; ++t) kernels::add(x.data() + t * d, tmp.data() + t * d, d);
    }
    out.n_tokens += m;
  }
  out.n_rows = c.n_layer > 0 ? static_cast<int64_t>(out.layers[0].attn_rows.size()) / d : 0;
  return out;
}

}  // namespace mnemo::compress
