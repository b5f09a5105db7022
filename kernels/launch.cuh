// Launch helpers shared by every kernel family: the grid size of a grid-stride
// loop and the launch-error check DESIGN.md asks after every launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "convnet/error.hpp"

namespace convnet::kernels {

constexpr int kThreads = 256;

// One thread per element up to 65535 blocks; grid-stride loops cover the rest.
inline int blocks_for(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

inline void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    CONVNET_FAIL("launch of ", kernel, " failed: ", cudaGetErrorName(status), " (",
                 cudaGetErrorString(status), ")");
}

}  // namespace convnet::kernels
