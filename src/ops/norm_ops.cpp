// Adaptive average pooling and batch normalization: validate once, allocate,
// dispatch to the backend.
#include <cmath>

#include "convnet/ops.hpp"
#include "ops/checks.hpp"

namespace convnet::ops {

using namespace detail;

namespace {

void check_output_size(std::string_view op, int64_t out_h, int64_t out_w) {
  CONVNET_CHECK(out_h >= 1 && out_w >= 1, op, ": output size (", out_h, ", ", out_w,
                ") must be positive");
}

// input [N, C, H, W] or [N, C]; returns C.
int64_t check_bn_input(std::string_view op, const Tensor& input) {
  check_tensor(op, "input", input, DType::F32);
  CONVNET_CHECK(input.dim() == 2 || input.dim() == 4, op, ": input ", input.shape(),
                " must be [N, C, H, W] or [N, C] but has rank ", input.dim());
  check_not_empty(op, "input", input);
  return input.size(1);
}

void check_channel_vector(std::string_view op, std::string_view role, const Tensor* t,
                          int64_t channels) {
  if (!t) return;
  check_tensor(op, role, *t, DType::F32, 1, "[C]");
  CONVNET_CHECK(t->size(0) == channels, op, ": ", role, " ", t->shape(), " must have one value per "
                "channel of the input (", channels, ")");
}

void check_eps(std::string_view op, float eps) {
  CONVNET_CHECK(std::isfinite(eps) && eps >= 0.f, op, ": eps ", eps,
                " must be finite and not negative");
}

}  // namespace

Tensor adaptive_avg_pool2d_forward(Backend& be, const Tensor& input, int64_t out_h,
                                   int64_t out_w) {
  constexpr const char* op = "adaptive_avg_pool2d_forward";
  check_tensor(op, "input", input, DType::F32, 4, "[N, C, H, W]");
  check_devices(op, be, {{"input", &input}});
  check_not_empty(op, "input", input);
  check_output_size(op, out_h, out_w);
  Tensor output = Tensor::empty({input.size(0), input.size(1), out_h, out_w}, input.device());
  be.adaptive_avg_pool2d_forward(input, output);
  return output;
}

Tensor adaptive_avg_pool2d_backward(Backend& be, const Tensor& grad_output,
                                    const Shape& input_shape) {
  constexpr const char* op = "adaptive_avg_pool2d_backward";
  check_tensor(op, "grad_output", grad_output, DType::F32, 4, "[N, C, OH, OW]");
  check_devices(op, be, {{"grad_output", &grad_output}});
  CONVNET_CHECK(input_shape.rank() == 4 && input_shape.numel() > 0, op, ": input shape ",
                input_shape, " must be a non-empty [N, C, H, W]");
  check_output_size(op, grad_output.size(2), grad_output.size(3));
  CONVNET_CHECK(grad_output.size(0) == input_shape[0] && grad_output.size(1) == input_shape[1],
                op, ": grad_output ", grad_output.shape(), " does not belong to input ",
                input_shape, " (N and C differ)");
  Tensor grad_input = Tensor::empty(input_shape, grad_output.device());
  be.adaptive_avg_pool2d_backward(grad_output, grad_input);
  return grad_input;
}

Tensor batch_norm_forward_train(Backend& be, const Tensor& input, const Tensor* weight,
                                const Tensor* bias, Tensor* running_mean, Tensor* running_var,
                                float momentum, float eps, bool relu, BatchNormSaved& saved) {
  constexpr const char* op = "batch_norm_forward_train";
  const int64_t channels = check_bn_input(op, input);
  CONVNET_CHECK((weight == nullptr) == (bias == nullptr), op,
                ": weight and bias are given together (affine) or not at all");
  CONVNET_CHECK((running_mean == nullptr) == (running_var == nullptr), op,
                ": running_mean and running_var are given together or not at all");
  check_channel_vector(op, "weight", weight, channels);
  check_channel_vector(op, "bias", bias, channels);
  check_channel_vector(op, "running_mean", running_mean, channels);
  check_channel_vector(op, "running_var", running_var, channels);
  check_devices(op, be,
                {{"input", &input}, {"weight", weight}, {"bias", bias},
                 {"running_mean", running_mean}, {"running_var", running_var}});
  check_eps(op, eps);
  CONVNET_CHECK(momentum >= 0.f && momentum <= 1.f, op, ": momentum ", momentum,
                " must be in [0, 1]");
  const int64_t count = input.numel() / channels;
  CONVNET_CHECK(count > 1, op, ": expected more than 1 value per channel when training, got input ",
                input.shape(), " (PyTorch's rule: a batch of one 1x1 sample has no variance)");
  Tensor output = Tensor::empty(input.shape(), input.device());
  saved.mean = Tensor::empty({channels}, input.device());
  saved.invstd = Tensor::empty({channels}, input.device());
  be.batch_norm_forward_train(input, weight, bias, running_mean, running_var, momentum, eps, relu,
                              output, saved.mean, saved.invstd);
  return output;
}

Tensor batch_norm_forward_inference(Backend& be, const Tensor& input, const Tensor* weight,
                                    const Tensor* bias, const Tensor& mean, const Tensor& var,
                                    float eps, bool relu) {
  constexpr const char* op = "batch_norm_forward_inference";
  const int64_t channels = check_bn_input(op, input);
  CONVNET_CHECK((weight == nullptr) == (bias == nullptr), op,
                ": weight and bias are given together (affine) or not at all");
  check_channel_vector(op, "weight", weight, channels);
  check_channel_vector(op, "bias", bias, channels);
  check_channel_vector(op, "mean", &mean, channels);
  check_channel_vector(op, "var", &var, channels);
  check_devices(op, be,
                {{"input", &input}, {"weight", weight}, {"bias", bias}, {"mean", &mean},
                 {"var", &var}});
  check_eps(op, eps);
  Tensor output = Tensor::empty(input.shape(), input.device());
  be.batch_norm_forward_inference(input, weight, bias, mean, var, eps, relu, output);
  return output;
}

Tensor batch_norm_backward(Backend& be, const Tensor& input, const Tensor& grad_output,
                           const Tensor* weight, const BatchNormSaved& saved,
                           Tensor* grad_weight, Tensor* grad_bias, bool accumulate) {
  constexpr const char* op = "batch_norm_backward";
  const int64_t channels = check_bn_input(op, input);
  check_tensor(op, "grad_output", grad_output, DType::F32);
  check_shape(op, "grad_output", grad_output, input.shape(), "the input");
  CONVNET_CHECK((weight == nullptr) == (grad_weight == nullptr) &&
                    (weight == nullptr) == (grad_bias == nullptr),
                op, ": grad_weight and grad_bias are given exactly when weight is (affine)");
  check_channel_vector(op, "weight", weight, channels);
  check_channel_vector(op, "grad_weight", grad_weight, channels);
  check_channel_vector(op, "grad_bias", grad_bias, channels);
  CONVNET_CHECK(saved.mean.defined() && saved.invstd.defined(), op,
                ": the saved statistics are undefined (no training forward ran)");
  check_channel_vector(op, "saved mean", &saved.mean, channels);
  check_channel_vector(op, "saved invstd", &saved.invstd, channels);
  check_devices(op, be,
                {{"input", &input}, {"grad_output", &grad_output}, {"weight", weight},
                 {"saved mean", &saved.mean}, {"saved invstd", &saved.invstd},
                 {"grad_weight", grad_weight}, {"grad_bias", grad_bias}});
  Tensor grad_input = Tensor::empty(input.shape(), input.device());
  be.batch_norm_backward(input, grad_output, weight, saved.mean, saved.invstd, grad_input,
                         grad_weight, grad_bias, accumulate);
  return grad_input;
}

}  // namespace convnet::ops
