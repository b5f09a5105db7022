// CudaBackend: pooling, activations, softmax, dropout, elementwise helpers and
// the accuracy counter: thin calls into kernels/, on the output's stream.
#include "cuda/cuda_backend.hpp"
#include "cuda/launch_scope.hpp"

namespace convnet::cuda {
namespace {

kernels::PoolGeometry pool_geometry(const Tensor& input, const Tensor& output,
                                    const Pool2dParams& p) {
  return {input.size(0) * input.size(1), input.size(2), input.size(3), output.size(2),
          output.size(3), p};
}

struct ChannelView {
  int64_t outer = 1, channels = 1, inner = 1;
};

ChannelView channel_view(const Shape& shape) {  // as src/cpu/softmax.cpp
  ChannelView v;
  v.outer = shape.rank() > 0 ? shape[0] : 1;
  v.channels = shape.rank() > 1 ? shape[1] : 1;
  for (int d = 2; d < shape.rank(); ++d) v.inner *= shape[d];
  return v;
}

}  // namespace

void CudaBackend::pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& output,
                                 Tensor* argmax) {
  LaunchScope on(output);
  int32_t* indices = (p.mode == PoolMode::Max && argmax) ? argmax->data<int32_t>() : nullptr;
  kernels::pool2d_forward(pool_geometry(input, output, p), input.data<float>(),
                          output.data<float>(), indices, on.stream());
}

void CudaBackend::pool2d_backward(const Tensor& input, const Tensor& grad_output,
                                  const Tensor* argmax, const Pool2dParams& p,
                                  Tensor& grad_input) {
  LaunchScope on(grad_input);
  const int32_t* indices =
      (p.mode == PoolMode::Max && argmax) ? argmax->data<int32_t>() : nullptr;
  kernels::pool2d_backward(pool_geometry(input, grad_output, p), input.data<float>(),
                           grad_output.data<float>(), indices, grad_input.data<float>(),
                           on.stream());
}

void CudaBackend::activation_forward(Activation a, float alpha, const Tensor& input,
                                     Tensor& output) {
  LaunchScope on(output);
  kernels::activation_forward(a, alpha, input.data<float>(), output.data<float>(), input.numel(),
                              on.stream());
}

void CudaBackend::activation_backward(Activation a, float alpha, const Tensor& input,
                                      const Tensor& output, const Tensor& grad_output,
                                      Tensor& grad_input) {
  LaunchScope on(grad_input);
  // ReLU and LeakyReLU read the input, Sigmoid and Tanh the output; the other may be undefined.
  const float* x = input.defined() ? input.data<float>() : nullptr;
  const float* y = output.defined() ? output.data<float>() : nullptr;
  kernels::activation_backward(a, alpha, x, y, grad_output.data<float>(),
                               grad_input.data<float>(), grad_output.numel(), on.stream());
}

void CudaBackend::softmax_forward(const Tensor& input, Tensor& output, bool log) {
  LaunchScope on(output);
  const ChannelView v = channel_view(input.shape());
  kernels::softmax_forward(input.data<float>(), output.data<float>(), v.outer, v.channels, v.inner,
                           log, on.stream());
}

void CudaBackend::softmax_backward(const Tensor& output, const Tensor& grad_output,
                                   Tensor& grad_input, bool log) {
  LaunchScope on(grad_input);
  const ChannelView v = channel_view(output.shape());
  kernels::softmax_backward(output.data<float>(), grad_output.data<float>(),
                            grad_input.data<float>(), v.outer, v.channels, v.inner, log,
                            on.stream());
}

void CudaBackend::dropout_forward(const Tensor& input, float p, uint64_t seed, uint64_t offset,
                                  Tensor& output, Tensor& mask) {
  LaunchScope on(output);
  kernels::dropout_forward(input.data<float>(), p, seed, offset, output.data<float>(),
                           mask.data<float>(), input.numel(), on.stream());
}

void CudaBackend::dropout_backward(const Tensor& grad_output, const Tensor& mask,
                                   Tensor& grad_input) {
  LaunchScope on(grad_input);
  kernels::dropout_backward(grad_output.data<float>(), mask.data<float>(),
                            grad_input.data<float>(), grad_output.numel(), on.stream());
}

void CudaBackend::fill(Tensor& output, float value) {
  LaunchScope on(output);
  if (output.dtype() == DType::I32)
    kernels::fill_i32(output.data<int32_t>(), output.numel(), static_cast<int32_t>(value),
                      on.stream());
  else
    kernels::fill_f32(output.data<float>(), output.numel(), value, on.stream());
}

void CudaBackend::add(const Tensor& a, const Tensor& b, Tensor& output) {
  LaunchScope on(output);
  kernels::add_f32(a.data<float>(), b.data<float>(), output.data<float>(), output.numel(),
                   on.stream());
}

void CudaBackend::scale(const Tensor& input, float alpha, Tensor& output) {
  LaunchScope on(output);
  kernels::scale_f32(input.data<float>(), alpha, output.data<float>(), output.numel(),
                     on.stream());
}

void CudaBackend::count_correct(const Tensor& logits, const Tensor& labels, Tensor& correct,
                                bool accumulate) {
  LaunchScope on(correct);
  kernels::count_correct(logits.data<float>(), labels.data<int32_t>(), logits.size(0),
                         logits.size(1), correct.data<int32_t>(), accumulate, on.stream());
}

}  // namespace convnet::cuda
