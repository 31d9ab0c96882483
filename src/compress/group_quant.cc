#include "compress/group_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "base/fp16.h"

namespace mnemo {
namespace {

using mformat::GroupType;
using mformat::Method;

// A level table sorted by value, duplicates dropped (the first code of a value is kept), with the
// midpoints between neighbours: the nearest level of y is the one whose interval holds it.
struct Grid {
  int n = 0;
  float value[16];
  uint8_t code[16];
  float mid[15];

  explicit Grid(const int8_t* levels, int n_codes) {
    for (int c = 0; c < n_codes; ++c) {
      const float v = levels[c];
      bool seen = false;
      for (int k = 0; k < n; ++k) seen = seen || value[k] == v;
      if (seen) continue;
      int k = n++;
      while (k > 0 && value[k - 1] > v) {
        value[k] = value[k - 1];
        code[k] = code[k - 1];
        --k;
      }
      value[k] = v;
      code[k] = static_cast<uint8_t>(c);
    }
    for (int k = 0; k + 1 < n; ++k) mid[k] = 0.5f * (value[k] + value[k + 1]);
  }
  // Index (into value/code) of the level nearest y; a midpoint goes to the lower level; NaN to 0.
  int nearest(float y) const {
    int lo = 0, hi = n - 1;  // answer in [lo, hi]
    while (lo < hi) {
      const int m = (lo + hi) / 2;
      if (y > mid[m]) {
        lo = m + 1;
      } else {
        hi = m;
      }
    }
    return lo;
  }
  int zero_index() const { return nearest(0.0f); }
};

const Grid& grid_for(Method m, bool ea) {
  auto make = [](Method mm, bool e) { return Grid(mformat::levels(mm, e), mformat::method_bits(mm) == 4 ? 16 : 8); };
  static const Grid kGrids[mformat::kNumMethods][2] = {
      {make(Method::kInt4Sym, false), make(Method::kInt4Sym, false)},
      {make(Method::kInt4Asym, false), make(Method::kInt4Asym, false)},
      {make(Method::kFp4, false), make(Method::kFp4, false)},
      {make(Method::kBitmod4, false), make(Method::kBitmod4, true)},
      {make(Method::kInt3Sym, false), make(Method::kInt3Sym, false)},
      {make(Method::kInt3Asym, false), make(Method::kInt3Asym, false)},
      {make(Method::kFp3, false), make(Method::kFp3, false)},
      {make(Method::kBitmod3, false), make(Method::kBitmod3, true)},
  };
  return kGrids[static_cast<int>(m)][ea ? 1 : 0];
}

// Codes of x ~ d * level + m on a grid; returns the squared error of the decoded values.
double assign(const float* x, int n, float d, float m, const Grid& grid, uint8_t* codes) {
  double sse = 0.0;
  const int z = grid.zero_index();
  for (int i = 0; i < n; ++i) {
    const int k = d != 0.0f ? grid.nearest((x[i] - m) / d) : z;
    codes[i] = grid.code[k];
    const double e = static_cast<double>(x[i]) - (static_cast<double>(d * grid.value[k] + m));
    sse += e * e;
  }
  return sse;
}

void extremes(const float* x, int n, float* amax, float* max, float* lo, float* hi) {
  *amax = 0.0f;
  *max = 0.0f;
  *lo = x[0];
  *hi = x[0];
  for (int i = 0; i < n; ++i) {
    if (*amax < std::fabs(x[i])) {
      *amax = std::fabs(x[i]);
      *max = x[i];
    }
    *lo = std::min(*lo, x[i]);
    *hi = std::max(*hi, x[i]);
  }
}

void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

void pack(const GroupType& g, const uint8_t* codes, uint8_t* block) {
  for (int k = 0; k < g.group / mformat::kChunk; ++k) {
    mformat::pack_chunk(g.bits, codes + k * mformat::kChunk, block + g.header_bytes + k * g.chunk_bytes);
  }
}

}  // namespace

uint16_t bitmod_scale_bits(float d) {
  const uint16_t h = f32_to_fp16(d);
  if ((h & 1) == 0) return h;
  const uint16_t lo = static_cast<uint16_t>(h - 1);
  const uint16_t hi = static_cast<uint16_t>(h + 1);
  if ((hi & 0x7C00) == 0x7C00) return lo;  // would round up to infinity
  const float elo = d - fp16_to_f32(lo), ehi = fp16_to_f32(hi) - d;
  if (elo < ehi) return lo;
  if (ehi < elo) return hi;
  return (lo & 2) == 0 ? lo : hi;
}

BitmodVariant bitmod_variant(const uint8_t* block) {
  const uint16_t h = mformat::load_u16(block);
  const bool neg = (h & mformat::kBitmodNegBit) != 0, ea = (h & mformat::kBitmodEaBit) != 0;
  return static_cast<BitmodVariant>((ea ? 2 : 0) + (neg ? 1 : 0));
}

double quantize_group(const GroupType& g, const float* x, uint8_t* block) {
  const int n = g.group;
  const int levels = 1 << g.bits;
  float amax, max, lo, hi;
  extremes(x, n, &amax, &max, &lo, &hi);
  uint8_t codes[128];
  double sse = 0.0;
  switch (g.method) {
    case Method::kInt4Sym:
    case Method::kInt3Sym: {
      // BitMoD's quant_int: levels -qmax..qmax, d = amax / qmax.
      const uint16_t hd = f32_to_fp16(amax / static_cast<float>(levels / 2 - 1));
      store_u16(block, hd);
      sse = assign(x, n, fp16_to_f32(hd), 0.0f, grid_for(g.method, false), codes);
      break;
    }
    case Method::kInt4Asym:
    case Method::kInt3Asym: {
      // BitMoD's quant_int_asym: d = (max - min) / (2^b - 1), zero point z = round(-min / d)
      // clamped to the code range, value (c - z) d. A constant group keeps its value exactly.
      const int top = levels - 1;
      const float range = hi > lo ? hi - lo : std::fabs(lo);
      const uint16_t hd = f32_to_fp16(range / static_cast<float>(top));
      const float d = fp16_to_f32(hd);
      int z = 0;
      if (d > 0.0f && std::isfinite(-lo / d)) z = std::max(0, std::min(top, static_cast<int>(std::lround(-lo / d))));
      store_u16(block, hd);
      block[2] = static_cast<uint8_t>(z);
      sse = assign(x, n, d, -(d * static_cast<float>(z)), grid_for(g.method, false), codes);
      break;
    }
    case Method::kFp4:
    case Method::kFp3: {
      const float top = g.bits == 4 ? 12.0f : 4.0f;
      const uint16_t hd = f32_to_fp16(amax / top);
      store_u16(block, hd);
      sse = assign(x, n, fp16_to_f32(hd), 0.0f, grid_for(g.method, false), codes);
      break;
    }
    case Method::kBitmod4:
    case Method::kBitmod3: {
      sse = std::numeric_limits<double>::infinity();
      uint8_t trial[128];
      for (int v = 0; v < 4; ++v) {
        const bool ea = v >= 2, neg = (v & 1) != 0;
        const float top = g.bits == 4 ? (ea ? 16.0f : 12.0f) : (ea ? 6.0f : 4.0f);
        const uint16_t hb = bitmod_scale_bits(amax / top);
        const float d = fp16_to_f32(hb);
        const double e = assign(x, n, neg ? -d : d, 0.0f, grid_for(g.method, ea), trial);
        if (e < sse) {
          sse = e;
          std::memcpy(codes, trial, static_cast<size_t>(n));
          store_u16(block, static_cast<uint16_t>(hb | (ea ? mformat::kBitmodEaBit : 0) | (neg ? mformat::kBitmodNegBit : 0)));
        }
      }
      if (!(sse < std::numeric_limits<double>::infinity())) {  // NaN input: ER+ with its codes
        const uint16_t hb = bitmod_scale_bits(amax / (g.bits == 4 ? 12.0f : 4.0f));
        assign(x, n, fp16_to_f32(hb), 0.0f, grid_for(g.method, false), codes);
        store_u16(block, hb);
      }
      break;
    }
  }
  pack(g, codes, block);
  return sse;
}

double quantize_bipolar_block(int w, const float* x, uint8_t* block) {
  const int L = (1 << w) - 1;
  float amax = 0.0f;
  for (int i = 0; i < 64; ++i) amax = std::max(amax, std::fabs(x[i]));
  int u[64], best_u[64];
  uint16_t best_h = 0;
  double best = std::numeric_limits<double>::infinity();
  std::fill(best_u, best_u + 64, 0);
  float d = amax / static_cast<float>(L);
  for (int it = 0; it < 10 && d > 0.0f && std::isfinite(d); ++it) {
    const uint16_t h = f32_to_fp16(d);
    const float dq = fp16_to_f32(h);
    if (!(dq > 0.0f) || !std::isfinite(dq)) break;
    double sse = 0.0, sxv = 0.0, svv = 0.0;
    for (int i = 0; i < 64; ++i) {
      const float t = std::floor((x[i] / dq + static_cast<float>(L)) * 0.5f + 0.5f);
      u[i] = t >= static_cast<float>(L) ? L : t > 0.0f ? static_cast<int>(t) : 0;
      const double v = 2 * u[i] - L;
      const double e = static_cast<double>(x[i]) - static_cast<double>(dq) * v;
      sse += e * e;
      sxv += static_cast<double>(x[i]) * v;
      svv += v * v;
    }
    if (sse < best) {
      best = sse;
      best_h = h;
      std::copy(u, u + 64, best_u);
    }
    const float next = static_cast<float>(sxv / svv);
    if (!(next > 0.0f) || f32_to_fp16(next) == h) break;
    d = next;
  }
  if (!(best < std::numeric_limits<double>::infinity())) {  // all zero (or non-finite)
    best = 0.0;
    for (int i = 0; i < 64; ++i) best += static_cast<double>(x[i]) * x[i];
  }
  for (int t = 0; t < w; ++t) {
    uint64_t plane = 0;
    for (int i = 0; i < 64; ++i) plane |= static_cast<uint64_t>((best_u[i] >> t) & 1) << i;
    std::memcpy(block + 8 * t, &plane, 8);
  }
  store_u16(block + 8 * w, best_h);
  return best;
}

Status quantize_row_mnemo(DType type, const float* x, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  if (auto g = mformat::group_type(type)) {
    if (n % g->group != 0) return invalid_argument("quantize: row length not a multiple of the group size");
    for (int64_t k = 0; k < n; k += g->group, out += g->block_bytes) quantize_group(*g, x + k, out);
    return Status::ok();
  }
  if (const int w = mformat::bipolar_bits(type); w > 0) {
    if (n % 64 != 0) return invalid_argument("quantize: row length not a multiple of 64");
    for (int64_t k = 0; k < n; k += 64, out += mformat::bipolar_block_bytes(w)) quantize_bipolar_block(w, x + k, out);
    return Status::ok();
  }
  return unsupported("quantize: not a mnemo type: " + std::string(dtype_name(type)));
}

}  // namespace mnemo
