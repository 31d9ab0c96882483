#include "model/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/strings.h"
#include "kernels/kernels.h"

namespace mnemo {
namespace {

Status check_matrix(const char* what, int64_t layer, const TensorView& t, int64_t cols, int64_t rows) {
  std::string name = layer >= 0 ? str_printf("blk.%lld.%s", static_cast<long long>(layer), what) : what;
  if (t.data == nullptr) return corrupt(name + ": tensor missing");
  if (!t.is_matrix(cols, rows)) {
    return corrupt(str_printf("%s: expected shape [%lld, %lld], found [%lld, %lld] (%d dims)", name.c_str(),
                              static_cast<long long>(cols), static_cast<long long>(rows),
                              static_cast<long long>(t.ne[0]), static_cast<long long>(t.ne[1]), t.n_dims));
  }
  if (!traits(t.type).supported) {
    return unsupported(name + ": tensor type " + std::string(dtype_name(t.type)) + " is not supported");
  }
  return Status::ok();
}

Status check_vector(const char* what, int64_t layer, const float* v) {
  if (v != nullptr) return Status::ok();
  std::string name = layer >= 0 ? str_printf("blk.%lld.%s", static_cast<long long>(layer), what) : what;
  return corrupt(name + ": tensor missing");
}

}  // namespace

Expected<std::shared_ptr<const LlamaModel>> LlamaModel::create(LlamaConfig c, LlamaWeights w) {
  if (c.n_vocab <= 0 || c.n_embd <= 0 || c.n_layer <= 0 || c.n_head <= 0 || c.n_head_kv <= 0 ||
      c.head_dim <= 0 || c.n_ff <= 0) {
    return corrupt("model config: expected positive dimensions");
  }
  if (c.n_head % c.n_head_kv != 0) {
    return corrupt(str_printf("model config: head_count %lld is not a multiple of head_count_kv %lld",
                              static_cast<long long>(c.n_head), static_cast<long long>(c.n_head_kv)));
  }
  if (c.head_dim > 256) return unsupported(str_printf("model config: head size %lld > 256", static_cast<long long>(c.head_dim)));
  if (c.rope.n_rot <= 0 || c.rope.n_rot > c.head_dim || c.rope.n_rot % 2 != 0) {
    return corrupt(str_printf("model config: rope dimension %lld must be even and at most the head size %lld",
                              static_cast<long long>(c.rope.n_rot), static_cast<long long>(c.head_dim)));
  }
  if (static_cast<int64_t>(w.layers.size()) != c.n_layer) return corrupt("model: layer count mismatch");
  MNEMO_RETURN_IF_ERROR(check_matrix("token_embd.weight", -1, w.token_embd, c.n_embd, c.n_vocab));
  MNEMO_RETURN_IF_ERROR(check_matrix("output.weight", -1, w.output, c.n_embd, c.n_vocab));
  MNEMO_RETURN_IF_ERROR(check_vector("output_norm.weight", -1, w.output_norm));
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const LlamaLayerWeights& l = w.layers[static_cast<size_t>(i)];
    MNEMO_RETURN_IF_ERROR(check_vector("attn_norm.weight", i, l.attn_norm));
    MNEMO_RETURN_IF_ERROR(check_vector("ffn_norm.weight", i, l.ffn_norm));
    MNEMO_RETURN_IF_ERROR(check_matrix("attn_q.weight", i, l.wq, c.n_embd, c.n_embd_q()));
    MNEMO_RETURN_IF_ERROR(check_matrix("attn_k.weight", i, l.wk, c.n_embd, c.n_embd_kv()));
    MNEMO_RETURN_IF_ERROR(check_matrix("attn_v.weight", i, l.wv, c.n_embd, c.n_embd_kv()));
    MNEMO_RETURN_IF_ERROR(check_matrix("attn_output.weight", i, l.wo, c.n_embd_q(), c.n_embd));
    MNEMO_RETURN_IF_ERROR(check_matrix("ffn_gate.weight", i, l.ffn_gate, c.n_embd, c.n_ff));
    MNEMO_RETURN_IF_ERROR(check_matrix("ffn_up.weight", i, l.ffn_up, c.n_embd, c.n_ff));
    MNEMO_RETURN_IF_ERROR(check_matrix("ffn_down.weight", i, l.ffn_down, c.n_ff, c.n_embd));
    if (c.qkv_bias) {
      MNEMO_RETURN_IF_ERROR(check_vector("attn_q.bias", i, l.bq));
      MNEMO_RETURN_IF_ERROR(check_vector("attn_k.bias", i, l.bk));
      MNEMO_RETURN_IF_ERROR(check_vector("attn_v.bias", i, l.bv));
    }
  }
  return std::shared_ptr<const LlamaModel>(new LlamaModel(std::move(c), std::move(w)));
}

uint64_t LlamaModel::weight_bytes() const {
  const LlamaConfig& c = config_;
  uint64_t total = weights_.token_embd.n_bytes();
  if (!c.tied_output) total += weights_.output.n_bytes();
  total += static_cast<uint64_t>(c.n_embd) * sizeof(float);
  for (const LlamaLayerWeights& l : weights_.layers) {
    total += l.wq.n_bytes() + l.wk.n_bytes() + l.wv.n_bytes() + l.wo.n_bytes();
    total += l.ffn_gate.n_bytes() + l.ffn_up.n_bytes() + l.ffn_down.n_bytes();
    total += 2ull * static_cast<uint64_t>(c.n_embd) * sizeof(float);
    if (c.qkv_bias) total += static_cast<uint64_t>(c.n_embd_q() + 2 * c.n_embd_kv()) * sizeof(float);
  }
  return total;
}

Expected<std::unique_ptr<LlamaSession>> LlamaSession::create(std::shared_ptr<const LlamaModel> model, int64_t n_ctx,
                                                              int64_t n_batch, bool logits_all, ThreadPool* pool) {
  MNEMO_CHECK(model != nullptr && pool != nullptr);
  if (n_ctx <= 0) return invalid_argument(str_printf("context size must be positive, got %lld", static_cast<long long>(n_ctx)));
  if (n_batch <= 0) return invalid_argument("batch size must be positive");
  n_batch = std::min(n_batch, n_ctx);
  const LlamaConfig& c = model->config();
  std::unique_ptr<LlamaSession> s(new LlamaSession());
  s->model_ = model;
  s->pool_ = pool;
  s->n_ctx_ = n_ctx;
  s->n_batch_ = n_batch;
  MNEMO_ASSIGN_OR_RETURN(s->kv_, KvCache::create(c.n_layer, n_ctx, c.n_embd_kv()));
  const size_t B = static_cast<size_t>(n_batch);
  s->x_.resize(B * c.n_embd);
  s->xn_.resize(B * std::max(c.n_embd, c.n_embd_q()));
  s->q_.resize(B * c.n_embd_q());
  s->k_.resize(B * c.n_embd_kv());
  s->v_.resize(B * c.n_embd_kv());
  s->attn_.resize(B * c.n_embd_q());
  s->hb_.resize(B * c.n_ff);
  s->hb2_.resize(B * c.n_ff);
  s->max_logits_ = logits_all ? n_batch : 1;
  s->logits_.resize(static_cast<size_t>(s->max_logits_) * c.n_vocab);
  // One workspace large enough for the largest matmul of any weight in the model.
  const LlamaWeights& w = model->weights();
  size_t work = kernels::matmul_work_size(w.output.type, c.n_embd, n_batch);
  for (const LlamaLayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
      work = std::max(work, kernels::matmul_work_size(t->type, t->ne[0], n_batch));
    }
  }
  s->work_.resize(std::max<size_t>(work, 64));
  return s;
}

void LlamaSession::matmul(const TensorView& w, const float* x, int64_t n, float* y) {
  kernels::matmul(w, x, n, y, work_.data(), work_.size(), *pool_);
}

Status LlamaSession::forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits) {
  const LlamaConfig& c = model_->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return invalid_argument("forward: no tokens");
  if (pos < 0 || pos > n_past_) {
    return invalid_argument(str_printf("forward: position %lld leaves a gap after %lld cached positions",
                                       static_cast<long long>(pos), static_cast<long long>(n_past_)));
  }
  if (pos + n > n_ctx_) {
    return out_of_range(str_printf("forward: %lld tokens at position %lld exceed the context size %lld",
                                   static_cast<long long>(n), static_cast<long long>(pos),
                                   static_cast<long long>(n_ctx_)));
  }
  if (all_logits && n > max_logits_) {
    return invalid_argument(str_printf("forward: logits for %lld tokens requested, the session keeps at most %lld",
                                       static_cast<long long>(n), static_cast<long long>(max_logits_)));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[static_cast<size_t>(i)] < 0 || tokens[static_cast<size_t>(i)] >= c.n_vocab) {
      return out_of_range(str_printf("forward: token id %d outside the vocabulary [0, %lld)",
                                     tokens[static_cast<size_t>(i)], static_cast<long long>(c.n_vocab)));
    }
  }
  n_past_ = pos;
  for (int64_t done = 0; done < n; done += n_batch_) {
    const int64_t m = std::min(n_batch_, n - done);
    const bool last_chunk = done + m == n;
    float* out = all_logits ? logits_.data() + static_cast<size_t>(done) * c.n_vocab : logits_.data();
    forward_chunk(tokens.data() + done, m, pos + done, all_logits, last_chunk || all_logits ? out : nullptr);
    n_past_ = pos + done + m;
  }
  n_logits_ = all_logits ? n : 1;
  return Status::ok();
}

// tokens: m ids at positions pos..pos+m-1. logits_out: m rows (all) or 1 row (the last token);
// nullptr skips the output head.
void LlamaSession::forward_chunk(const int32_t* tokens, int64_t m, int64_t pos, bool all, float* logits_out) {
  const LlamaConfig& c = model_->config();
  const LlamaWeights& w = model_->weights();
  const int64_t d = c.n_embd, dq = c.n_embd_q(), dkv = c.n_embd_kv(), ff = c.n_ff;
  float* x = x_.data();
  float* xn = xn_.data();

  for (int64_t t = 0; t < m; ++t) kernels::get_row(w.token_embd, tokens[t], x + t * d);

  const kernels::AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim};
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LlamaLayerWeights& lw = w.layers[static_cast<size_t>(l)];
    // Attention block.
    for (int64_t t = 0; t < m; ++t) kernels::rmsnorm(x + t * d, lw.attn_norm, c.rms_eps, d, xn + t * d);
    matmul(lw.wq, xn, m, q_.data());
    // K and V go straight into the cache rows of their positions.
    float* k_dst = kv_.k_row(l, pos);
    float* v_dst = kv_.v_row(l, pos);
    matmul(lw.wk, xn, m, k_dst);
    matmul(lw.wv, xn, m, v_dst);
    for (int64_t t = 0; t < m; ++t) {
      float* q = q_.data() + t * dq;
      float* k = k_dst + t * dkv;
      if (c.qkv_bias) {
        kernels::add(q, lw.bq, dq);
        kernels::add(k, lw.bk, dkv);
        kernels::add(v_dst + t * dkv, lw.bv, dkv);
      }
      kernels::rope(q, c.n_head, c.head_dim, pos + t, c.rope);
      kernels::rope(k, c.n_head_kv, c.head_dim, pos + t, c.rope);
    }
    kernels::attention(q_.data(), m, pos, kv_.k(l), kv_.v(l), dkv, shape, scale, attn_.data(), *pool_);
    matmul(lw.wo, attn_.data(), m, xn);
    for (int64_t t = 0; t < m; ++t) kernels::add(x + t * d, xn + t * d, d);
    // Feed-forward block.
    for (int64_t t = 0; t < m; ++t) kernels::rmsnorm(x + t * d, lw.ffn_norm, c.rms_eps, d, xn + t * d);
    matmul(lw.ffn_gate, xn, m, hb_.data());
    matmul(lw.ffn_up, xn, m, hb2_.data());
    kernels::swiglu(hb_.data(), hb2_.data(), m * ff, hb_.data());
    matmul(lw.ffn_down, hb_.data(), m, xn);
    for (int64_t t = 0; t < m; ++t) kernels::add(x + t * d, xn + t * d, d);
  }

  if (logits_out == nullptr) return;
  const int64_t first = all ? 0 : m - 1;
  const int64_t rows = m - first;
  for (int64_t t = first; t < m; ++t) kernels::rmsnorm(x + t * d, w.output_norm, c.rms_eps, d, xn + (t - first) * d);
  matmul(w.output, xn, rows, logits_out);
}

std::span<const float> LlamaSession::logits(int64_t i) const {
  const int64_t nv = model_->config().n_vocab;
  if (i < 0) i = n_logits_ - 1;
  MNEMO_CHECK(i >= 0 && i < n_logits_);
  return {logits_.data() + static_cast<size_t>(i * nv), static_cast<size_t>(nv)};
}

}  // namespace mnemo
