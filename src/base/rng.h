// base/rng.h: the project's seeded generator, xoshiro256** (Blackman & Vigna 2018) seeded through
// splitmix64. Deterministic on every platform for a seed; its whole state is four words (saved in
// training checkpoints). Used by training (initialization, data order) and by gen-model, whose
// random models are pinned by SHA-256 in tests: the stream of next() must never change.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace mnemo {

// splitmix64: advances *x and returns the next output.
inline uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed) {
    uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(&x);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // [0, n) without modulo bias (rejection).
  uint64_t below(uint64_t n) {
    const uint64_t limit = ~0ull - (~0ull % n);
    uint64_t r;
    do r = next(); while (r >= limit);
    return r % n;
  }
  // Standard normal (Box-Muller, one value per call: the cosine branch, u1 in (0, 1)).
  double normal() {
    double u1;
    do u1 = uniform(); while (u1 <= 0.0);
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Two standard normals from one Box-Muller draw (u1 = 1 - uniform() in (0, 1]).
  void normal_pair(float* a, float* b) {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    *a = static_cast<float>(r * std::cos(2 * M_PI * u2));
    *b = static_cast<float>(r * std::sin(2 * M_PI * u2));
  }
  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_;
};

}  // namespace mnemo
