// kernels/kernels.h: the compute primitives of inference, over views and raw float buffers.
//
// Kernels know nothing of models or files: they take TensorViews (any supported DType, stored as
// in GGUF) and float arrays with explicit shapes. SIMD code is chosen at run time (Highway's
// dynamic dispatch); every kernel has a scalar reference in kernels/reference.h that tests
// compare against on every compiled target.
//
// Determinism: every output element is computed by one thread in an order that does not depend on
// the number of threads, so results are bit-identical at any thread count (the OpenBLAS prefill
// path included: it runs single-threaded per worker with a K blocking fixed by the shape).
//
// Memory: no kernel allocates. Callers size a workspace once with *_work_size() and pass it in.
//
// Shapes use ggml's convention: a weight W with ne = {n, m} maps x (n floats) to y (m floats);
// row r of W (n elements, stored in W.type) produces y[r].
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"
#include "tensor/kv_type.h"
#include "tensor/tensor.h"

namespace mnemo::kernels {

// Name of the SIMD target that dispatch picked on this machine ("AVX2", "SSE4", "SCALAR", ...).
const char* active_target();

// ---------------------------------------------------------------------------------------------
// Dequantization

// dst[0..n) = the first n elements of a row stored as `type` at src. n must be a multiple of the
// type's block size.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// ---------------------------------------------------------------------------------------------
// Activation rounding: what llama.cpp does to the activations of a matrix product.
//
// ggml's CPU backend converts the f32 input of a product with weights of type W to W's
// "vec_dot_type" before any dot product (type_traits_cpu in ggml-cpu.c): F16 for F16, BF16 for
// BF16, Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1 and Q8_K for the K-quants; only F32 weights
// see f32 activations. mnemo rounds the activations the same way, so its products are llama.cpp's
// up to the order of f32 sums. The rounded value of x_i, as f32:
//   kF32:    x_i
//   kF16:    half(x_i), round to nearest even (F16C's vcvtps2ph)
//   kBF16:   bfloat16(x_i), round to nearest even, NaN kept (ggml's GGML_FP32_TO_BF16)
//   kQ8x32:  per block of 32 (ggml's AVX2 quantize_row_q8_0 / _q8_1; Q8_1's sum is not needed):
//              amax = max |x|,  d = half(amax / 127) as f32,  q_i = rne(x_i * (127 / amax)),
//              value d * q_i
//   kQ8x256: per block of 256 (ggml's quantize_row_q8_K_ref): m = the first x_j of largest |x|,
//              s = -127 / m,  q_i = min(127, rne(s * x_i)),  d = 1 / s,  value d * q_i
// A Q8 block whose max |x| is 0, or so small that its inverse or its half scale is 0 or infinite
// has d = 0 and q = 0; a block holding an infinity or NaN has q = 0 and a non-finite d, so
// products with it are NaN. As in ggml, a kQ8x32 block with max |x| > 127 * 65504 gets an infinite
// half scale (no working model has such activations).
enum class ActRounding : uint8_t { kF32, kF16, kBF16, kQ8x32, kQ8x256 };

// The rounding llama.cpp applies to the activations of a product with weights of `weight_type`.
ActRounding activation_rounding(DType weight_type);

// y[0..n) = x rounded as `r` says (n a multiple of the Q8 block for the Q8 roundings). y may alias x.
void round_activations(ActRounding r, const float* x, int64_t n, float* y);

// ---------------------------------------------------------------------------------------------
// 8-bit activations ("Q8 rows") for integer dot products with quantized weights.
//
// A row of n floats (n % kQ8Block == 0; n % 256 == 0 for kQ8x256) is stored in blocks of 32 as,
// per block b (the kQ8x256 rounding shares one d over 8 consecutive blocks):
//   d[b]  = the block's scale d of ActRounding (f32)
//   q_i   = the block's q_i of ActRounding            (int8 in [-127, 127])
//   s[b]  = d[b] * sum_i q_i                       (f32; for the offsets of Q4_K's minimums)
//   p8[j] = 8 * (q_2j + q_2j+1), j in [0, 16)      (int16; for the -8 / -32 offsets of Q4_0, Q6_K)
// so d[b] * q_i is exactly round_activations(r, x)_i.
// Layout of one row (q8_row_bytes(n) bytes, 64-byte aligned when the buffer is):
//   int8 qs[n] | int16 p8[n/2] | float d[n/32] | float s[n/32] | padding to a multiple of 64 bytes.
// The arithmetic is the same on every target, so quantize_q8 is bit-identical to quantize_q8_ref.
constexpr int64_t kQ8Block = 32;
size_t q8_row_bytes(int64_t n);
// r is kQ8x32 or kQ8x256.
void quantize_q8(const float* x, int64_t n, void* dst, ActRounding r);

// ---------------------------------------------------------------------------------------------
// Matrix products
//
// Y[t, r] = sum_i W[r, i] X[t, i] for tokens t in [0, T) and rows r of W. The kernel depends on
// W.type and T:
// - T <= kGemvMaxTokens (decode): matrix-vector products streaming W once. F32, F16 and BF16
//   weights are converted in registers and dotted with the f32 activations. Q8_0, Q4_0, Q4_K and
//   Q6_K weights are dotted in int8/int32 with Q8 rows of the activations (integer products per
//   32-element block are exact; each block's sum is scaled by d_w * d_x in f32), as llama.cpp
//   does. Other quantized types are dequantized in chunks and dotted in f32.
// - kGemvMaxTokens < T < kBlasMinTokens, or rows shorter than kBlasMinDepth (small prefill): a
//   blocked GEMM. Panels of W rows are dequantized to f32 once per call and reused by every token;
//   a register tile of 4 rows x 3 tokens accumulates f32 products.
// - T >= kBlasMinTokens on rows of >= kBlasMinDepth elements (prefill): OpenBLAS's SGEMM on f32
//   panels of W (kernels/blas.h), single-threaded per worker.
// The f32 dot of one (row, token) pair has one fixed order, shared by the GEMV and mnemo's GEMM:
// one vector accumulator of the target's f32 lane count N over i in steps of N with fused
// multiply-adds, its lanes summed by SumOfLanes, then the n % N tail added in index order. So for
// F32/F16/BF16 (and the chunk-dequantized types) decode and small prefills give bit-identical
// results; for Q8_0/Q4_0/Q4_K/Q6_K the decode path differs from the prefill path by the
// activation quantization only. OpenBLAS sums in its own (fixed) order: equal to rounding.
constexpr int64_t kGemvMaxTokens = 4;
// Tokens one matmul_rows call takes in the GEMV regime when the caller asks for it
// (MatmulArgs::gemv): the batched forward's tiles of decode tokens of several sequences.
constexpr int64_t kGemvTileTokens = 8;

// Whether matmul with weights of `type` and T tokens reads Q8 activations (MatmulArgs::xq), in
// the activation_rounding(type) format.
bool matmul_uses_q8(DType type, int64_t T);

struct MatmulArgs {
  int64_t T = 1;                  // tokens
  const float* x = nullptr;       // (T, n) f32, row stride ldx, already rounded as
                                  // activation_rounding(W.type) says; needed unless matmul_uses_q8
  int64_t ldx = 0;
  const void* xq = nullptr;       // T Q8 rows of q8_row_bytes(n), row stride ldq bytes; needed when
  int64_t ldq = 0;                // matmul_uses_q8
  float* y = nullptr;             // (T, m) f32, row stride ldy
  int64_t ldy = 0;
  bool accumulate = false;        // y += W x (one f32 add per element) instead of y = W x
  bool gemv = false;              // T <= kGemvTileTokens tokens in the GEMV regime whatever T: inputs
                                  // as for one token (Q8 rows where matmul_uses_q8(type, 1)), and
                                  // each token's results bit-identical to a one-token call
};

// Where a product's rows go to OpenBLAS they are multiplied in fixed chunks of kBlasRowChunk rows
// (kernels/blas.h), and a row's value depends on its chunk: callers that split rows over threads
// must cut at multiples of matmul_fixed_chunk for results that do not depend on the split. It is
// 1 (any split) for mnemo's own GEMV/GEMM.
int64_t matmul_fixed_chunk(DType type, int64_t n, int64_t T);
// Rows per unit when a caller splits a product's rows over threads: a multiple of the GEMV/GEMM row
// tiles (16) and of matmul_fixed_chunk.
int64_t matmul_row_grain(DType type, int64_t n, int64_t T);

// Bytes of per-thread scratch that matmul_rows needs for any T' <= T tokens (a dequantized panel
// for the GEMM).
size_t matmul_thread_work_size(DType type, int64_t n, int64_t T);

// Rows [r0, r1) of the product, on the calling thread. `thread_work` holds
// matmul_thread_work_size(W.type, n, T) bytes (64-byte aligned) used by this thread alone.
void matmul_rows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, void* thread_work);

// Bytes of workspace that matmul() needs for W's type, up to `max_tokens` input rows of length n
// and `n_threads` threads: the rounded input (Q8 or f32 rows) plus each thread's scratch.
size_t matmul_work_size(DType type, int64_t n, int64_t max_tokens, int n_threads = 1);

// Y[t, 0..m) = W X[t, 0..n) for t in [0, T): X is T x n row-major f32, Y is T x m row-major f32.
// T == 1 is the decode case (matrix-vector). W.ne = {n, m}. Rounds X as activation_rounding(W.type)
// says (into Q8 rows or f32 rows in `work`), then splits the rows statically over the pool. work_size >= matmul_work_size(W.type, n, T,
// pool.size()).
void matmul(const TensorView& W, const float* X, int64_t T, float* Y, void* work, size_t work_size,
            ThreadPool& pool);

// out[0..n) = row r of an embedding table E (ne = {n, rows}), dequantized.
void get_row(const TensorView& E, int64_t r, float* out);

// ---------------------------------------------------------------------------------------------
// Element-wise and normalization

// y = x / sqrt(mean(x^2) + eps) * w   (RMSNorm, Zhang & Sennrich 2019). y may alias x.
void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y);

// RMSNorm fused with activation quantization: y (if not null) as rmsnorm(), and q (if not null)
// the Q8 row of y in rounding r (kQ8x32 or kQ8x256), bit-identical to quantize_q8(rmsnorm(x), r).
void rmsnorm_q8(const float* x, const float* w, float eps, int64_t n, float* y, void* q, ActRounding r);

// x = x + y
void add(float* x, const float* y, int64_t n);

// sum_i a[i] * b[i], in a fixed order (two vector accumulators, then the tail; dot-inl.h
// DotF32x2): the dot of mnemo's own types' prefill and of training.
float dot(const float* a, const float* b, int64_t n);

// out = silu(gate) * up, silu(g) = g / (1 + exp(-g))   (SwiGLU, Shazeer 2020). out may alias gate.
void swiglu(const float* gate, const float* up, int64_t n, float* out);

// In-place softmax over x[0..n).
void softmax(float* x, int64_t n);

// ---------------------------------------------------------------------------------------------
// Rotary position embedding (Su et al. 2021), in place on one token's heads.
//
// x holds n_heads heads of head_dim floats; the first n_rot dims of each head are rotated.
// Pairs: normal (GPT-J / llama) style rotates (x[2i], x[2i+1]); NeoX style rotates
// (x[i], x[i + n_rot/2]). theta_i = pos * freq_scale * base^(-2i/n_rot) / freq_factors[i], the
// factors (when given) dividing each pair's angle in both styles, as ggml_rope_ext does with its
// third tensor (llama.cpp's rope_freqs.weight: Llama 3.1's "llama3" frequency scaling).
// n_rot must be even, <= head_dim and <= kRopeMaxRot. cos/sin are computed in double (reference.h).
constexpr int64_t kRopeMaxRot = 1024;
enum class RopeStyle { kNormal, kNeox };
struct RopeParams {
  int64_t n_rot = 0;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;  // linear scaling: 1 / factor
  RopeStyle style = RopeStyle::kNormal;
  // n_rot/2 positive, finite divisors of theta_i, or null (all 1). Not owned: the caller keeps
  // them alive while these params are used.
  const float* freq_factors = nullptr;
};
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const RopeParams& p);

// A table of the rotation of every position in [0, n_pos): n_pos * n_rot floats, position p's
// cos[0..n_rot/2) then sin[0..n_rot/2) at table + p * n_rot, the same values rope() computes.
// rope_with_table() then rotates exactly as rope() does, without computing angles.
void rope_table(const RopeParams& p, int64_t n_pos, float* table);
void rope_with_table(float* x, int64_t n_heads, int64_t head_dim, const float* table_row,
                     const RopeParams& p);

// ---------------------------------------------------------------------------------------------
// KV cache rows (tensor/kv_type.h)

// dst = the n values of src stored as t (n % kv_type_block(t) == 0; dst holds kv_row_bytes(t, n)),
// as ggml's CPU backend writes a cache of that type (ggml_cpy from f32):
//   F32:  copied.
//   F16:  rounded to nearest even (F16C's vcvtps2ph; base/fp16.h elsewhere, the same bits).
//   Q8_0: per block of 32, the kQ8x32 rounding of ActRounding (ggml's AVX2 quantize_row_q8_0):
//         d = half(amax / 127), q_i = rne(x_i * (127 / amax)); a block holding an infinity or NaN
//         gets q = 0 and a NaN scale.
//   Q4_0: per block of 32, ggml's quantize_row_q4_0_ref (which its CPU backend runs for Q4_0): m =
//         the first value of largest |x|, d = m / -8, q_i = min(15, trunc(x_i / d + 8.5)) as a
//         nibble (value d * (q_i - 8)); unspecified for blocks holding an infinity or NaN.
// Bit-identical to kv_store_row_ref on every target.
void kv_store_row(KvType t, const float* src, int64_t n, void* dst);

// ---------------------------------------------------------------------------------------------
// Causal self-attention with online softmax, for T new query tokens at positions pos0..pos0+T-1.
//
// Q:   T x (n_head * head_dim), row-major f32.
// kv:  cache rows for positions 0..pos0+T-1 (KvRows): row p of K starts at byte p * k_stride and
//      holds n_head_kv heads of head_dim values stored as type_k, head h_kv at byte
//      h_kv * kv_row_bytes(type_k, head_dim). Same for V. The block types need
//      head_dim % 32 == 0 (kv_type_fits).
// out: T x (n_head * head_dim). Query head h reads KV head h / (n_head / n_head_kv) (GQA/MQA).
// Token t attends to positions 0..pos0+t. scale is usually 1/sqrt(head_dim).
// head_dim <= kAttentionMaxHeadDim (the accumulator lives on the stack); n_head % n_head_kv == 0.
// Work items are tiles of queries that read the same K/V rows (prefill: kAttentionQueryTile
// consecutive tokens of a head; decode: the query heads of one KV head), split statically; a
// tile reads each K/V row once for all its queries. Every query's arithmetic is the same
// whatever tile it falls in, so a token's output is bit-identical whether it is evaluated alone
// (decode) or in any batch (prefill).
//
// Rows of a type other than F32 are dequantized exactly (as dequantize_row) a block of positions
// at a time, once for every query of the tile, and the scores and sums are then those of F32
// rows. The query is first rounded as llama.cpp rounds the input of its K.Q product for that K
// type (activation_rounding of the type: half for F16, Q8_0 blocks for Q8_0 and Q4_0), so a score
// is ggml's up to the order of f32 sums. The softmax weights and the sums over V stay f32 (ggml
// without flash attention rounds the weights to half for an F16 V; with it, it sums an F16 V in
// half). With F32 rows nothing is converted: q and the rows are read as they are.
constexpr int64_t kAttentionMaxHeadDim = 256;
constexpr int64_t kAttentionQueryTile = 4;
struct AttentionShape {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
};
// K and V rows of a cache (not owned).
struct KvRows {
  const void* k = nullptr;
  const void* v = nullptr;
  size_t k_stride = 0;  // bytes from one position's K row to the next (>= the row's bytes)
  size_t v_stride = 0;
  KvType type_k = KvType::kF32;
  KvType type_v = KvType::kF32;
};
// F32 rows of kv_stride floats.
inline KvRows f32_kv_rows(const float* K, const float* V, int64_t kv_stride) {
  const size_t stride = static_cast<size_t>(kv_stride) * sizeof(float);
  return {K, V, stride, stride, KvType::kF32, KvType::kF32};
}
void attention(const float* Q, int64_t T, int64_t pos0, const KvRows& kv,
               const AttentionShape& shape, float scale, float* out, ThreadPool& pool);
inline void attention(const float* Q, int64_t T, int64_t pos0, const float* K, const float* V,
                      int64_t kv_stride, const AttentionShape& shape, float scale, float* out,
                      ThreadPool& pool) {
  attention(Q, T, pos0, f32_kv_rows(K, V, kv_stride), shape, scale, out, pool);
}

// The work of attention() on the calling thread: items part, part + n_parts, ... (round-robin, so
// that the long rows of a causal prefill's late tokens spread over the threads). Calling it for
// every part in [0, n_parts) computes the whole output; attention_items() is the item count.
int64_t attention_items(int64_t T, const AttentionShape& shape);
void attention_part(const float* Q, int64_t T, int64_t pos0, const KvRows& kv,
                    const AttentionShape& shape, float scale, float* out, int part, int n_parts);
inline void attention_part(const float* Q, int64_t T, int64_t pos0, const float* K, const float* V,
                           int64_t kv_stride, const AttentionShape& shape, float scale, float* out,
                           int part, int n_parts) {
  attention_part(Q, T, pos0, f32_kv_rows(K, V, kv_stride), shape, scale, out, part, n_parts);
}

// Optional output of attention for KV budget policies (H2O's accumulated attention, KVMerger's
// pivots): for KV heads h_kv = part, part + n_parts, ... (each item one KV head, so no two threads
// write the same row), scores[h_kv * score_stride + j] += softmax_j(scale * q . k_j), summed over
// the T query tokens (token t at position pos0 + t sees positions 0..pos0+t) and over the query
// heads that share h_kv. The same scores as attention() computes (K rows dequantized as
// dequantize_row; the query is not rounded to the K type, so for F16/Q8_0/Q4_0 K a score can
// differ from the kernel's by that rounding). work: pos0 + T + head_dim floats of the caller's,
// per thread. Allocates nothing.
void attention_scores_part(const float* Q, int64_t T, int64_t pos0, const KvRows& kv,
                           const AttentionShape& shape, float scale, float* scores, int64_t score_stride,
                           float* work, int part, int n_parts);

// ---------------------------------------------------------------------------------------------
// Memory bandwidth

// Reads bytes [0, n) of p (64-byte aligned, n % 256 == 0) with wide loads into several independent
// accumulators and returns a value that depends on every byte (so the reads are not optimised
// away). A measure of read bandwidth when p is far larger than the caches.
uint64_t read_bytes(const void* p, size_t n);

}  // namespace mnemo::kernels
