// ltm/ann/distance.h: squared L2 distances for the vector indexes.
//
// SIMD by Highway with run-time dispatch (the best target the CPU has: AVX-512, AVX2, SSE4, ...),
// plus a scalar reference for tests. Results agree with the reference to float rounding (the SIMD
// versions sum in a different order).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mnemo::ltm::ann {

// sum_i (a[i] - b[i])^2 over `dim` floats.
float l2_sq(const float* a, const float* b, size_t dim);

// out[j] = l2_sq(q, base + j * stride_floats, dim) for j < n. `stride_floats` >= dim lets the rows
// be records with a header (posting-list entries); rows need no alignment.
void l2_sq_batch(const float* q, const float* base, size_t stride_floats, size_t n, size_t dim,
                 float* out);

// Scalar reference (tests).
float l2_sq_reference(const float* a, const float* b, size_t dim);

// Name of the SIMD target chosen at run time (for logs and benchmark tables).
const char* distance_target_name();

}  // namespace mnemo::ltm::ann
