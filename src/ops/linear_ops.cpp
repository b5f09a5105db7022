// Linear (fully connected) ops, PyTorch's layout: weight [out, in].
#include "convnet/ops.hpp"
#include "ops/checks.hpp"

namespace convnet::ops {

using namespace detail;

namespace {
// linear_forward and its fused form share every check.
Tensor linear_output(const char* op, Backend& be, const Tensor& input, const Tensor& weight,
                     const Tensor* bias) {
  check_tensor(op, "input", input, DType::F32, 2, "[N, in]");
  check_tensor(op, "weight", weight, DType::F32, 2, "[out, in]");
  if (bias) check_tensor(op, "bias", *bias, DType::F32, 1, "[out]");
  check_devices(op, be, {{"input", &input}, {"weight", &weight}, {"bias", bias}});
  check_not_empty(op, "input", input);
  check_not_empty(op, "weight", weight);
  CONVNET_CHECK(input.size(1) == weight.size(1), op, ": input ", input.shape(), " has ",
                input.size(1), " features but weight ", weight.shape(), " expects ",
                weight.size(1));
  if (bias)
    CONVNET_CHECK(bias->size(0) == weight.size(0), op, ": bias ", bias->shape(),
                  " must have one element per output feature of weight ", weight.shape());
  return Tensor::empty({input.size(0), weight.size(0)}, input.device());
}
}  // namespace

Tensor linear_forward(Backend& be, const Tensor& input, const Tensor& weight, const Tensor* bias) {
  Tensor output = linear_output("linear_forward", be, input, weight, bias);
  be.linear_forward(input, weight, bias, output);
  return output;
}

Tensor linear_bias_relu_forward(Backend& be, const Tensor& input, const Tensor& weight,
                                const Tensor* bias) {
  Tensor output = linear_output("linear_bias_relu_forward", be, input, weight, bias);
  be.linear_bias_relu_forward(input, weight, bias, output);
  return output;
}

Tensor linear_backward_data(Backend& be, const Tensor& grad_output, const Tensor& weight) {
  constexpr const char* op = "linear_backward_data";
  check_tensor(op, "grad_output", grad_output, DType::F32, 2, "[N, out]");
  check_tensor(op, "weight", weight, DType::F32, 2, "[out, in]");
  check_devices(op, be, {{"grad_output", &grad_output}, {"weight", &weight}});
  check_not_empty(op, "grad_output", grad_output);
  check_not_empty(op, "weight", weight);
  CONVNET_CHECK(grad_output.size(1) == weight.size(0), op, ": grad_output ", grad_output.shape(),
                " has ", grad_output.size(1), " features but weight ", weight.shape(),
                " produces ", weight.size(0));
  Tensor grad_input = Tensor::empty({grad_output.size(0), weight.size(1)}, grad_output.device());
  be.linear_backward_data(grad_output, weight, grad_input);
  return grad_input;
}

void linear_backward_weight(Backend& be, const Tensor& input, const Tensor& grad_output,
                            Tensor& grad_weight, bool accumulate) {
  constexpr const char* op = "linear_backward_weight";
  check_tensor(op, "input", input, DType::F32, 2, "[N, in]");
  check_tensor(op, "grad_output", grad_output, DType::F32, 2, "[N, out]");
  check_tensor(op, "grad_weight", grad_weight, DType::F32, 2, "[out, in]");
  check_devices(op, be,
                {{"input", &input}, {"grad_output", &grad_output}, {"grad_weight", &grad_weight}});
  check_not_empty(op, "input", input);
  check_not_empty(op, "grad_weight", grad_weight);
  CONVNET_CHECK(grad_output.size(0) == input.size(0), op, ": grad_output ", grad_output.shape(),
                " and input ", input.shape(), " disagree on the batch size");
  check_shape(op, "grad_weight", grad_weight, Shape{grad_output.size(1), input.size(1)},
              "[grad_output features, input features]");
  be.linear_backward_weight(input, grad_output, grad_weight, accumulate);
}

}  // namespace convnet::ops
