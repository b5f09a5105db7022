#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"

namespace convnet::nn {

Tensor Softmax::forward(const Tensor& input, Mode mode) {
  const bool keep = keep_for_backward(mode);
  Backend& be = backend_for(input.device());
  Tensor output = log_ ? ops::log_softmax_forward(be, input) : ops::softmax_forward(be, input);
  if (keep) output_ = output;  // backward needs only the output
  return output;
}

Tensor Softmax::backward(const Tensor& grad_output) {
  check_backward(output_);
  Backend& be = backend_for(grad_output.device());
  return log_ ? ops::log_softmax_backward(be, output_, grad_output)
              : ops::softmax_backward(be, output_, grad_output);
}

}  // namespace convnet::nn
