// Checks every CUDA runtime status; a failure becomes a convnet::Error naming
// the call, the file and line, and CUDA's own description.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "convnet/error.hpp"

namespace convnet::cuda {
// "cudaErrorX (CUDA's description)"; for cudaErrorInsufficientDriver it first
// says which it is: no driver at all (libcuda.so.1 cannot be loaded) or one too
// old for this runtime (cuda_error_text.cpp).
std::string cuda_error_text(cudaError_t status);
}  // namespace convnet::cuda

#define CONVNET_CUDA_CHECK(call)                                                          \
  do {                                                                                    \
    const cudaError_t convnet_status_ = (call);                                           \
    if (convnet_status_ != cudaSuccess)                                                   \
      CONVNET_FAIL(#call, " failed at ", __FILE__, ":", __LINE__, ": ",                   \
                   ::convnet::cuda::cuda_error_text(convnet_status_));                    \
  } while (0)
