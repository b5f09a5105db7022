#include <sstream>

#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"
#include "nn/format.hpp"
#include "ops/checks.hpp"

namespace convnet::nn {
namespace {

// Square pooling with PyTorch's defaults (stride 0 means stride = kernel),
// checked here so a bad layer fails when it is built, not at its first batch.
Pool2dParams square_params(const char* layer, PoolMode mode, int kernel, int stride, int padding,
                           bool ceil_mode) {
  if (stride == 0) stride = kernel;
  CONVNET_CHECK(kernel > 0 && stride > 0 && padding >= 0, layer, ": kernel ", kernel,
                " and stride ", stride, " must be positive and padding ", padding,
                " not negative");
  CONVNET_CHECK(padding <= kernel / 2, layer, ": padding ", padding,
                " must be at most half the kernel ", kernel);
  Pool2dParams p;
  p.mode = mode;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = padding;
  p.ceil_mode = ceil_mode;
  return p;
}

}  // namespace

MaxPool2d::MaxPool2d(int kernel, int stride, int padding, bool ceil_mode)
    : Pool2d(square_params("MaxPool2d", PoolMode::Max, kernel, stride, padding, ceil_mode)) {}

AvgPool2d::AvgPool2d(int kernel, int stride, int padding, bool count_include_pad, bool ceil_mode)
    : Pool2d(square_params("AvgPool2d",
                           count_include_pad ? PoolMode::AvgIncludePad : PoolMode::AvgExcludePad,
                           kernel, stride, padding, ceil_mode)) {}

Tensor Pool2d::forward(const Tensor& input, Mode) {
  Backend& be = backend_for(input.device());
  // Max mode keeps the argmax so backward need not search the windows again.
  Tensor output = ops::pool2d_forward(be, input, params_, &argmax_);
  input_ = input;
  return output;
}

Tensor Pool2d::backward(const Tensor& grad_output) {
  CONVNET_CHECK(input_.defined(), name(), ": backward called without a preceding forward");
  Backend& be = backend_for(grad_output.device());
  return ops::pool2d_backward(be, input_, grad_output, argmax_.defined() ? &argmax_ : nullptr,
                              params_);
}

std::string Pool2d::name() const {
  const Pool2dParams& p = params_;
  std::ostringstream os;
  os << (p.mode == PoolMode::Max ? "MaxPool2d" : "AvgPool2d")
     << "(kernel=" << detail::pair(p.kernel_h, p.kernel_w)
     << ", stride=" << detail::pair(p.stride_h, p.stride_w);
  if (p.pad_h != 0 || p.pad_w != 0) os << ", padding=" << detail::pair(p.pad_h, p.pad_w);
  if (p.ceil_mode) os << ", ceil_mode=true";
  if (p.mode == PoolMode::AvgExcludePad) os << ", count_include_pad=false";
  os << ")";
  return os.str();
}

Shape Pool2d::output_shape(const Shape& input_shape) const {
  return ops::detail::pool2d_output_shape(name(), input_shape, params_);
}

}  // namespace convnet::nn
