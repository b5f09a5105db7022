#include <sstream>

#include "convnet/nn/init.hpp"
#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"
#include "nn/format.hpp"
#include "ops/checks.hpp"

namespace convnet::nn {
namespace {

// Checked here, once, so a bad layer fails when it is built, not at its first batch.
Conv2dParams checked_params(const Conv2dOptions& o) {
  CONVNET_CHECK(o.in_channels() > 0 && o.out_channels() > 0, "Conv2d: in_channels ",
                o.in_channels(), " and out_channels ", o.out_channels(), " must be positive");
  CONVNET_CHECK(o.kernel_size().h > 0 && o.kernel_size().w > 0, "Conv2d: kernel_size ",
                detail::tuple(o.kernel_size()), " must be positive");
  CONVNET_CHECK(o.stride().h > 0 && o.stride().w > 0, "Conv2d: stride ",
                detail::tuple(o.stride()), " must be positive");
  CONVNET_CHECK(o.padding().h >= 0 && o.padding().w >= 0, "Conv2d: padding ",
                detail::tuple(o.padding()), " must not be negative");
  CONVNET_CHECK(o.dilation().h > 0 && o.dilation().w > 0, "Conv2d: dilation ",
                detail::tuple(o.dilation()), " must be positive");
  return Conv2dParams{o.stride().h,  o.stride().w,   o.padding().h,
                      o.padding().w, o.dilation().h, o.dilation().w};
}

}  // namespace

Conv2d::Conv2d(int in_channels, int out_channels, Pair kernel_size)
    : Conv2d(Conv2dOptions(in_channels, out_channels, kernel_size)) {}

Conv2d::Conv2d(const Conv2dOptions& options) : options_(options), params_(checked_params(options)) {
  const int out = options.out_channels();
  const Shape weight_shape{out, options.in_channels(), options.kernel_size().h,
                           options.kernel_size().w};
  weight_ = &register_parameter("weight", Tensor::empty(weight_shape));
  if (options.bias()) bias_ = &register_parameter("bias", Tensor::empty({out}));
  init::pytorch_default_(weight_->value, bias_ ? &bias_->value : nullptr);
}

Tensor Conv2d::forward(const Tensor& input, Mode mode) {
  const bool keep = keep_for_backward(mode);
  Backend& be = backend_for(input.device());
  const Tensor* b = bias_ ? &bias_->value : nullptr;
  Tensor output = fuse_relu_ ? ops::conv2d_bias_relu_forward(be, input, weight_->value, b, params_)
                             : ops::conv2d_forward(be, input, weight_->value, b, params_);
  if (keep) {
    input_ = input;  // backward_filter reads it
    if (fuse_relu_) output_ = output;
  }
  return output;
}

Tensor Conv2d::backward(const Tensor& grad_output_in) {
  check_backward(input_);
  Backend& be = backend_for(grad_output_in.device());
  // Fused ReLU: its gradient from the kept output (> 0 exactly where the input was).
  const Tensor grad_output = output_.defined()
      ? ops::activation_backward(be, Activation::ReLU, 0.f, output_, output_, grad_output_in)
      : grad_output_in;
  Tensor grad_input;  // undefined when the input's gradient is not wanted (set_input_grad)
  if (input_grad())
    grad_input = ops::conv2d_backward_data(be, grad_output, weight_->value, input_.shape(), params_);
  ops::conv2d_backward_filter(be, input_, grad_output, params_, weight_->grad, true);
  if (bias_) ops::bias_backward(be, grad_output, bias_->grad, true);
  return grad_input;
}

// torch.nn.Conv2d's repr: stride always, padding and dilation when not the
// default, bias only when absent; every extent as a tuple.
std::string Conv2d::name() const {
  const Conv2dOptions& o = options_;
  std::ostringstream os;
  os << "Conv2d(" << o.in_channels() << ", " << o.out_channels()
     << ", kernel_size=" << detail::tuple(o.kernel_size()) << ", stride=" << detail::tuple(o.stride());
  if (o.padding() != Pair(0)) os << ", padding=" << detail::tuple(o.padding());
  if (o.dilation() != Pair(1)) os << ", dilation=" << detail::tuple(o.dilation());
  if (!o.bias()) os << ", bias=False";
  os << ")";
  return os.str();
}

Shape Conv2d::output_shape(const Shape& input_shape) const {
  return ops::detail::conv2d_output_shape(name(), input_shape, weight_->value.shape(), params_);
}

}  // namespace convnet::nn
