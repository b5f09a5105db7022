// Adaptive average pooling's windows (PyTorch's AdaptiveAvgPool2d), as
// __host__ __device__ functions shared by the CPU reference and the CUDA
// kernels, so host tests check the one definition.
//
// Along one axis of extent `in` split into `out` cells, cell i covers
// [floor(i * in / out), ceil((i + 1) * in / out)): cells tile the input, may
// overlap by one when out does not divide in, and are never empty (out <= in
// is not required: out > in repeats inputs).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define CONVNET_POOL_HD __host__ __device__ __forceinline__
#else
#define CONVNET_POOL_HD inline
#endif

namespace convnet::kernels {

CONVNET_POOL_HD int64_t adaptive_start(int64_t i, int64_t in, int64_t out) {
  return (i * in) / out;
}

CONVNET_POOL_HD int64_t adaptive_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// The output cells along one axis whose window holds input index x:
// [first, last] (backward gathers from them, so no atomics are needed).
CONVNET_POOL_HD int64_t adaptive_first_cell(int64_t x, int64_t in, int64_t out) {
  // Smallest i with end(i) > x, i.e. (i + 1) * in > x * out.
  return (x * out) / in;
}

CONVNET_POOL_HD int64_t adaptive_last_cell(int64_t x, int64_t in, int64_t out) {
  // Largest i with start(i) <= x, i.e. i * in < (x + 1) * out.
  const int64_t i = ((x + 1) * out + in - 1) / in - 1;
  return i < out - 1 ? i : out - 1;
}

}  // namespace convnet::kernels
