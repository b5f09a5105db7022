// Pooling ops: validate once, allocate outputs, dispatch to the backend.
#include "convnet/ops.hpp"
#include "ops/checks.hpp"

namespace convnet::ops {
namespace detail {

Shape pool2d_output_shape(std::string_view op, const Shape& input, const Pool2dParams& p) {
  CONVNET_CHECK(input.rank() == 4, op, ": input ", input, " must be 4-D [N, C, H, W] but has rank ",
                input.rank());
  CONVNET_CHECK(p.kernel_h > 0 && p.kernel_w > 0, op, ": kernel (", p.kernel_h, ", ", p.kernel_w,
                ") must be positive");
  CONVNET_CHECK(p.stride_h > 0 && p.stride_w > 0, op, ": stride (", p.stride_h, ", ", p.stride_w,
                ") must be positive");
  CONVNET_CHECK(p.pad_h >= 0 && p.pad_w >= 0, op, ": padding (", p.pad_h, ", ", p.pad_w,
                ") must not be negative");
  // PyTorch's rule: otherwise a window could lie entirely in the padding.
  CONVNET_CHECK(p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2, op, ": padding (", p.pad_h,
                ", ", p.pad_w, ") must be at most half the kernel (", p.kernel_h, ", ", p.kernel_w,
                ")");
  const int64_t out_h = pool2d_output_size(input[2], p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  const int64_t out_w = pool2d_output_size(input[3], p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  CONVNET_CHECK(input[2] + 2 * p.pad_h >= p.kernel_h && input[3] + 2 * p.pad_w >= p.kernel_w &&
                    out_h >= 1 && out_w >= 1,
                op, ": input ", input, " with padding (", p.pad_h, ", ", p.pad_w,
                ") is smaller than the kernel (", p.kernel_h, ", ", p.kernel_w,
                "); the output would be empty");
  return Shape{input[0], input[1], out_h, out_w};
}

}  // namespace detail

using namespace detail;

Tensor pool2d_forward(Backend& be, const Tensor& input, const Pool2dParams& p, Tensor* argmax) {
  constexpr const char* op = "pool2d_forward";
  check_tensor(op, "input", input, DType::F32, 4, "[N, C, H, W]");
  check_devices(op, be, {{"input", &input}});
  check_not_empty(op, "input", input);
  const Shape out_shape = pool2d_output_shape(op, input.shape(), p);
  Tensor output = Tensor::empty(out_shape, input.device());
  Tensor* indices = nullptr;
  if (argmax) {
    // Only max pooling has indices; leave nothing stale behind for the others.
    *argmax = p.mode == PoolMode::Max ? Tensor::empty(out_shape, input.device(), DType::I32)
                                      : Tensor();
    if (p.mode == PoolMode::Max) indices = argmax;
  }
  be.pool2d_forward(input, p, output, indices);
  return output;
}

Tensor pool2d_backward(Backend& be, const Tensor& input, const Tensor& grad_output,
                       const Tensor* argmax, const Pool2dParams& p) {
  constexpr const char* op = "pool2d_backward";
  check_tensor(op, "input", input, DType::F32, 4, "[N, C, H, W]");
  check_tensor(op, "grad_output", grad_output, DType::F32, 4, "[N, C, P, Q]");
  // Indices only mean something for max pooling; average pooling ignores them.
  const Tensor* indices = p.mode == PoolMode::Max ? argmax : nullptr;
  if (indices) check_tensor(op, "argmax", *indices, DType::I32, 4, "[N, C, P, Q]");
  check_devices(op, be,
                {{"input", &input}, {"grad_output", &grad_output}, {"argmax", indices}});
  check_not_empty(op, "input", input);
  const Shape out_shape = pool2d_output_shape(op, input.shape(), p);
  CONVNET_CHECK(grad_output.shape() == out_shape, op, ": grad_output ", grad_output.shape(),
                " must match the forward output ", out_shape, " of input ", input.shape());
  if (indices) check_shape(op, "argmax", *indices, out_shape, "the forward output");
  Tensor grad_input = Tensor::empty(input.shape(), input.device());
  be.pool2d_backward(input, grad_output, indices, p, grad_input);
  return grad_input;
}

}  // namespace convnet::ops
