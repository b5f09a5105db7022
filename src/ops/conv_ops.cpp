// Convolution ops: validate once, allocate outputs, dispatch to the backend.
#include "convnet/ops.hpp"
#include "ops/checks.hpp"

namespace convnet::ops {
namespace detail {

Shape conv2d_output_shape(std::string_view op, const Shape& input, const Shape& weight,
                          const Conv2dParams& p) {
  CONVNET_CHECK(input.rank() == 4, op, ": input ", input, " must be 4-D [N, C, H, W] but has rank ",
                input.rank());
  CONVNET_CHECK(weight.rank() == 4, op, ": weight ", weight,
                " must be 4-D [K, C, R, S] but has rank ", weight.rank());
  CONVNET_CHECK(input[1] == weight[1], op, ": input ", input, " has ", input[1],
                " channels but weight ", weight, " expects ", weight[1]);
  CONVNET_CHECK(weight[0] > 0 && weight[1] > 0 && weight[2] > 0 && weight[3] > 0, op,
                ": weight ", weight, " needs at least one filter, one channel and a 1x1 kernel");
  CONVNET_CHECK(p.stride_h > 0 && p.stride_w > 0, op, ": stride (", p.stride_h, ", ", p.stride_w,
                ") must be positive");
  CONVNET_CHECK(p.dilation_h > 0 && p.dilation_w > 0, op, ": dilation (", p.dilation_h, ", ",
                p.dilation_w, ") must be positive");
  CONVNET_CHECK(p.pad_h >= 0 && p.pad_w >= 0, op, ": padding (", p.pad_h, ", ", p.pad_w,
                ") must not be negative");
  // The dilated kernel must fit in the padded input at least once.
  const int64_t span_h = int64_t{p.dilation_h} * (weight[2] - 1) + 1;
  const int64_t span_w = int64_t{p.dilation_w} * (weight[3] - 1) + 1;
  CONVNET_CHECK(input[2] + 2 * p.pad_h >= span_h && input[3] + 2 * p.pad_w >= span_w, op,
                ": input ", input, " with padding (", p.pad_h, ", ", p.pad_w,
                ") is smaller than the kernel of weight ", weight, " (dilated extent ", span_h, "x",
                span_w, "); the output would be empty");
  return Shape{input[0], weight[0],
               conv2d_output_size(input[2], static_cast<int>(weight[2]), p.stride_h, p.pad_h,
                                  p.dilation_h),
               conv2d_output_size(input[3], static_cast<int>(weight[3]), p.stride_w, p.pad_w,
                                  p.dilation_w)};
}

}  // namespace detail

using namespace detail;

namespace {
// conv2d_forward and its fused form share every check.
Tensor conv2d_output(const char* op, Backend& be, const Tensor& input, const Tensor& weight,
                     const Tensor* bias, const Conv2dParams& p) {
  check_tensor(op, "input", input, DType::F32, 4, "[N, C, H, W]");
  check_tensor(op, "weight", weight, DType::F32, 4, "[K, C, R, S]");
  if (bias) check_tensor(op, "bias", *bias, DType::F32, 1, "[K]");
  check_devices(op, be, {{"input", &input}, {"weight", &weight}, {"bias", bias}});
  check_not_empty(op, "input", input);
  const Shape out_shape = conv2d_output_shape(op, input.shape(), weight.shape(), p);
  if (bias)
    CONVNET_CHECK(bias->size(0) == weight.size(0), op, ": bias ", bias->shape(),
                  " must have one element per filter of weight ", weight.shape());
  return Tensor::empty(out_shape, input.device());
}
}  // namespace

Tensor conv2d_forward(Backend& be, const Tensor& input, const Tensor& weight, const Tensor* bias,
                      const Conv2dParams& p) {
  Tensor output = conv2d_output("conv2d_forward", be, input, weight, bias, p);
  be.conv2d_forward(input, weight, bias, p, output);
  return output;
}

Tensor conv2d_bias_relu_forward(Backend& be, const Tensor& input, const Tensor& weight,
                                const Tensor* bias, const Conv2dParams& p) {
  Tensor output = conv2d_output("conv2d_bias_relu_forward", be, input, weight, bias, p);
  be.conv2d_bias_relu_forward(input, weight, bias, p, output);
  return output;
}

Tensor conv2d_backward_data(Backend& be, const Tensor& grad_output, const Tensor& weight,
                            const Shape& input_shape, const Conv2dParams& p) {
  constexpr const char* op = "conv2d_backward_data";
  check_tensor(op, "grad_output", grad_output, DType::F32, 4, "[N, K, P, Q]");
  check_tensor(op, "weight", weight, DType::F32, 4, "[K, C, R, S]");
  check_devices(op, be, {{"grad_output", &grad_output}, {"weight", &weight}});
  check_not_empty(op, "grad_output", grad_output);
  const Shape out_shape = conv2d_output_shape(op, input_shape, weight.shape(), p);
  CONVNET_CHECK(grad_output.shape() == out_shape, op, ": grad_output ", grad_output.shape(),
                " must match the forward output ", out_shape, " of input ", input_shape,
                " and weight ", weight.shape());
  Tensor grad_input = Tensor::empty(input_shape, grad_output.device());
  be.conv2d_backward_data(grad_output, weight, p, grad_input);
  return grad_input;
}

void conv2d_backward_filter(Backend& be, const Tensor& input, const Tensor& grad_output,
                            const Conv2dParams& p, Tensor& grad_weight, bool accumulate) {
  constexpr const char* op = "conv2d_backward_filter";
  check_tensor(op, "input", input, DType::F32, 4, "[N, C, H, W]");
  check_tensor(op, "grad_output", grad_output, DType::F32, 4, "[N, K, P, Q]");
  check_tensor(op, "grad_weight", grad_weight, DType::F32, 4, "[K, C, R, S]");
  check_devices(op, be,
                {{"input", &input}, {"grad_output", &grad_output}, {"grad_weight", &grad_weight}});
  check_not_empty(op, "input", input);
  const Shape out_shape = conv2d_output_shape(op, input.shape(), grad_weight.shape(), p);
  CONVNET_CHECK(grad_output.shape() == out_shape, op, ": grad_output ", grad_output.shape(),
                " must match the forward output ", out_shape, " of input ", input.shape(),
                " and weight ", grad_weight.shape());
  be.conv2d_backward_filter(input, grad_output, p, grad_weight, accumulate);
}

void bias_backward(Backend& be, const Tensor& grad_output, Tensor& grad_bias, bool accumulate) {
  constexpr const char* op = "bias_backward";
  check_tensor(op, "grad_output", grad_output, DType::F32);
  check_min_rank(op, "grad_output", grad_output, 2);
  check_tensor(op, "grad_bias", grad_bias, DType::F32, 1, "[K]");
  check_devices(op, be, {{"grad_output", &grad_output}, {"grad_bias", &grad_bias}});
  CONVNET_CHECK(grad_bias.size(0) == grad_output.size(1), op, ": grad_bias ", grad_bias.shape(),
                " must have one element per channel of grad_output ", grad_output.shape());
  be.bias_backward(grad_output, grad_bias, accumulate);
}

}  // namespace convnet::ops
