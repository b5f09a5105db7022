// The cuDNN backend's linear forward: one cuBLASLt matmul whose epilogue adds
// the bias (and applies ReLU), instead of a broadcast kernel, a GEMM and a
// ReLU kernel. FP32 compute unless math_mode() allows TF32.
#pragma once

#include <cublasLt.h>

#include <array>
#include <memory>
#include <mutex>

#include "convnet/tensor.hpp"
#include "cudnn/plan_cache.hpp"

namespace convnet::cudnn {

struct LinearKey {
  int64_t n = 0, in = 0, out = 0;
  bool bias = false, relu = false;
  MathMode math = MathMode::FP32;
  int device = 0, alignment = 16;
  bool operator==(const LinearKey& o) const {
    return n == o.n && in == o.in && out == o.out && bias == o.bias && relu == o.relu &&
           math == o.math && device == o.device && alignment == o.alignment;
  }
};
struct LinearKeyHash {
  size_t operator()(const LinearKey& k) const {
    size_t h = 1469598103934665603ull;
    for (int64_t v : {k.n, k.in, k.out, int64_t(k.bias), int64_t(k.relu), int64_t(k.math),
                      int64_t(k.device), int64_t(k.alignment)})
      h = (h ^ static_cast<size_t>(v)) * 1099511628211ull;
    return h;
  }
};

class LinearLt {
 public:
  LinearLt();
  ~LinearLt();
  // output = input * weight^T (+ bias) (then ReLU). Returns false, having run
  // nothing, when cuBLASLt has no algorithm for the problem (the caller falls back).
  bool forward(const Tensor& input, const Tensor& weight, const Tensor* bias, bool relu,
               Tensor& output);

 private:
  struct Plan;
  static constexpr int kMaxDevices = 16;
  cublasLtHandle_t handle(int device);
  std::mutex mutex_;
  std::array<cublasLtHandle_t, kMaxDevices> handles_{};
  LruCache<LinearKey, std::shared_ptr<Plan>, LinearKeyHash> plans_;
};

}  // namespace convnet::cudnn
