// compress/ggml_quantize.h: quantizers that write GGUF's block formats exactly as ggml's reference
// quantizers do (quantize_row_*_ref in ggml-quants.c), so files match llama-quantize byte for byte.
#pragma once

#include <cstdint>

#include "mnemo/status.h"
#include "tensor/dtype.h"

namespace mnemo {

// Quantizes n floats (n a multiple of the type's block size) into dst. Supported targets: F32,
// F16, BF16, Q8_0, Q4_0. Returns kUnsupported for other types.
Status quantize_row(DType type, const float* src, void* dst, int64_t n);

void quantize_row_q8_0(const float* x, void* dst, int64_t n);
void quantize_row_q4_0(const float* x, void* dst, int64_t n);

}  // namespace mnemo
