#include <string>

#include "convnet/nn/init.hpp"
#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"

namespace convnet::nn {

Linear::Linear(int in_features, int out_features, bool bias)
    : in_features_(in_features), out_features_(out_features), has_bias_(bias) {
  CONVNET_CHECK(in_features > 0 && out_features > 0, "Linear: features (", in_features, " -> ",
                out_features, ") must be positive");
  const Shape weight_shape{out_features, in_features};
  weight_ = {"weight", Tensor::empty(weight_shape), Tensor::zeros(weight_shape)};
  if (has_bias_) bias_ = {"bias", Tensor::empty({out_features}), Tensor::zeros({out_features})};
  init::pytorch_default_(weight_.value, has_bias_ ? &bias_.value : nullptr);
}

Tensor Linear::forward(const Tensor& input, Mode) {
  Backend& be = backend_for(input.device());
  Tensor output =
      ops::linear_forward(be, input, weight_.value, has_bias_ ? &bias_.value : nullptr);
  input_ = input;
  return output;
}

Tensor Linear::backward(const Tensor& grad_output) {
  CONVNET_CHECK(input_.defined(), name(), ": backward called without a preceding forward");
  Backend& be = backend_for(grad_output.device());
  Tensor grad_input = ops::linear_backward_data(be, grad_output, weight_.value);
  ops::linear_backward_weight(be, input_, grad_output, weight_.grad, true);
  if (has_bias_) ops::bias_backward(be, grad_output, bias_.grad, true);
  return grad_input;
}

std::vector<Parameter*> Linear::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

std::string Linear::name() const {
  return "Linear(" + std::to_string(in_features_) + ", " + std::to_string(out_features_) +
         (has_bias_ ? ")" : ", bias=false)");
}

Shape Linear::output_shape(const Shape& input_shape) const {
  CONVNET_CHECK(input_shape.rank() == 2, name(), ": input ", input_shape,
                " must be 2-D [N, in] (add a Flatten before it)");
  CONVNET_CHECK(input_shape[1] == in_features_, name(), ": input ", input_shape, " has ",
                input_shape[1], " features but the layer expects ", in_features_);
  return Shape{input_shape[0], out_features_};
}

}  // namespace convnet::nn
