// compress/ggml_quantize.h: quantizers that write GGUF's block formats exactly as ggml's reference
// quantizers do (quantize_row_*_ref in ggml-quants.c of llama.cpp c392e50, which is what
// llama-quantize runs without an importance matrix), so files match llama-quantize byte for byte.
// Same arithmetic in the same order, in f32 without contraction (the build sets
// -ffp-contract=off; ggml-base is built without -march, so it has no FMA either).
#pragma once

#include <cstdint>

#include "mnemo/status.h"
#include "tensor/dtype.h"

namespace mnemo {

// Quantizes n floats (n a multiple of the type's block size) into dst. Targets: F32, F16, BF16,
// Q8_0, Q4_0, Q5_0, Q4_K, Q6_K, and mnemo's own types (compress/group_quant.h). Returns
// kUnsupported for other types.
Status quantize_row(DType type, const float* src, void* dst, int64_t n);

// Whether quantize_row() can write `type`.
bool can_quantize(DType type);

void quantize_row_q8_0(const float* x, void* dst, int64_t n);
void quantize_row_q4_0(const float* x, void* dst, int64_t n);
void quantize_row_q5_0(const float* x, void* dst, int64_t n);
void quantize_row_q4_k(const float* x, void* dst, int64_t n);
void quantize_row_q6_k(const float* x, void* dst, int64_t n);

}  // namespace mnemo
