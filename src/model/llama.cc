#include "model/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <numeric>
#include <utility>

#include "base/strings.h"
#include "base/thread_pool.h"
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

namespace {
size_t round64(size_t b) { return (b + 63) / 64 * 64; }
}  // namespace

// The arena: per thread, decode inputs (f32 and Q8 rows of up to kGemvMaxTokens tokens of the
// widest matmul input), rounded inputs, and the matmul scratch for any weight at any batch size.
ArenaLayout LlamaSession::arena_layout(const LlamaModel& model, int64_t n_batch, int64_t decode_rows) {
  const LlamaConfig& c = model.config();
  ArenaLayout a;
  const int64_t wmax = std::max({c.n_embd, c.n_embd_q(), c.n_ff});
  const int64_t dec_tokens = decode_rows;
  a.decode_rows = decode_rows;
  a.q8_stride = kernels::q8_row_bytes((wmax + kernels::kQ8Block - 1) / kernels::kQ8Block * kernels::kQ8Block);
  const LlamaWeights& w = model.weights();
  size_t scratch = 0;
  auto need = [&](const TensorView& t) {
    for (int64_t T : {dec_tokens, static_cast<int64_t>(n_batch)}) {
      scratch = std::max(scratch, kernels::matmul_thread_work_size(t.type, t.ne[0], T));
    }
  };
  auto rounding_differs = [](std::initializer_list<const TensorView*> ws) {
    for (const TensorView* t : ws) {
      if (kernels::activation_rounding(t->type) != kernels::activation_rounding((*ws.begin())->type)) return true;
    }
    return false;
  };
  need(w.output);
  for (const LlamaLayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) need(*t);
    a.mixed_rounding |= rounding_differs({&l.wq, &l.wk, &l.wv}) || rounding_differs({&l.ffn_gate, &l.ffn_up});
  }
  const int64_t round_rows = a.mixed_rounding ? std::max(n_batch, dec_tokens) : dec_tokens;
  a.dec_f32_off = 0;
  a.round_off = round64(static_cast<size_t>(dec_tokens * wmax) * sizeof(float));
  a.dec_q8_off = a.round_off + round64(static_cast<size_t>(round_rows * wmax) * sizeof(float));
  a.scratch_off = a.dec_q8_off + static_cast<size_t>(dec_tokens) * a.q8_stride;
  a.thread_bytes = round64(a.scratch_off + scratch);
  return a;
}

namespace {

// Appends a slice of `count` elements of `elem` bytes to a layout being built; false on overflow.
bool append_slice(SessionLayout::Slice* slice, uint64_t count, uint64_t elem, uint64_t* cursor) {
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(count, elem, &bytes) || bytes > (uint64_t{1} << 56)) return false;
  slice->offset = static_cast<size_t>(*cursor);
  slice->bytes = static_cast<size_t>(bytes);
  *cursor = round64(*cursor + bytes);
  return true;
}

}  // namespace

Expected<SessionLayout> LlamaSession::layout(const LlamaModel& model, SessionShape shape) {
  if (shape.n_ctx <= 0) {
    return invalid_argument(str_printf("context size: expected a positive number of positions, got %lld",
                                       static_cast<long long>(shape.n_ctx)));
  }
  if (shape.n_batch <= 0) {
    return invalid_argument(str_printf("batch size: expected a positive number of tokens, got %lld",
                                       static_cast<long long>(shape.n_batch)));
  }
  if (shape.n_threads <= 0) return invalid_argument("threads: expected at least 1");
  if (shape.n_seq_max <= 0 || shape.n_seq_max > kMaxSequences) {
    return invalid_argument(str_printf("sequences: expected 1 to %lld, got %lld", static_cast<long long>(kMaxSequences),
                                       static_cast<long long>(shape.n_seq_max)));
  }
  const LlamaConfig& c = model.config();
  for (const auto& [what, t] : {std::pair{"K", shape.type_k}, std::pair{"V", shape.type_v}}) {
    if (!kv_type_fits(t, c.head_dim)) {
      return invalid_argument(str_printf(
          "%s cache type %s: expected a head size that is a multiple of its block of %lld "
          "values, found head size %lld (use f32 or f16)",
          what, std::string(kv_type_name(t)).c_str(), static_cast<long long>(kv_type_block(t)),
          static_cast<long long>(c.head_dim)));
    }
  }
  shape.n_batch = std::min(shape.n_batch, max_batch(shape));
  SessionLayout l;
  l.shape = shape;
  const uint64_t B = static_cast<uint64_t>(shape.n_batch), F = sizeof(float);
  const uint64_t S = static_cast<uint64_t>(shape.n_seq_max);
  l.logits_rows = shape.logits_all ? shape.n_batch : std::min(shape.n_batch, shape.n_seq_max);
  uint64_t at = 0;
  bool ok = append_slice(&l.x, B * c.n_embd, F, &at) &&
            append_slice(&l.xn, B * std::max(c.n_embd, c.n_embd_q()), F, &at) &&
            append_slice(&l.q, B * c.n_embd_q(), F, &at) && append_slice(&l.attn, B * c.n_embd_q(), F, &at) &&
            append_slice(&l.hb, B * c.n_ff, F, &at) && append_slice(&l.hb2, B * c.n_ff, F, &at) &&
            append_slice(&l.logits, static_cast<uint64_t>(l.logits_rows) * c.n_vocab, F, &at);
  uint64_t rope_floats = 0;
  ok = ok && !__builtin_mul_overflow(static_cast<uint64_t>(shape.n_ctx), static_cast<uint64_t>(c.rope.n_rot), &rope_floats) &&
       append_slice(&l.rope, rope_floats, F, &at);
  // Tokens of small runs a thread holds at once: kGemvMaxTokens per sequence, at most 64 (3.5 MiB
  // per thread at n_ff 5632); a batch with more is run in several groups.
  const int64_t decode_rows = std::min<int64_t>(
      shape.n_batch, std::clamp<int64_t>(kernels::kGemvMaxTokens * shape.n_seq_max, kernels::kGemvMaxTokens, 64));
  l.arena_layout = arena_layout(model, shape.n_batch, decode_rows);
  ok = ok && append_slice(&l.arena, static_cast<uint64_t>(shape.n_threads), l.arena_layout.thread_bytes, &at);
  ok = ok && append_slice(&l.k_new, shape.type_k == KvType::kF32 ? 0 : B * c.n_embd_kv(), F, &at) &&
       append_slice(&l.v_new, shape.type_v == KvType::kF32 ? 0 : B * c.n_embd_kv(), F, &at);
  ok = ok && append_slice(&l.plan_tok, B, sizeof(BatchToken), &at) &&
       append_slice(&l.plan_runs, 2 * std::min(B, S), sizeof(BatchRun), &at) &&
       append_slice(&l.plan_out, B, sizeof(int32_t), &at) && append_slice(&l.plan_entry, B, sizeof(int32_t), &at) &&
       append_slice(&l.plan_seq, S, sizeof(int32_t), &at);
  KvPolicyParams& pol = l.shape.kv_policy;
  if (pol.policy != KvPolicy::kFull) {
    MNEMO_RETURN_IF_ERROR(validate(pol, shape.n_ctx));
    if (pol.budget <= pol.min_budget()) {
      return out_of_range(str_printf("--kv-budget: the %s policy needs at least %lld slots (its minimum %lld + room "
                                     "for one token), found %lld",
                                     kv_policy_name(pol.policy), static_cast<long long>(pol.min_budget() + 1),
                                     static_cast<long long>(pol.min_budget()), static_cast<long long>(pol.budget)));
    }
    const uint64_t bud = static_cast<uint64_t>(pol.budget), hd = static_cast<uint64_t>(c.head_dim);
    ok = ok && append_slice(&l.kv_scores, S * static_cast<uint64_t>(kv_score_floats(pol, c.n_layer, c.n_head_kv)), F, &at) &&
         append_slice(&l.score_work, pol.needs_scores() ? static_cast<uint64_t>(shape.n_threads) * (bud + hd) : 0, F, &at) &&
         append_slice(&l.kv_compact, 2 * bud * static_cast<uint64_t>(c.n_embd_kv()) + hd, F, &at);
  }
  const KvCacheParams kp =
      KvCacheParams::typed(c.n_layer, shape.n_ctx, shape.n_seq_max, c.n_embd_kv(), shape.type_k, shape.type_v);
  l.kv_slot_bytes = KvCache::slot_bytes(kp);
  ok = ok && l.kv_slot_bytes != 0 && !__builtin_mul_overflow(l.kv_slot_bytes, S, &l.kv_bytes);
  if (shape.kv_pool_bytes != 0) l.kv_bytes = std::min(l.kv_bytes, shape.kv_pool_bytes);
  if (!ok || l.kv_bytes > (uint64_t{1} << 56)) {
    return out_of_range(str_printf("context size %lld with batch %lld and %lld sequences: the buffers would exceed the address space",
                                   static_cast<long long>(shape.n_ctx), static_cast<long long>(shape.n_batch),
                                   static_cast<long long>(shape.n_seq_max)));
  }
  l.block_bytes = static_cast<size_t>(at);
  return l;
}

Expected<std::unique_ptr<LlamaSession>> LlamaSession::create(std::shared_ptr<const LlamaModel> model, int64_t n_ctx,
                                                              int64_t n_batch, bool logits_all, ThreadPool* pool) {
  MNEMO_CHECK(model != nullptr && pool != nullptr);
  MNEMO_ASSIGN_OR_RETURN(SessionLayout l, layout(*model, {n_ctx, n_batch, logits_all, pool->size()}));
  AlignedBlock block(l.block_bytes);
  MNEMO_ASSIGN_OR_RETURN(auto s, create(std::move(model), l, pool, block.span()));
  s->owned_block_ = std::move(block);
  return s;
}

Expected<std::unique_ptr<LlamaSession>> LlamaSession::create(std::shared_ptr<const LlamaModel> model,
                                                              const SessionLayout& layout, ThreadPool* pool,
                                                              std::span<uint8_t> block) {
  MNEMO_CHECK(model != nullptr && pool != nullptr);
  MNEMO_CHECK(layout.shape.n_threads == pool->size());
  MNEMO_CHECK(block.size() >= layout.block_bytes && reinterpret_cast<uintptr_t>(block.data()) % 64 == 0);
  const LlamaConfig& c = model->config();
  std::unique_ptr<LlamaSession> s(new LlamaSession());
  s->model_ = std::move(model);
  s->pool_ = pool;
  s->layout_ = layout;
  s->block_ = block.data();
  KvCacheParams kp = KvCacheParams::typed(c.n_layer, layout.shape.n_ctx, layout.shape.n_seq_max, c.n_embd_kv(),
                                          layout.shape.type_k, layout.shape.type_v);
  kp.commit_limit = layout.kv_bytes;
  MNEMO_ASSIGN_OR_RETURN(s->kv_, KvCache::create(kp));
  s->seq_len_.assign(static_cast<size_t>(layout.shape.n_seq_max), -1);
  s->seq_len_[0] = 0;
  std::fill_n(s->at<int32_t>(layout.plan_seq), layout.shape.n_seq_max, -1);
  kernels::RopeParams rope = c.rope;
  rope.freq_factors = s->model_->weights().rope_freqs;  // Llama 3.1/3.2 rope_freqs.weight, or null
  kernels::rope_table(rope, layout.shape.n_ctx, s->f32(layout.rope));
  if (layout.shape.kv_policy.policy != KvPolicy::kFull) {
    s->compactor_ = std::make_unique<KvCompactor>(layout.shape.kv_policy.budget, c.head_dim);
  }
  return s;
}

Status LlamaSession::shift_sequence(int32_t seq, int64_t n_keep, int64_t n_discard) {
  const int64_t n = sequence_length(seq);
  if (n < 0) return invalid_argument(str_printf("context shift: sequence %d is not open", seq));
  if (kv_policy().policy != KvPolicy::kFull) {
    return invalid_argument(str_printf("context shift: the full policy's; the %s policy compacts instead",
                                       kv_policy_name(kv_policy().policy)));
  }
  if (n_keep < 0 || n_discard <= 0 || n_keep + n_discard > n) {
    return out_of_range(str_printf("context shift: keep %lld and drop %lld of the %lld positions sequence %d holds",
                                   static_cast<long long>(n_keep), static_cast<long long>(n_discard),
                                   static_cast<long long>(n), seq));
  }
  const LlamaConfig& c = model_->config();
  const int64_t dkv = c.n_embd_kv();
  kernels::RopeParams rope = c.rope;
  rope.freq_factors = model_->weights().rope_freqs;
  // An F32 K row is re-rotated in place; another type goes through k_new's first row (f32 staging,
  // free between forward passes).
  float* const row = kv_.type_k() == KvType::kF32 ? nullptr : f32(layout_.k_new);
  const DType tk = kv_dtype(kv_.type_k());
  for (int64_t l = 0; l < c.n_layer; ++l) {
    for (int64_t j = n_keep + n_discard; j < n; ++j) {
      const int64_t to = j - n_discard;
      std::memcpy(kv_.v_row(seq, l, to), kv_.v_row(seq, l, j), kv_.v_row_bytes());
      float* k = row != nullptr ? row : reinterpret_cast<float*>(kv_.k_row(seq, l, to));
      if (row != nullptr) {
        kernels::dequantize_row(tk, kv_.k_row(seq, l, j), row, dkv);
      } else {
        std::memcpy(k, kv_.k_row(seq, l, j), kv_.k_row_bytes());
      }
      kernels::rope(k, c.n_head_kv, c.head_dim, -n_discard, rope);
      if (row != nullptr) kernels::kv_store_row(kv_.type_k(), row, dkv, kv_.k_row(seq, l, to));
    }
  }
  seq_len_[static_cast<size_t>(seq)] = n - n_discard;
  return Status::ok();
}

float* LlamaSession::scores(int32_t seq) const {
  const KvPolicyParams& p = kv_policy();
  if (!p.needs_scores()) return nullptr;
  const LlamaConfig& c = model_->config();
  return f32(layout_.kv_scores) + static_cast<size_t>(seq) * static_cast<size_t>(kv_score_floats(p, c.n_layer, c.n_head_kv));
}

namespace {
// compact_rows' RoPE re-rotation: a key head rotated by delta positions (RoPE's rotations compose:
// R(p + delta) = R(delta) R(p)), with the model's theta, rope dimensions and frequency factors.
struct RotateCtx {
  kernels::RopeParams rope;
  int64_t head_dim = 0;
};
void rotate_key(float* row, int64_t delta, const void* ctx) {
  const RotateCtx& r = *static_cast<const RotateCtx*>(ctx);
  kernels::rope(row, 1, r.head_dim, delta, r.rope);
}
}  // namespace

// Compacts one sequence's cache to `target` slots: for every layer its K and V rows are
// dequantized into the f32 scratch (kv_compact), each KV head follows its own plan (K re-rotated by
// its slot change, V merged alike, scores summed), and the rows are stored back in the cache's
// types. Positions are cache positions: slot j's key ends up rotated for position j.
Status LlamaSession::compact_sequence(int32_t seq, int64_t target) {
  const KvPolicyParams& p = kv_policy();
  const int64_t n = sequence_length(seq);
  if (p.policy == KvPolicy::kFull || compactor_ == nullptr) return invalid_argument("compact: the full policy keeps every slot");
  if (n < 0) return invalid_argument(str_printf("compact: sequence %d is not open", seq));
  if (n <= target) return Status::ok();
  if (target < p.min_budget()) {
    return out_of_range(str_printf("compact: %lld slots is below the %s policy's minimum %lld", static_cast<long long>(target),
                                   kv_policy_name(p.policy), static_cast<long long>(p.min_budget())));
  }
  const LlamaConfig& c = model_->config();
  const int64_t dkv = c.n_embd_kv(), hd = c.head_dim;
  float* const K = f32(layout_.kv_compact);
  float* const V = K + p.budget * dkv;
  float* const tmp = V + p.budget * dkv;
  RotateCtx rc{c.rope, hd};
  rc.rope.freq_factors = model_->weights().rope_freqs;
  const DType tk = kv_dtype(kv_.type_k()), tv = kv_dtype(kv_.type_v());
  float* const sc = scores(seq);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    for (int64_t j = 0; j < n; ++j) {
      kernels::dequantize_row(tk, kv_.k_row(seq, l, j), K + j * dkv, dkv);
      kernels::dequantize_row(tv, kv_.v_row(seq, l, j), V + j * dkv, dkv);
    }
    for (int64_t h = 0; h < c.n_head_kv; ++h) {
      float* const hs = sc != nullptr ? sc + (l * c.n_head_kv + h) * p.budget : nullptr;
      const std::span<const KvGroup> plan = compactor_->plan(p, n, target, hs, K + h * hd, dkv);
      compact_rows(plan, *compactor_, K + h * hd, dkv, hd, rotate_key, &rc, tmp);
      compact_rows(plan, *compactor_, V + h * hd, dkv, hd, nullptr, nullptr, tmp);
      if (hs != nullptr) compact_scores(plan, hs);
    }
    for (int64_t j = 0; j < target; ++j) {
      kernels::kv_store_row(kv_.type_k(), K + j * dkv, dkv, kv_.k_row(seq, l, j));
      kernels::kv_store_row(kv_.type_v(), V + j * dkv, dkv, kv_.v_row(seq, l, j));
    }
  }
  seq_len_[static_cast<size_t>(seq)] = target;
  ++n_compactions_;
  return Status::ok();
}

BatchPlan LlamaSession::empty_plan() const {
  BatchPlan p;
  p.tok = at<BatchToken>(layout_.plan_tok);
  p.runs = at<BatchRun>(layout_.plan_runs);
  p.out_tok = at<int32_t>(layout_.plan_out);
  p.entry_row = at<int32_t>(layout_.plan_entry);
  return p;
}

// Pages for every run's positions; an error (the KV pool exhausted) before anything is computed
// or committed.
Status LlamaSession::commit_kv(const BatchPlan& plan) {
  uint64_t need = 0;
  for (int64_t r = 0; r < plan.n_runs; ++r) need += kv_.extra_for(plan.runs[r].seq, plan.runs[r].pos0 + plan.runs[r].T);
  if (need > kv_.pool_left()) {
    return resource_exhausted(str_printf(
        "KV cache: the batch needs %s more for its %lld sequences but %s of the %s KV pool is left (end or "
        "shorten sequences, or give the KV cache more of the budget)",
        format_bytes(need).c_str(), static_cast<long long>(plan.n_runs), format_bytes(kv_.pool_left()).c_str(),
        format_bytes(kv_.commit_limit()).c_str()));
  }
  for (int64_t r = 0; r < plan.n_runs; ++r) {
    MNEMO_RETURN_IF_ERROR(kv_.commit(plan.runs[r].seq, plan.runs[r].pos0 + plan.runs[r].T));
  }
  return Status::ok();
}

Status LlamaSession::forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits, int32_t seq) {
  const LlamaConfig& c = model_->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return invalid_argument("forward: no tokens");
  if (seq < 0 || seq >= n_seq_max() || seq_len_[static_cast<size_t>(seq)] < 0) {
    return invalid_argument(str_printf("forward: sequence %d is not open", seq));
  }
  const int64_t held = seq_len_[static_cast<size_t>(seq)];
  if (pos < 0 || pos > held) {
    return invalid_argument(str_printf("forward: position %lld leaves a gap after %lld cached positions",
                                       static_cast<long long>(pos), static_cast<long long>(held)));
  }
  const bool budgeted = kv_policy().policy != KvPolicy::kFull;
  if (!budgeted && pos + n > n_ctx()) {
    return out_of_range(str_printf("forward: %lld tokens at position %lld exceed the context size %lld (a KV budget "
                                   "policy, --kv-policy, or a context shift would make room)",
                                   static_cast<long long>(n), static_cast<long long>(pos),
                                   static_cast<long long>(n_ctx())));
  }
  const int64_t max_rows = layout_.shape.logits_all ? layout_.logits_rows : 1;
  if (all_logits && n > max_rows) {
    return invalid_argument(str_printf("forward: logits for %lld tokens requested, the session keeps at most %lld",
                                       static_cast<long long>(n), static_cast<long long>(max_rows)));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[static_cast<size_t>(i)] < 0 || tokens[static_cast<size_t>(i)] >= c.n_vocab) {
      return out_of_range(str_printf("forward: token id %d outside the vocabulary [0, %lld)",
                                     tokens[static_cast<size_t>(i)], static_cast<long long>(c.n_vocab)));
    }
  }
  if (budgeted) return forward_budgeted(tokens, pos, all_logits, seq);
  MNEMO_RETURN_IF_ERROR(kv_.commit(seq, pos + n));
  seq_len_[static_cast<size_t>(seq)] = pos;
  batch_entries_ = -1;
  const int64_t n_batch = layout_.shape.n_batch;
  BatchPlan plan = empty_plan();
  for (int64_t done = 0; done < n; done += n_batch) {
    const int64_t m = std::min(n_batch, n - done);
    const bool last_chunk = done + m == n;
    plan_run(tokens.data() + done, m, seq, pos + done, all_logits, last_chunk, &plan);
    float* const logits = f32(layout_.logits);
    run_plan(plan, all_logits ? logits + static_cast<size_t>(done) * c.n_vocab : logits);
    seq_len_[static_cast<size_t>(seq)] = pos + done + m;
  }
  n_logits_ = all_logits ? n : 1;
  return Status::ok();
}

// forward() under a budget policy: steps of at most kv_step() tokens, each at the sequence's cache
// position; a step that would pass the budget first compacts the sequence to budget - kv_step().
Status LlamaSession::forward_budgeted(std::span<const int32_t> tokens, int64_t pos, bool all_logits, int32_t seq) {
  const KvPolicyParams& p = kv_policy();
  const int64_t n = static_cast<int64_t>(tokens.size()), step = std::min(layout_.shape.n_batch, kv_step(p));
  seq_len_[static_cast<size_t>(seq)] = pos;
  batch_entries_ = -1;
  BatchPlan plan = empty_plan();
  float* const logits = f32(layout_.logits);
  for (int64_t done = 0; done < n; done += step) {
    const int64_t m = std::min(step, n - done);
    int64_t at = seq_len_[static_cast<size_t>(seq)];
    if (at + m > p.budget) {
      MNEMO_RETURN_IF_ERROR(compact_sequence(seq, p.budget - kv_step(p)));
      at = seq_len_[static_cast<size_t>(seq)];
    }
    MNEMO_RETURN_IF_ERROR(kv_.commit(seq, at + m));
    plan_run(tokens.data() + done, m, seq, at, all_logits, done + m == n, &plan);
    run_plan(plan, all_logits ? logits + static_cast<size_t>(done) * model_->config().n_vocab : logits);
    seq_len_[static_cast<size_t>(seq)] = at + m;
  }
  n_logits_ = all_logits ? n : 1;
  return Status::ok();
}

Status LlamaSession::forward_batch(std::span<const BatchEntry> entries) {
  const LlamaConfig& c = model_->config();
  BatchPlan plan = empty_plan();
  BatchLimits lim{c.n_vocab, n_ctx(), n_batch(), n_seq_max(), layout_.logits_rows, seq_len_};
  MNEMO_RETURN_IF_ERROR(plan_batch(entries, lim, at<int32_t>(layout_.plan_seq), &plan));
  const KvPolicyParams& kp = kv_policy();
  for (int64_t r = 0; r < plan.n_runs && kp.policy != KvPolicy::kFull; ++r) {
    if (plan.runs[r].pos0 + plan.runs[r].T > kp.budget) {
      return out_of_range(str_printf("batch: sequence %d would pass its KV budget of %lld slots; a batch does not "
                                     "compact (evaluate the sequence alone, Context::eval(tokens), to compact it)",
                                     plan.runs[r].seq, static_cast<long long>(kp.budget)));
    }
  }
  MNEMO_RETURN_IF_ERROR(commit_kv(plan));
  run_plan(plan, f32(layout_.logits));
  for (int64_t r = 0; r < plan.n_runs; ++r) {
    seq_len_[static_cast<size_t>(plan.runs[r].seq)] = plan.runs[r].pos0 + plan.runs[r].T;
  }
  batch_entries_ = plan.n_tokens;
  n_logits_ = plan.n_out;
  return Status::ok();
}

Expected<int32_t> LlamaSession::open_sequence() {
  for (size_t s = 0; s < seq_len_.size(); ++s) {
    if (seq_len_[s] < 0) {
      seq_len_[s] = 0;
      return static_cast<int32_t>(s);
    }
  }
  return resource_exhausted(str_printf("sequences: all %lld of the context are open (close one, or create the context "
                                       "with more sequences)",
                                       static_cast<long long>(n_seq_max())));
}

Status LlamaSession::close_sequence(int32_t seq) {
  if (sequence_length(seq) < 0) return invalid_argument(str_printf("close sequence: sequence %d is not open", seq));
  seq_len_[static_cast<size_t>(seq)] = -1;
  kv_.release_from(seq, 0);
  return Status::ok();
}

Status LlamaSession::truncate_sequence(int32_t seq, int64_t n_pos) {
  const int64_t held = sequence_length(seq);
  if (held < 0) return invalid_argument(str_printf("truncate sequence: sequence %d is not open", seq));
  if (n_pos < 0 || n_pos > held) {
    return invalid_argument(str_printf("truncate sequence: expected a length in [0, %lld] for sequence %d, got %lld",
                                       static_cast<long long>(held), seq, static_cast<long long>(n_pos)));
  }
  seq_len_[static_cast<size_t>(seq)] = n_pos;
  kv_.release_from(seq, n_pos);
  return Status::ok();
}

Status LlamaSession::adopt_rows(int32_t seq, int64_t n_pos) {
  if (sequence_length(seq) < 0) return invalid_argument(str_printf("restore sequence: sequence %d is not open", seq));
  if (n_pos < 0 || n_pos > n_ctx()) {
    return out_of_range(str_printf("restore sequence: %lld positions do not fit the context of %lld",
                                   static_cast<long long>(n_pos), static_cast<long long>(n_ctx())));
  }
  seq_len_[static_cast<size_t>(seq)] = 0;
  kv_.release_from(seq, 0);
  MNEMO_RETURN_IF_ERROR(kv_.commit(seq, n_pos));
  seq_len_[static_cast<size_t>(seq)] = n_pos;
  batch_entries_ = -1;
  n_logits_ = 0;
  return Status::ok();
}

int64_t LlamaSession::sequence_length(int32_t seq) const {
  return seq >= 0 && seq < n_seq_max() ? seq_len_[static_cast<size_t>(seq)] : -1;
}

int64_t LlamaSession::n_seq_open() const {
  return std::count_if(seq_len_.begin(), seq_len_.end(), [](int64_t n) { return n >= 0; });
}

std::span<const float> LlamaSession::logits(int64_t i) const {
  const int64_t nv = model_->config().n_vocab;
  if (batch_entries_ >= 0) {  // after forward_batch: entry i
    MNEMO_CHECK(i >= 0 && i < batch_entries_);
    const int32_t row = at<int32_t>(layout_.plan_entry)[i];
    if (row < 0) return {};
    return {f32(layout_.logits) + static_cast<size_t>(row) * nv, static_cast<size_t>(nv)};
  }
  if (i < 0) i = n_logits_ - 1;
  MNEMO_CHECK(i >= 0 && i < n_logits_);
  return {f32(layout_.logits) + static_cast<size_t>(i * nv), static_cast<size_t>(nv)};
}

}  // namespace mnemo
