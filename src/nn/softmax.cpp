#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"

namespace convnet::nn {

Tensor Softmax::forward(const Tensor& input, Mode) {
  Backend& be = backend_for(input.device());
  output_ = ops::softmax_forward(be, input, log_);  // backward needs only the output
  return output_;
}

Tensor Softmax::backward(const Tensor& grad_output) {
  CONVNET_CHECK(output_.defined(), name(), ": backward called without a preceding forward");
  Backend& be = backend_for(grad_output.device());
  return ops::softmax_backward(be, output_, grad_output, log_);
}

}  // namespace convnet::nn
