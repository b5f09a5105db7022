#include "convnet/nn/layers.hpp"

namespace convnet::nn {

Shape Flatten::output_shape(const Shape& input_shape) const {
  CONVNET_CHECK(input_shape.rank() >= 2, name(), ": input ", input_shape,
                " needs rank >= 2 ([N, ...]); dimension 0 is the batch");
  int64_t rest = 1;
  for (int i = 1; i < input_shape.rank(); ++i) rest *= input_shape[i];
  return Shape{input_shape[0], rest};
}

Tensor Flatten::forward(const Tensor& input, Mode mode) {
  const bool keep = keep_for_backward(mode);
  CONVNET_CHECK(input.defined(), name(), ": input is undefined");
  const Shape out = output_shape(input.shape());
  if (keep) input_shape_ = input.shape();  // a shape, not a tensor
  return input.reshape(out);  // a view: no copy
}

Tensor Flatten::backward(const Tensor& grad_output) {
  check_backward();
  CONVNET_CHECK(input_shape_.rank() > 0, name(),
                ": backward needs a forward in Mode::Train that finished; the latest one threw");
  CONVNET_CHECK(grad_output.defined(), name(), ": grad_output is undefined");
  CONVNET_CHECK(grad_output.shape() == output_shape(input_shape_), name(), ": grad_output ",
                grad_output.shape(), " must match the forward output ",
                output_shape(input_shape_));
  return grad_output.reshape(input_shape_);
}

}  // namespace convnet::nn
