// Checks every cuBLAS status, as cuda_check.hpp does for the runtime.
#pragma once

#include <cublas_v2.h>

#include "convnet/error.hpp"

#define CONVNET_CUBLAS_CHECK(call)                                                          \
  do {                                                                                      \
    const cublasStatus_t convnet_status_ = (call);                                          \
    if (convnet_status_ != CUBLAS_STATUS_SUCCESS)                                           \
      CONVNET_FAIL(#call, " failed at ", __FILE__, ":", __LINE__, ": ",                     \
                   cublasGetStatusName(convnet_status_), " (",                              \
                   cublasGetStatusString(convnet_status_), ")");                            \
  } while (0)
