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
ArenaLayout LlamaSession::arena_layout(const LlamaModel& model, int64_t n_batch) {
  const LlamaConfig& c = model.config();
  ArenaLayout a;
  const int64_t wmax = std::max({c.n_embd, c.n_embd_q(), c.n_ff});
  const int64_t dec_tokens = std::min<int64_t>(n_batch, kernels::kGemvMaxTokens);
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
  const int64_t round_rows = a.mixed_rounding ? n_batch : dec_tokens;
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
  shape.n_batch = std::min(shape.n_batch, shape.n_ctx);
  SessionLayout l;
  l.shape = shape;
  const uint64_t B = static_cast<uint64_t>(shape.n_batch), F = sizeof(float);
  uint64_t at = 0;
  bool ok = append_slice(&l.x, B * c.n_embd, F, &at) &&
            append_slice(&l.xn, B * std::max(c.n_embd, c.n_embd_q()), F, &at) &&
            append_slice(&l.q, B * c.n_embd_q(), F, &at) && append_slice(&l.attn, B * c.n_embd_q(), F, &at) &&
            append_slice(&l.hb, B * c.n_ff, F, &at) && append_slice(&l.hb2, B * c.n_ff, F, &at) &&
            append_slice(&l.logits, (shape.logits_all ? B : 1) * c.n_vocab, F, &at);
  uint64_t rope_floats = 0;
  ok = ok && !__builtin_mul_overflow(static_cast<uint64_t>(shape.n_ctx), static_cast<uint64_t>(c.rope.n_rot), &rope_floats) &&
       append_slice(&l.rope, rope_floats, F, &at);
  l.arena_layout = arena_layout(model, shape.n_batch);
  ok = ok && append_slice(&l.arena, static_cast<uint64_t>(shape.n_threads),
                          l.arena_layout.thread_bytes, &at);
  ok = ok && append_slice(&l.k_new, shape.type_k == KvType::kF32 ? 0 : B * c.n_embd_kv(), F, &at) &&
       append_slice(&l.v_new, shape.type_v == KvType::kF32 ? 0 : B * c.n_embd_kv(), F, &at);
  l.kv_bytes =
      KvCache::bytes_for(c.n_layer, shape.n_ctx, c.n_embd_kv(), shape.type_k, shape.type_v);
  if (!ok || l.kv_bytes == 0 || l.kv_bytes > (uint64_t{1} << 56)) {
    return out_of_range(str_printf("context size %lld with batch %lld: the buffers would exceed the address space",
                                   static_cast<long long>(shape.n_ctx), static_cast<long long>(shape.n_batch)));
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
  MNEMO_ASSIGN_OR_RETURN(s->kv_, KvCache::create(c.n_layer, layout.shape.n_ctx, c.n_embd_kv(),
                                                 layout.shape.type_k, layout.shape.type_v));
  s->max_logits_ = layout.shape.logits_all ? layout.shape.n_batch : 1;
  kernels::RopeParams rope = c.rope;
  rope.freq_factors = s->model_->weights().rope_freqs;  // Llama 3.1/3.2 rope_freqs.weight, or null
  kernels::rope_table(rope, layout.shape.n_ctx, s->f32(layout.rope));
  return s;
}

Status LlamaSession::forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits) {
  const LlamaConfig& c = model_->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return invalid_argument("forward: no tokens");
  if (pos < 0 || pos > n_past_) {
    return invalid_argument(str_printf("forward: position %lld leaves a gap after %lld cached positions",
                                       static_cast<long long>(pos), static_cast<long long>(n_past_)));
  }
  if (pos + n > n_ctx()) {
    return out_of_range(str_printf("forward: %lld tokens at position %lld exceed the context size %lld",
                                   static_cast<long long>(n), static_cast<long long>(pos),
                                   static_cast<long long>(n_ctx())));
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
  const int64_t n_batch = layout_.shape.n_batch;
  for (int64_t done = 0; done < n; done += n_batch) {
    const int64_t m = std::min(n_batch, n - done);
    const bool last_chunk = done + m == n;
    float* const logits = f32(layout_.logits);
    float* out = all_logits ? logits + static_cast<size_t>(done) * c.n_vocab : logits;
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
  const int64_t d = c.n_embd, dq = c.n_embd_q(), dkv = c.n_embd_kv(), ff = c.n_ff, hd = c.head_dim;
  float* const x = f32(layout_.x);
  for (int64_t t = 0; t < m; ++t) kernels::get_row(w.token_embd, tokens[t], x + t * d);

  const kernels::AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim};
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  const int64_t n_rot = c.rope.n_rot;
  ThreadPool& pool = *pool_;

  pool.run([&](int ith, int nth) {
    uint8_t* const slice = block_ + layout_.arena.offset + static_cast<size_t>(ith) * layout_.arena_layout.thread_bytes;
    float* const my_f32 = reinterpret_cast<float*>(slice + layout_.arena_layout.dec_f32_off);
    uint8_t* const my_q8 = slice + layout_.arena_layout.dec_q8_off;
    void* const scratch = slice + layout_.arena_layout.scratch_off;
    const int64_t q8_stride = static_cast<int64_t>(layout_.arena_layout.q8_stride);

    // A matmul input and what its buffers hold. Every weight gets its activations rounded as
    // llama.cpp rounds them for its type (kernels::activation_rounding): f32 rows in x (rounded
    // as `x_rounding` says) or Q8 rows in this thread's my_q8.
    struct Input {
      const float* x = nullptr;   // T rows of width n, row stride n
      int64_t T = 0, n = 0;
      kernels::ActRounding x_rounding = kernels::ActRounding::kF32;
      bool x_private = false;     // x is this thread's own (decode) buffer
      int q8_held = -1;           // ActRounding held in my_q8 for these rows, -1: none
      int round_held = -1;        // ActRounding held in my_round for these rows, -1: none
    };
    float* const my_round = reinterpret_cast<float*>(slice + layout_.arena_layout.round_off);
    using kernels::ActRounding;
    auto is_q8 = [](ActRounding r) { return r == ActRounding::kQ8x32 || r == ActRounding::kQ8x256; };

    // The MatmulArgs for W on `in`, converting this thread's copy when W wants other rows.
    auto args_for = [&](const TensorView& W, Input& in) {
      kernels::MatmulArgs a;
      a.T = in.T;
      a.ldx = in.n;
      a.x = in.x;
      const ActRounding r = kernels::activation_rounding(W.type);
      if (kernels::matmul_uses_q8(W.type, in.T)) {
        MNEMO_DCHECK(is_q8(r) || r == ActRounding::kF32);  // kF32: mnemo's own types (Q8 rows of 32)
        const ActRounding qr = is_q8(r) ? r : ActRounding::kQ8x32;
        if (in.q8_held != static_cast<int>(qr)) {
          MNEMO_DCHECK(in.x_rounding == ActRounding::kF32);
          for (int64_t t = 0; t < in.T; ++t) kernels::quantize_q8(in.x + t * in.n, in.n, my_q8 + t * q8_stride, qr);
          in.q8_held = static_cast<int>(qr);
        }
        a.xq = my_q8;
        a.ldq = q8_stride;
      } else if (r != in.x_rounding) {
        MNEMO_DCHECK(in.x_rounding == ActRounding::kF32);
        if (in.round_held != static_cast<int>(r)) {
          for (int64_t t = 0; t < in.T; ++t) kernels::round_activations(r, in.x + t * in.n, in.n, my_round + t * in.n);
          in.round_held = static_cast<int>(r);
        }
        a.x = my_round;
      }
      return a;
    };

    // Matmul input: T rows of RMSNorm(src) * norm for the given consumers. Decode: computed by
    // every thread into its own buffers. Prefill: split by token into xn_, then a barrier. When
    // all consumers round alike the rounding is done here, once.
    auto norm_input = [&](const float* src, int64_t T, const float* norm,
                          std::initializer_list<const TensorView*> consumers) {
      Input in;
      in.T = T;
      in.n = d;
      bool uniform = true, any_q8 = false;
      const ActRounding r0 = kernels::activation_rounding((*consumers.begin())->type);
      for (const TensorView* v : consumers) {
        uniform &= kernels::activation_rounding(v->type) == r0;
        any_q8 |= kernels::matmul_uses_q8(v->type, T);
      }
      if (T <= kernels::kGemvMaxTokens) {
        in.x = my_f32;
        in.x_private = true;
        const bool all_q8 = any_q8 && uniform && is_q8(r0) && [&] {
          for (const TensorView* v : consumers) {
            if (!kernels::matmul_uses_q8(v->type, T)) return false;
          }
          return true;
        }();
        if (all_q8) {
          // The fused path: only the Q8 rows are needed.
          for (int64_t t = 0; t < T; ++t) {
            kernels::rmsnorm_q8(src + t * d, norm, c.rms_eps, d, nullptr, my_q8 + t * q8_stride, r0);
          }
          in.q8_held = static_cast<int>(r0);
        } else {
          for (int64_t t = 0; t < T; ++t) kernels::rmsnorm(src + t * d, norm, c.rms_eps, d, my_f32 + t * d);
          if (uniform && !any_q8 && r0 != ActRounding::kF32) {
            for (int64_t t = 0; t < T; ++t) kernels::round_activations(r0, my_f32 + t * d, d, my_f32 + t * d);
            in.x_rounding = r0;
          }
        }
      } else {
        MNEMO_DCHECK(!any_q8);
        int64_t t0, t1;
        ThreadPool::split_range(T, 1, ith, nth, &t0, &t1);
        for (int64_t t = t0; t < t1; ++t) {
          kernels::rmsnorm(src + t * d, norm, c.rms_eps, d, f32(layout_.xn) + t * d);
          if (uniform && r0 != ActRounding::kF32) kernels::round_activations(r0, f32(layout_.xn) + t * d, d, f32(layout_.xn) + t * d);
        }
        pool.barrier();
        in.x = f32(layout_.xn);
        if (uniform) in.x_rounding = r0;
        MNEMO_DCHECK(uniform || layout_.arena_layout.mixed_rounding);  // my_round then holds n_batch rows
      }
      return in;
    };
    // Matmul input: T rows of width n at src (complete, after a barrier), for W alone. Decode:
    // each thread rounds or quantizes a copy for itself. Prefill: rounded in place, split by
    // token, then a barrier (src is read by this matmul only).
    auto plain_input = [&](const TensorView& W, float* src, int64_t T, int64_t n) {
      Input in;
      in.x = src;
      in.T = T;
      in.n = n;
      const ActRounding r = kernels::activation_rounding(W.type);
      if (T > kernels::kGemvMaxTokens && r != ActRounding::kF32 && !kernels::matmul_uses_q8(W.type, T)) {
        int64_t t0, t1;
        ThreadPool::split_range(T, 1, ith, nth, &t0, &t1);
        for (int64_t t = t0; t < t1; ++t) kernels::round_activations(r, src + t * n, n, src + t * n);
        pool.barrier();
        in.x_rounding = r;
      }
      return args_for(W, in);
    };
    // Rows of W split over the threads in units of `grain`, written (or added) to y. The grain is
    // at least kernels::matmul_row_grain of every product sharing the split, so that the results
    // do not depend on the thread count.
    auto rows = [&](const TensorView& W, kernels::MatmulArgs a, float* y, int64_t ldy, bool accumulate, int64_t grain) {
      a.y = y;
      a.ldy = ldy;
      a.accumulate = accumulate;
      int64_t r0, r1;
      ThreadPool::split_range(W.n_rows(), grain, ith, nth, &r0, &r1);
      kernels::matmul_rows(W, a, r0, r1, scratch);
      return std::pair<int64_t, int64_t>(r0, r1);
    };

    // K and V of the new tokens: f32 rows written straight into an F32 cache (rows of dkv floats
    // from position pos on), else into k_new/v_new (n_batch, dkv) and converted per head.
    const bool k_direct = kv_.type_k() == KvType::kF32, v_direct = kv_.type_v() == KvType::kF32;
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const LlamaLayerWeights& lw = w.layers[static_cast<size_t>(l)];
      float* const k_dst =
          k_direct ? reinterpret_cast<float*>(kv_.k_row(l, pos)) : f32(layout_.k_new);
      float* const v_dst =
          v_direct ? reinterpret_cast<float*>(kv_.v_row(l, pos)) : f32(layout_.v_new);

      // Q, K, V for this thread's heads, then biases and RoPE on them, then K and V into the cache
      // rows of their positions (converted to the cache's type by the thread that computed them).
      {
        Input in = norm_input(x, m, lw.attn_norm, {&lw.wq, &lw.wk, &lw.wv});
        int64_t u0, u1;
        // The split: units of g heads of Q, K and V. g = 1, except where a product goes to
        // OpenBLAS in fixed row chunks (kernels::matmul_fixed_chunk): then a unit is the fewest
        // whole heads that span a multiple of the chunk, so that no chunk is cut by a thread
        // boundary and the results do not depend on the thread count.
        int64_t g = 1;
        for (const TensorView* W : {&lw.wq, &lw.wk, &lw.wv}) {
          const int64_t chunk = kernels::matmul_fixed_chunk(W->type, W->ne[0], m);
          g = std::max(g, chunk / std::gcd(chunk, hd));
        }
        const int64_t q_units = (c.n_head + g - 1) / g, kv_units = (c.n_head_kv + g - 1) / g;
        ThreadPool::split_range(q_units + 2 * kv_units, 1, ith, nth, &u0, &u1);
        // convert: y holds f32 rows to be converted into the cache's K or V rows (kNone: y is
        // the destination itself).
        enum class Convert { kNone, kK, kV };
        auto part = [&](const TensorView& W, int64_t first_unit, int64_t n_heads, float* y,
                        int64_t ldy, const float* bias, bool rope, Convert convert) {
          const int64_t h0 = std::clamp((u0 - first_unit) * g, int64_t{0}, n_heads);
          const int64_t h1 = std::clamp((u1 - first_unit) * g, int64_t{0}, n_heads);
          if (h0 >= h1) return;
          kernels::MatmulArgs a = args_for(W, in);
          a.y = y;
          a.ldy = ldy;
          kernels::matmul_rows(W, a, h0 * hd, h1 * hd, scratch);
          for (int64_t t = 0; t < m; ++t) {
            float* row = y + t * ldy + h0 * hd;
            if (bias != nullptr) kernels::add(row, bias + h0 * hd, (h1 - h0) * hd);
            if (rope) {
              kernels::rope_with_table(row, h1 - h0, hd, f32(layout_.rope) + (pos + t) * n_rot,
                                       c.rope);
            }
            if (convert == Convert::kK) kv_.store_k(l, pos + t, h0 * hd, (h1 - h0) * hd, row);
            if (convert == Convert::kV) kv_.store_v(l, pos + t, h0 * hd, (h1 - h0) * hd, row);
          }
        };
        const bool bias = c.qkv_bias;
        part(lw.wq, 0, c.n_head, f32(layout_.q), dq, bias ? lw.bq : nullptr, true, Convert::kNone);
        part(lw.wk, q_units, c.n_head_kv, k_dst, dkv, bias ? lw.bk : nullptr, true,
             k_direct ? Convert::kNone : Convert::kK);
        part(lw.wv, q_units + kv_units, c.n_head_kv, v_dst, dkv, bias ? lw.bv : nullptr, false,
             v_direct ? Convert::kNone : Convert::kV);
      }
      pool.barrier();
      kernels::attention_part(f32(layout_.q), m, pos, kv_.rows(l), shape, scale, f32(layout_.attn),
                              ith, nth);
      pool.barrier();
      rows(lw.wo, plain_input(lw.wo, f32(layout_.attn), m, dq), x, d, /*accumulate=*/true,
           kernels::matmul_row_grain(lw.wo.type, dq, m));
      pool.barrier();

      // Feed-forward: this thread's rows of gate and up, SwiGLU on them, then (after the barrier)
      // its rows of down added into the residual.
      {
        Input in = norm_input(x, m, lw.ffn_norm, {&lw.ffn_gate, &lw.ffn_up});
        const int64_t grain = std::max({int64_t{32}, kernels::matmul_row_grain(lw.ffn_gate.type, d, m),
                                        kernels::matmul_row_grain(lw.ffn_up.type, d, m)});
        const auto [r0, r1] = rows(lw.ffn_gate, args_for(lw.ffn_gate, in), f32(layout_.hb), ff, false, grain);
        rows(lw.ffn_up, args_for(lw.ffn_up, in), f32(layout_.hb2), ff, false, grain);
        for (int64_t t = 0; t < m && r0 < r1; ++t) {
          kernels::swiglu(f32(layout_.hb) + t * ff + r0, f32(layout_.hb2) + t * ff + r0, r1 - r0, f32(layout_.hb) + t * ff + r0);
        }
      }
      pool.barrier();
      rows(lw.ffn_down, plain_input(lw.ffn_down, f32(layout_.hb), m, ff), x, d, /*accumulate=*/true,
           kernels::matmul_row_grain(lw.ffn_down.type, ff, m));
      pool.barrier();
    }

    if (logits_out == nullptr) return;
    const int64_t first = all ? 0 : m - 1;
    Input in = norm_input(x + first * d, m - first, w.output_norm, {&w.output});
    rows(w.output, args_for(w.output, in), logits_out, c.n_vocab, false,
         kernels::matmul_row_grain(w.output.type, d, m - first));
  });
}

std::span<const float> LlamaSession::logits(int64_t i) const {
  const int64_t nv = model_->config().n_vocab;
  if (i < 0) i = n_logits_ - 1;
  MNEMO_CHECK(i >= 0 && i < n_logits_);
  return {f32(layout_.logits) + static_cast<size_t>(i * nv), static_cast<size_t>(nv)};
}

}  // namespace mnemo
