#include <sstream>

#include "convnet/nn/init.hpp"
#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"
#include "nn/format.hpp"
#include "ops/checks.hpp"

namespace convnet::nn {

Conv2d::Conv2d(int in_channels, int out_channels, int kernel, int stride, int padding,
               int dilation, bool bias)
    : Conv2d(in_channels, out_channels, kernel, kernel,
             Conv2dParams{stride, stride, padding, padding, dilation, dilation}, bias) {}

Conv2d::Conv2d(int in_channels, int out_channels, int kernel_h, int kernel_w,
               const Conv2dParams& params, bool bias)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_h_(kernel_h),
      kernel_w_(kernel_w),
      params_(params),
      has_bias_(bias) {
  CONVNET_CHECK(in_channels > 0 && out_channels > 0 && kernel_h > 0 && kernel_w > 0,
                "Conv2d: channels (", in_channels, " -> ", out_channels, ") and kernel (",
                kernel_h, ", ", kernel_w, ") must be positive");
  CONVNET_CHECK(params.stride_h > 0 && params.stride_w > 0 && params.dilation_h > 0 &&
                    params.dilation_w > 0 && params.pad_h >= 0 && params.pad_w >= 0,
                "Conv2d: stride (", params.stride_h, ", ", params.stride_w, ") and dilation (",
                params.dilation_h, ", ", params.dilation_w,
                ") must be positive and padding (", params.pad_h, ", ", params.pad_w,
                ") not negative");
  const Shape weight_shape{out_channels, in_channels, kernel_h, kernel_w};
  weight_ = {"weight", Tensor::empty(weight_shape), Tensor::zeros(weight_shape)};
  if (has_bias_) bias_ = {"bias", Tensor::empty({out_channels}), Tensor::zeros({out_channels})};
  init::pytorch_default_(weight_.value, has_bias_ ? &bias_.value : nullptr);
}

Tensor Conv2d::forward(const Tensor& input, Mode) {
  Backend& be = backend_for(input.device());
  Tensor output = ops::conv2d_forward(be, input, weight_.value, bias() ? &bias_.value : nullptr,
                                      params_);
  input_ = input;
  return output;
}

Tensor Conv2d::backward(const Tensor& grad_output) {
  CONVNET_CHECK(input_.defined(), name(), ": backward called without a preceding forward");
  Backend& be = backend_for(grad_output.device());
  Tensor grad_input =
      ops::conv2d_backward_data(be, grad_output, weight_.value, input_.shape(), params_);
  ops::conv2d_backward_filter(be, input_, grad_output, params_, weight_.grad, true);
  if (has_bias_) ops::bias_backward(be, grad_output, bias_.grad, true);
  return grad_input;
}

std::vector<Parameter*> Conv2d::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

std::string Conv2d::name() const {
  std::ostringstream os;
  os << "Conv2d(" << in_channels_ << ", " << out_channels_
     << ", kernel=" << detail::pair(kernel_h_, kernel_w_)
     << ", stride=" << detail::pair(params_.stride_h, params_.stride_w)
     << ", padding=" << detail::pair(params_.pad_h, params_.pad_w);
  if (params_.dilation_h != 1 || params_.dilation_w != 1)
    os << ", dilation=" << detail::pair(params_.dilation_h, params_.dilation_w);
  if (!has_bias_) os << ", bias=false";
  os << ")";
  return os.str();
}

Shape Conv2d::output_shape(const Shape& input_shape) const {
  return ops::detail::conv2d_output_shape(name(), input_shape, weight_.value.shape(), params_);
}

}  // namespace convnet::nn
