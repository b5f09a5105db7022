// The cuDNN backend's linear forward: one cuBLASLt matmul whose epilogue adds
// the bias (and applies ReLU), instead of a broadcast kernel, a GEMM and a
// ReLU kernel. FP32 compute unless math_mode() allows TF32.
#pragma once

#include <cublasLt.h>

#include <array>
#include <memory>
#include <mutex>

#include "convnet/tensor.hpp"
#include "cudnn/linear_key.hpp"
#include "cudnn/plan_cache.hpp"

namespace convnet::cudnn {

class LinearLt {
 public:
  LinearLt();
  ~LinearLt();
  // output = input * weight^T (+ bias) (then ReLU). Returns false, having run
  // nothing, when cuBLASLt has no algorithm for the problem, refuses it at the
  // matmul (NOT_SUPPORTED), or the bias is too loosely aligned (the caller
  // falls back to the cuBLAS path; each is counted).
  bool forward(const Tensor& input, const Tensor& weight, const Tensor* bias, bool relu,
               Tensor& output);
  LinearCounts counts(bool relu) const;

 private:
  struct Plan;
  static constexpr int kMaxDevices = 16;
  cublasLtHandle_t handle(int device);
  mutable std::mutex mutex_;
  std::array<cublasLtHandle_t, kMaxDevices> handles_{};
  std::array<LinearCounts, 2> counts_{};  // [relu]
  LruCache<LinearKey, std::shared_ptr<Plan>, LinearKeyHash> plans_;
};

}  // namespace convnet::cudnn
