// kernels/blas.h: prefill products through Debian's OpenBLAS (SGEMM on f32 panels of W).
//
// For T >= kBlasMinTokens tokens and rows of at least kBlasMinDepth elements, matmul_rows hands
// its rows to OpenBLAS's SGEMM (all ggml types and mnemo's group types; not the bipolar types,
// whose products are over bit planes): F32 weights are read in place; every other type is dequantized
// (exactly) to f32 a panel of rows at a time into the thread's scratch, once per call, and the
// panel is multiplied by all T (already rounded) activation rows. The packing cost is one pass over
// the panel per call, against 2 * T flops per weight; OpenBLAS's packed micro-kernels reach ~85%
// of the FMA peak where mnemo's own blocked GEMM (gemm-inl.h) reaches ~65% on this class of CPU.
//
// OpenBLAS runs single-threaded on the calling thread (mnemo's ThreadPool splits the rows). Its
// sums depend on where a row falls in its micro-tiles, so rows are always multiplied in fixed
// chunks of kBlasRowChunk rows counted from row 0 of W, one SGEMM call per chunk: a row's value
// depends only on W, X and T. Callers that split rows at multiples of kBlasRowChunk (matmul_row_grain)
// get results that are bit-identical at any thread count. They differ from the GEMV's summation
// order: decode and prefill agree to rounding, not bit for bit, on these shapes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/tensor.h"

namespace mnemo::kernels {

struct MatmulArgs;

constexpr int64_t kBlasMinTokens = 16;
constexpr int64_t kBlasMinDepth = 256;
constexpr int64_t kBlasRowChunk = 128;

// Makes OpenBLAS run every call on the calling thread. Idempotent, thread-safe.
void use_single_threaded_blas();

// Whether matmul_rows of W (type, n elements per row) over T tokens goes to OpenBLAS.
bool blas_applies(DType type, int64_t n, int64_t T);

// Bytes of per-thread scratch for T tokens: one chunk's f32 panel (none for F32 weights) and its
// products.
size_t blas_thread_work_size(DType type, int64_t n, int64_t T);

// Rows [r0, r1) of Y = X W^T (+ Y when a.accumulate) for a.T tokens of f32 rows a.x.
void blas_matmul_rows(const TensorView& W, const MatmulArgs& a, int64_t r0, int64_t r1, void* thread_work);

}  // namespace mnemo::kernels
