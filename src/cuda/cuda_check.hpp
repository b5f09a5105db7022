// Checks every CUDA runtime status; a failure becomes a convnet::Error naming
// the call, the file and line, and CUDA's own description.
#pragma once

#include <cuda_runtime.h>

#include "convnet/error.hpp"

#define CONVNET_CUDA_CHECK(call)                                                          \
  do {                                                                                    \
    const cudaError_t convnet_status_ = (call);                                           \
    if (convnet_status_ != cudaSuccess)                                                   \
      CONVNET_FAIL(#call, " failed at ", __FILE__, ":", __LINE__, ": ",                   \
                   cudaGetErrorName(convnet_status_), " (", cudaGetErrorString(convnet_status_), ")"); \
  } while (0)
