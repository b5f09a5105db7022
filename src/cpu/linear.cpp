// Fully connected layer on the CPU: input [N,in], weight [out,in] (PyTorch's
// layout), bias [out], output [N,out]. Each pass is one row-major GEMM:
//   forward          Y [N,out]  = X [N,in] x W^T [in,out] (+ b on every row)
//   backward data    dX [N,in]  = dY [N,out] x W [out,in]
//   backward weight  dW [out,in] (+)= dY^T [out,N] x X [N,in]
// The bias gradient is bias_backward (conv2d.cpp), shared with convolution.
#include <algorithm>
#include <cstdint>

#include "cpu/cpu_backend.hpp"
#include "cpu/gemm.hpp"

namespace convnet::cpu {

void CpuBackend::linear_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                Tensor& output) {
  const int n = static_cast<int>(input.size(0));
  const int in_features = static_cast<int>(input.size(1));
  const int out_features = static_cast<int>(weight.size(0));
  float* y = output.data<float>();
  if (bias) {
    // Rows start as the bias and GEMM adds onto them (beta = 1).
    const float* b = bias->data<float>();
    for (int row = 0; row < n; ++row) {
      std::copy(b, b + out_features, y + static_cast<int64_t>(row) * out_features);
    }
  }
  gemm(false, true, n, out_features, in_features, 1.f, input.data<float>(), in_features,
       weight.data<float>(), in_features, bias ? 1.f : 0.f, y, out_features);
}

void CpuBackend::linear_backward_data(const Tensor& grad_output, const Tensor& weight,
                                      Tensor& grad_input) {
  const int n = static_cast<int>(grad_output.size(0));
  const int out_features = static_cast<int>(weight.size(0));
  const int in_features = static_cast<int>(weight.size(1));
  gemm(false, false, n, in_features, out_features, 1.f, grad_output.data<float>(), out_features,
       weight.data<float>(), in_features, 0.f, grad_input.data<float>(), in_features);
}

void CpuBackend::linear_backward_weight(const Tensor& input, const Tensor& grad_output,
                                        Tensor& grad_weight, bool accumulate) {
  const int n = static_cast<int>(input.size(0));
  const int in_features = static_cast<int>(input.size(1));
  const int out_features = static_cast<int>(grad_output.size(1));
  // n == 0 reaches gemm as k == 0, which still zeroes dW when not accumulating.
  gemm(true, false, out_features, in_features, n, 1.f, grad_output.data<float>(), out_features,
       input.data<float>(), in_features, accumulate ? 1.f : 0.f, grad_weight.data<float>(),
       in_features);
}

}  // namespace convnet::cpu
