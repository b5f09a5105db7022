#include <sstream>

#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"
#include "nn/format.hpp"
#include "ops/checks.hpp"

namespace convnet::nn {
namespace {

// Checked here, once, so a bad layer fails when it is built, not at its first
// batch; the limits are PyTorch's.
template <typename Options>
Pool2dParams checked_params(const char* layer, PoolMode mode, const Options& o) {
  const Pair kernel = o.kernel_size(), stride = o.stride(), padding = o.padding();
  CONVNET_CHECK(kernel.h > 0 && kernel.w > 0, layer, ": kernel_size ", detail::as_written(kernel),
                " must be positive");
  CONVNET_CHECK(stride.h > 0 && stride.w > 0, layer, ": stride ", detail::as_written(stride),
                " must be positive");
  CONVNET_CHECK(padding.h >= 0 && padding.w >= 0, layer, ": padding ",
                detail::as_written(padding), " must not be negative");
  CONVNET_CHECK(padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2, layer, ": padding ",
                detail::as_written(padding), " must be at most half of kernel_size ",
                detail::as_written(kernel));
  Pool2dParams p;
  p.mode = mode;
  p.kernel_h = kernel.h;
  p.kernel_w = kernel.w;
  p.stride_h = stride.h;
  p.stride_w = stride.w;
  p.pad_h = padding.h;
  p.pad_w = padding.w;
  p.ceil_mode = o.ceil_mode();
  return p;
}

}  // namespace

MaxPool2d::MaxPool2d(Pair kernel_size) : MaxPool2d(MaxPool2dOptions(kernel_size)) {}

MaxPool2d::MaxPool2d(const MaxPool2dOptions& options)
    : Pool2d(checked_params("MaxPool2d", PoolMode::Max, options)), options_(options) {}

AvgPool2d::AvgPool2d(Pair kernel_size) : AvgPool2d(AvgPool2dOptions(kernel_size)) {}

AvgPool2d::AvgPool2d(const AvgPool2dOptions& options)
    : Pool2d(checked_params("AvgPool2d",
                            options.count_include_pad() ? PoolMode::AvgIncludePad
                                                        : PoolMode::AvgExcludePad,
                            options)),
      options_(options) {}

Tensor Pool2d::forward(const Tensor& input, Mode mode) {
  const bool keep = keep_for_backward(mode);
  Backend& be = backend_for(input.device());
  // In Train mode max pooling keeps the argmax so backward need not search the
  // windows again; in Eval mode the op writes none.
  Tensor output = ops::pool2d_forward(be, input, params_, keep ? &argmax_ : nullptr);
  if (keep) input_ = input;
  return output;
}

Tensor Pool2d::backward(const Tensor& grad_output) {
  check_backward(input_);
  Backend& be = backend_for(grad_output.device());
  return ops::pool2d_backward(be, input_, grad_output, argmax_.defined() ? &argmax_ : nullptr,
                              params_);
}

Shape Pool2d::output_shape(const Shape& input_shape) const {
  return ops::detail::pool2d_output_shape(name(), input_shape, params_);
}

// torch.nn.MaxPool2d's repr. PyTorch prints dilation, which is always 1 here.
std::string MaxPool2d::name() const {
  const MaxPool2dOptions& o = options_;
  std::ostringstream os;
  os << "MaxPool2d(kernel_size=" << detail::as_written(o.kernel_size())
     << ", stride=" << detail::as_written(o.stride())
     << ", padding=" << detail::as_written(o.padding())
     << ", dilation=1, ceil_mode=" << detail::python_bool(o.ceil_mode()) << ")";
  return os.str();
}

// torch.nn.AvgPool2d's repr, which leaves out ceil_mode and count_include_pad.
std::string AvgPool2d::name() const {
  const AvgPool2dOptions& o = options_;
  std::ostringstream os;
  os << "AvgPool2d(kernel_size=" << detail::as_written(o.kernel_size())
     << ", stride=" << detail::as_written(o.stride())
     << ", padding=" << detail::as_written(o.padding()) << ")";
  return os.str();
}

}  // namespace convnet::nn
