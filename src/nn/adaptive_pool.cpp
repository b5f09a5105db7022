#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"
#include "nn/format.hpp"

namespace convnet::nn {

AdaptiveAvgPool2d::AdaptiveAvgPool2d(const AdaptiveAvgPool2dOptions& options) : options_(options) {
  CONVNET_CHECK(options.output_size().h > 0 && options.output_size().w > 0,
                "AdaptiveAvgPool2d: output_size ", detail::as_written(options.output_size()),
                " must be positive");
}

std::string AdaptiveAvgPool2d::name() const {
  return "AdaptiveAvgPool2d(output_size=" + detail::as_written(options_.output_size()) + ")";
}

Shape AdaptiveAvgPool2d::output_shape(const Shape& input_shape) const {
  CONVNET_CHECK(input_shape.rank() == 4, name(), ": expected a 4-D input [N, C, H, W], got ",
                input_shape);
  return Shape{input_shape[0], input_shape[1], options_.output_size().h, options_.output_size().w};
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& input, Mode mode) {
  const bool keep = keep_for_backward(mode);
  output_shape(input.shape());
  Tensor output = ops::adaptive_avg_pool2d_forward(backend_for(input.device()), input,
                                                   options_.output_size().h,
                                                   options_.output_size().w);
  if (keep) input_shape_ = input.shape();  // the backward needs only the shape
  return output;
}

Tensor AdaptiveAvgPool2d::backward(const Tensor& grad_output) {
  check_backward();
  CONVNET_CHECK(input_shape_.rank() == 4, name(),
                ": backward needs a forward in Mode::Train that finished; the latest one threw");
  CONVNET_CHECK(grad_output.defined() && grad_output.shape() == output_shape(input_shape_), name(),
                ": grad_output ", grad_output.defined() ? grad_output.shape().str() : "undefined",
                " must match the forward output ", output_shape(input_shape_));
  return ops::adaptive_avg_pool2d_backward(backend_for(grad_output.device()), grad_output,
                                           input_shape_);
}

}  // namespace convnet::nn
