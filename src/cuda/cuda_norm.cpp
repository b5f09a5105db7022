// CudaBackend: adaptive average pooling and batch normalization, thin calls
// into kernels/adaptive_pool.cu and kernels/batch_norm.cu on the output's
// stream. Shapes were validated by convnet::ops; the checks here guard the
// pairings the kernels rely on. The batch-norm statistics and sums go through
// the context's workspace (stream-ordered, so no host synchronisation).
#include "cuda/cuda_backend.hpp"
#include "cuda/launch_scope.hpp"

namespace convnet::cuda {
namespace {

// [N, C, H, W] or [N, C] as [n, channels, hw]; hw = 1 for [N, C].
kernels::BatchNormShape batch_norm_shape(const Tensor& input, const char* op) {
  const Shape& shape = input.shape();
  CONVNET_CHECK(shape.rank() == 2 || shape.rank() == 4, op, ": input must be [N, C, H, W] or "
                "[N, C], got rank ", shape.rank());
  const int64_t hw = shape.rank() == 4 ? shape[2] * shape[3] : 1;
  return {shape[0], shape[1], hw};
}

const float* data_or_null(const Tensor* t) { return t ? t->data<float>() : nullptr; }
float* data_or_null(Tensor* t) { return t ? t->data<float>() : nullptr; }

}  // namespace

void CudaBackend::adaptive_avg_pool2d_forward(const Tensor& input, Tensor& output) {
  LaunchScope on(output);
  kernels::adaptive_avg_pool2d_forward(input.data<float>(), input.size(0) * input.size(1),
                                       input.size(2), input.size(3), output.size(2),
                                       output.size(3), output.data<float>(), on.stream());
}

void CudaBackend::adaptive_avg_pool2d_backward(const Tensor& grad_output, Tensor& grad_input) {
  LaunchScope on(grad_input);
  kernels::adaptive_avg_pool2d_backward(
      grad_output.data<float>(), grad_input.size(0) * grad_input.size(1), grad_input.size(2),
      grad_input.size(3), grad_output.size(2), grad_output.size(3), grad_input.data<float>(),
      on.stream());
}

void CudaBackend::batch_norm_forward_train(const Tensor& input, const Tensor* weight,
                                           const Tensor* bias, Tensor* running_mean,
                                           Tensor* running_var, float momentum, float eps,
                                           bool relu, Tensor& output, Tensor& save_mean,
                                           Tensor& save_invstd) {
  CONVNET_CHECK((running_mean == nullptr) == (running_var == nullptr),
                "batch_norm_forward_train: running_mean and running_var are given together");
  const kernels::BatchNormShape s = batch_norm_shape(input, "batch_norm_forward_train");
  LaunchScope on(output);
  const size_t bytes = kernels::batch_norm_workspace(s);
  void* workspace = bytes > 0 ? on.ctx.workspace(bytes) : nullptr;
  kernels::batch_norm_forward_train(s, input.data<float>(), data_or_null(weight),
                                    data_or_null(bias), data_or_null(running_mean),
                                    data_or_null(running_var), momentum, eps, relu,
                                    output.data<float>(), save_mean.data<float>(),
                                    save_invstd.data<float>(), workspace, on.stream());
}

void CudaBackend::batch_norm_forward_inference(const Tensor& input, const Tensor* weight,
                                               const Tensor* bias, const Tensor& mean,
                                               const Tensor& var, float eps, bool relu,
                                               Tensor& output) {
  const kernels::BatchNormShape s = batch_norm_shape(input, "batch_norm_forward_inference");
  LaunchScope on(output);
  kernels::batch_norm_forward_inference(s, input.data<float>(), data_or_null(weight),
                                        data_or_null(bias), mean.data<float>(), var.data<float>(),
                                        eps, relu, output.data<float>(), on.stream());
}

void CudaBackend::batch_norm_backward(const Tensor& input, const Tensor& grad_output,
                                      const Tensor* weight, const Tensor& save_mean,
                                      const Tensor& save_invstd, Tensor& grad_input,
                                      Tensor* grad_weight, Tensor* grad_bias, bool accumulate) {
  CONVNET_CHECK((grad_weight == nullptr) == (weight == nullptr) &&
                    (grad_bias == nullptr) == (weight == nullptr),
                "batch_norm_backward: grad_weight and grad_bias are given exactly when weight is");
  const kernels::BatchNormShape s = batch_norm_shape(input, "batch_norm_backward");
  LaunchScope on(grad_input);
  const size_t bytes = kernels::batch_norm_workspace(s);
  void* workspace = bytes > 0 ? on.ctx.workspace(bytes) : nullptr;
  kernels::batch_norm_backward(s, input.data<float>(), grad_output.data<float>(),
                               data_or_null(weight), save_mean.data<float>(),
                               save_invstd.data<float>(), grad_input.data<float>(),
                               data_or_null(grad_weight), data_or_null(grad_bias), accumulate,
                               workspace, on.stream());
}

}  // namespace convnet::cuda
