// CudaBackend: convolution (direct or implicit-GEMM kernels) and the bias gradient.
#include <cstdlib>
#include <cstring>

#include "core/cuda_hooks.hpp"
#include "cuda/cuda_backend.hpp"
#include "cuda/launch_scope.hpp"

namespace convnet::cuda {
namespace {

kernels::ConvGeometry geometry(const Tensor& input, const Tensor& weight, const Tensor& output,
                               const Conv2dParams& p) {
  return {input.size(0),  input.size(1), input.size(2),  input.size(3),  weight.size(0),
          weight.size(2), weight.size(3), output.size(2), output.size(3), p.stride_h,
          p.stride_w,     p.pad_h,       p.pad_w,        p.dilation_h,   p.dilation_w};
}

}  // namespace

kernels::ConvAlgo conv_algo_from_environment() {
  const char* value = std::getenv("CONVNET_CUDA_CONV");
  if (value == nullptr || value[0] == '\0' || std::strcmp(value, "gemm") == 0)
    return kernels::ConvAlgo::ImplicitGemm;
  if (std::strcmp(value, "direct") == 0) return kernels::ConvAlgo::Direct;
  CONVNET_FAIL("CONVNET_CUDA_CONV=", value,
               ": expected \"gemm\" (tiled implicit GEMM, the default) or \"direct\"");
}

CudaBackend::CudaBackend() : conv_algo_(conv_algo_from_environment()) {}

void CudaBackend::conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                 const Conv2dParams& p, Tensor& output) {
  LaunchScope on(output);
  kernels::conv2d_forward(geometry(input, weight, output, p), input.data<float>(),
                          weight.data<float>(), bias ? bias->data<float>() : nullptr,
                          output.data<float>(), conv_algo(), on.stream());
}

void CudaBackend::conv2d_backward_data(const Tensor& grad_output, const Tensor& weight,
                                       const Conv2dParams& p, Tensor& grad_input) {
  LaunchScope on(grad_input);
  kernels::conv2d_backward_data(geometry(grad_input, weight, grad_output, p),
                                grad_output.data<float>(), weight.data<float>(),
                                grad_input.data<float>(), conv_algo(), on.stream());
}

void CudaBackend::conv2d_backward_filter(const Tensor& input, const Tensor& grad_output,
                                         const Conv2dParams& p, Tensor& grad_weight,
                                         bool accumulate) {
  LaunchScope on(grad_weight);
  const kernels::ConvGeometry g = geometry(input, grad_weight, grad_output, p);
  const kernels::ConvAlgo algo = conv_algo();
  const size_t bytes = kernels::conv2d_backward_filter_workspace(g, algo);
  void* workspace = bytes ? on.ctx.workspace(bytes) : nullptr;
  kernels::conv2d_backward_filter(g, input.data<float>(), grad_output.data<float>(),
                                  grad_weight.data<float>(), accumulate, algo, workspace,
                                  on.stream());
}

void CudaBackend::bias_backward(const Tensor& grad_output, Tensor& grad_bias, bool accumulate) {
  LaunchScope on(grad_bias);
  const int64_t n = grad_output.size(0), k = grad_output.size(1);
  const int64_t inner = n * k == 0 ? 0 : grad_output.numel() / (n * k);
  kernels::bias_backward(grad_output.data<float>(), n, k, inner, grad_bias.data<float>(),
                         accumulate, on.stream());
}

}  // namespace convnet::cuda

namespace convnet::cuda_hooks {
Backend* cuda_backend() {
  static auto* instance = new cuda::CudaBackend();  // leaked, like the contexts
  return instance;
}
}  // namespace convnet::cuda_hooks
