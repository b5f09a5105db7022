// The fused forwards on our kernels: the convolution (or GEMM), then ReLU in
// place. A ReLU epilogue inside the implicit-GEMM kernel would save one pass
// over the output; it waits until the GPU check has timed the two-pass version.
#include "cuda/cuda_backend.hpp"

namespace convnet::cuda {

void CudaBackend::conv2d_bias_relu_forward(const Tensor& input, const Tensor& weight,
                                           const Tensor* bias, const Conv2dParams& p,
                                           Tensor& output) {
  conv2d_forward(input, weight, bias, p, output);
  activation_forward(Activation::ReLU, 0.f, output, output);
}

void CudaBackend::linear_bias_relu_forward(const Tensor& input, const Tensor& weight,
                                           const Tensor* bias, Tensor& output) {
  linear_forward(input, weight, bias, output);
  activation_forward(Activation::ReLU, 0.f, output, output);
}

std::string CudaBackend::path(Op op) const {
  const bool direct = conv_algo() == kernels::ConvAlgo::Direct;
  switch (op) {
    case Op::Conv2d: return direct ? "direct kernel" : "implicit gemm";
    case Op::Conv2dBiasReLU: return direct ? "direct kernel, relu kernel" : "implicit gemm, relu kernel";
    case Op::Linear: return "cublas gemm, bias kernel";
    case Op::LinearBiasReLU: return "cublas gemm, bias + relu kernels";
    case Op::BatchNorm: return "statistics kernels, normalize kernel";
    case Op::BatchNormReLU: return "statistics kernels, normalize + relu kernel";
    case Op::AdaptiveAvgPool2d: return "adaptive pool kernel";
    default: return "kernel";
  }
}

}  // namespace convnet::cuda
