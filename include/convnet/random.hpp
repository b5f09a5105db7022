// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11 — the
// generator cuRAND and PyTorch's CUDA backend use).
//
// Why counter-based: value i of a stream is a pure function of (seed, offset, i),
// so a CPU loop and a CUDA kernel draw exactly the same numbers in any order.
// That makes random fills and dropout masks identical on every backend, which the
// parity tests rely on, and lets a captured CUDA graph replay a step with a new
// offset instead of new host state.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define CONVNET_HD __host__ __device__ __forceinline__
#else
#define CONVNET_HD inline
#endif

namespace convnet {

struct Philox4x32 {
  uint32_t v[4];
};

CONVNET_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  return static_cast<uint32_t>(product);
}

// Four 32-bit random words for the 128-bit counter (counter_lo, counter_hi) under `key` (the seed).
CONVNET_HD Philox4x32 philox4x32(uint64_t counter_lo, uint64_t counter_hi, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = philox_mulhilo(0xD2511F53u, c0, &hi0);
    const uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, c2, &hi1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// Uniform float in [0, 1) from the top 24 bits of a word (exactly representable).
CONVNET_HD float uniform_from_bits(uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }

// Element `index` of the uniform [0, 1) stream (seed, offset).
CONVNET_HD float philox_uniform(uint64_t seed, uint64_t offset, uint64_t index) {
  const Philox4x32 r = philox4x32(index / 4, offset, seed);
  return uniform_from_bits(r.v[index % 4]);
}

// Element `index` of the standard normal stream (seed, offset), by Box-Muller on
// one Philox call per element (simple, and every element independent of the others).
CONVNET_HD float philox_normal(uint64_t seed, uint64_t offset, uint64_t index) {
  const Philox4x32 r = philox4x32(index, offset ^ 0x5bd1e995ull << 32, seed);
  const float u1 = (static_cast<float>(r.v[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
  const float u2 = uniform_from_bits(r.v[1]);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}

// The library-wide seed used by layer initialisation. Each draw takes the next
// stream, so constructing the same model after the same manual_seed() gives the
// same weights.
void manual_seed(uint64_t seed);
// A fresh (seed, stream) pair folded into one 64-bit seed for Tensor::rand/randn.
uint64_t next_seed();

}  // namespace convnet
