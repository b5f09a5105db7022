// NumPy broadcasting's address math (Broadcast, backend.hpp), as a
// __host__ __device__ function shared by the CPU reference and the CUDA kernel,
// so host tests check the same code the GPU runs.
#pragma once

#include <cstdint>

#include "convnet/backend.hpp"

#if defined(__CUDACC__)
#define CONVNET_BCAST_HD __host__ __device__ __forceinline__
#else
#define CONVNET_BCAST_HD inline
#endif

namespace convnet::kernels {

struct BroadcastOffsets {
  int64_t a, b;  // element offsets into the two inputs
};

// The inputs' offsets of output element `linear` (row-major over bc.sizes).
CONVNET_BCAST_HD BroadcastOffsets broadcast_offsets(const Broadcast& bc, int64_t linear) {
  int64_t a = 0, b = 0;
  for (int d = bc.rank - 1; d >= 0; --d) {
    const int64_t extent = bc.sizes[d];
    const int64_t i = linear % extent;
    linear /= extent;
    a += i * bc.a_strides[d];
    b += i * bc.b_strides[d];
  }
  return {a, b};
}

}  // namespace convnet::kernels
