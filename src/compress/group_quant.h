// compress/group_quant.h: quantizers of mnemo's own weight types (layouts and grids in
// kernels/mnemo_formats.h): per-group integer, FP and BitMoD grids with an f16 scale per group of
// G = 32, 64 or 128, and bipolar-INT bit-planes.
//
// Every grid type picks its scale from the group's extremes (no search), as the BitMoD paper and
// its baselines do (quant_weight.py / auto_dtype.py: scale = absmax / max|level|), and rounds each
// weight to the nearest level under the scale as stored (f16-rounded), so the decoded value is the
// nearest grid point the file can express:
//   int*_sym  d = amax / (2^(b-1) - 1), levels -(2^(b-1) - 1) .. 2^(b-1) - 1
//   int*_asym d = (max - min) / (2^b - 1), zero point z = round(-min / d) in [0, 2^b - 1]
//   fp4/fp3   d = absmax / 12 or absmax / 4
//   bitmod    each of the four variants (ER+, ER-, EA+, EA-) with d = absmax / max|level| of the
//             variant; the one with the least squared error is kept (ties: the first in that
//             order). Since ER+/ER- contain every fp level with the same scale, a bitmod group's
//             error is never above the fp type's, up to the 9-bit rounding of bitmod's scale.
// Bipolar: per block of 64, v_i odd in [-(2^W-1), 2^W-1]; the scale starts at absmax / (2^W - 1)
// and is refined by alternating nearest-level assignment and the least-squares scale
// d = sum x v / sum v^2 (Lloyd iterations); the lowest-error (f16-rounded) scale seen is kept.
#pragma once

#include <cstdint>

#include "kernels/mnemo_formats.h"
#include "mnemo/status.h"
#include "tensor/dtype.h"

namespace mnemo {

// n floats (n % block == 0) into blocks of a mnemo type (group or bipolar). kUnsupported for
// other types.
Status quantize_row_mnemo(DType type, const float* x, void* dst, int64_t n);

// One group of g.group floats into one block; returns the squared error of the decoded group.
double quantize_group(const mformat::GroupType& g, const float* x, uint8_t* block);

// BitMoD variants, in the order they are tried.
enum class BitmodVariant : uint8_t { kErPos = 0, kErNeg = 1, kEaPos = 2, kEaNeg = 3 };
// The variant a bitmod block holds (from its header).
BitmodVariant bitmod_variant(const uint8_t* block);

// |d| rounded to an f16 whose lowest mantissa bit is 0 (nearest, ties to even at 9 bits); the
// scale field of a bitmod header. d >= 0.
uint16_t bitmod_scale_bits(float d);

// One bipolar block (64 floats) of W bits; returns its squared error.
double quantize_bipolar_block(int w, const float* x, uint8_t* block);

}  // namespace mnemo
