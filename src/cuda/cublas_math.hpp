// The context's cuBLAS handle set to the math mode the user chose
// (convnet::math_mode(), read at every call; a host-side setting, no sync):
// CUBLAS_PEDANTIC_MATH for FP32, so results hold the CPU reference's 1e-5
// parity, or TF32 tensor cores when the user allowed them. Shared by every
// cuBLAS call of the CUDA backend (linear layers, matmul).
#pragma once

#include "convnet/settings.hpp"
#include "cuda/cublas_check.hpp"
#include "cuda/launch_scope.hpp"

namespace convnet::cuda {

inline cublasHandle_t cublas_in_math_mode(LaunchScope& on) {
  const cublasMath_t math =
      math_mode() == MathMode::TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH;
  CONVNET_CUBLAS_CHECK(cublasSetMathMode(on.ctx.cublas(), math));
  return on.ctx.cublas();
}

}  // namespace convnet::cuda
