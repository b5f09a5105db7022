// The fused forwards by composition: the CPU gains nothing from fusing, and the
// reference stays two operations anyone can check separately.
#include "cpu/cpu_backend.hpp"

namespace convnet::cpu {

void CpuBackend::conv2d_bias_relu_forward(const Tensor& input, const Tensor& weight,
                                          const Tensor* bias, const Conv2dParams& p,
                                          Tensor& output) {
  conv2d_forward(input, weight, bias, p, output);
  activation_forward(Activation::ReLU, 0.f, output, output);
}

void CpuBackend::linear_bias_relu_forward(const Tensor& input, const Tensor& weight,
                                          const Tensor* bias, Tensor& output) {
  linear_forward(input, weight, bias, output);
  activation_forward(Activation::ReLU, 0.f, output, output);
}

std::string CpuBackend::path(Op op) const {
  switch (op) {
    case Op::Conv2d: return "im2col + gemm";
    case Op::Conv2dBiasReLU: return "im2col + gemm, relu (composed)";
    case Op::Linear: return "gemm";
    case Op::LinearBiasReLU: return "gemm, relu (composed)";
    default: return "reference loop";
  }
}

}  // namespace convnet::cpu
