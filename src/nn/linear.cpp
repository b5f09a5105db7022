#include <string>

#include "convnet/nn/init.hpp"
#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"
#include "nn/format.hpp"

namespace convnet::nn {

Linear::Linear(int in_features, int out_features)
    : Linear(LinearOptions(in_features, out_features)) {}

Linear::Linear(const LinearOptions& options) : options_(options) {
  const int in = options.in_features(), out = options.out_features();
  CONVNET_CHECK(in > 0 && out > 0, "Linear: in_features ", in, " and out_features ", out,
                " must be positive");
  const Shape weight_shape{out, in};
  weight_ = &register_parameter("weight", Tensor::empty(weight_shape));
  if (options.bias()) bias_ = &register_parameter("bias", Tensor::empty({out}));
  init::pytorch_default_(weight_->value, bias_ ? &bias_->value : nullptr);
}

Tensor Linear::forward(const Tensor& input, Mode mode) {
  const bool keep = keep_for_backward(mode);
  Backend& be = backend_for(input.device());
  const Tensor* b = bias_ ? &bias_->value : nullptr;
  Tensor output = fuse_relu_ ? ops::linear_bias_relu_forward(be, input, weight_->value, b)
                             : ops::linear_forward(be, input, weight_->value, b);
  if (keep) {
    input_ = input;  // backward_weight reads it
    if (fuse_relu_) output_ = output;
  }
  return output;
}

Tensor Linear::backward(const Tensor& grad_output_in) {
  check_backward(input_);
  Backend& be = backend_for(grad_output_in.device());
  // Fused ReLU: its gradient from the kept output (> 0 exactly where the input was).
  const Tensor grad_output = output_.defined()
      ? ops::activation_backward(be, Activation::ReLU, 0.f, output_, output_, grad_output_in)
      : grad_output_in;
  Tensor grad_input;  // undefined when the input's gradient is not wanted (set_input_grad)
  if (input_grad()) grad_input = ops::linear_backward_data(be, grad_output, weight_->value);
  ops::linear_backward_weight(be, input_, grad_output, weight_->grad, true);
  if (bias_) ops::bias_backward(be, grad_output, bias_->grad, true);
  return grad_input;
}

// torch.nn.Linear's repr.
std::string Linear::name() const {
  return "Linear(in_features=" + std::to_string(options_.in_features()) +
         ", out_features=" + std::to_string(options_.out_features()) +
         ", bias=" + detail::python_bool(options_.bias()) + ")";
}

Shape Linear::output_shape(const Shape& input_shape) const {
  const int in = options_.in_features();
  CONVNET_CHECK(input_shape.rank() == 2, name(), ": input ", input_shape,
                " must be 2-D [N, in] (add a Flatten before it)");
  CONVNET_CHECK(input_shape[1] == in, name(), ": input ", input_shape, " has ", input_shape[1],
                " features but the layer expects ", in);
  return Shape{input_shape[0], options_.out_features()};
}

}  // namespace convnet::nn
