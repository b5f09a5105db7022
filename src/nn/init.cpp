// Seeded initialisation: draw with Tensor::rand/randn (the same values on every
// device for a seed), then copy into the tensor wherever it lives.
#include "convnet/nn/init.hpp"

#include <cmath>

namespace convnet::nn::init {
namespace {

// PyTorch's _calculate_fan_in_and_fan_out: dims 0 and 1 times the receptive field.
int64_t receptive_field(const Shape& shape, const char* what) {
  CONVNET_CHECK(shape.rank() >= 2, "init::", what, ": weight ", shape,
                " has rank ", shape.rank(), "; fans need rank >= 2 ([out, in] or [K, C, R, S])");
  int64_t field = 1;
  for (int i = 2; i < shape.rank(); ++i) field *= shape[i];
  return field;
}

void check_float(const Tensor& t, const char* what) {
  CONVNET_CHECK(t.defined(), "init::", what, ": the tensor is undefined");
  CONVNET_CHECK(t.dtype() == DType::F32, "init::", what, ": tensor ", t.str(),
                " must be f32");
}

float fan_in_checked(const Tensor& weight, const char* what) {
  check_float(weight, what);
  const int64_t n = fan_in(weight.shape());
  CONVNET_CHECK(n > 0, "init::", what, ": weight ", weight.shape(), " has fan_in 0");
  return static_cast<float>(n);
}

float fan_sum_checked(const Tensor& weight, const char* what) {
  check_float(weight, what);
  const int64_t n = fan_in(weight.shape()) + fan_out(weight.shape());
  CONVNET_CHECK(n > 0, "init::", what, ": weight ", weight.shape(), " has fan_in + fan_out 0");
  return static_cast<float>(n);
}

}  // namespace

int64_t fan_in(const Shape& s) {
  const int64_t field = receptive_field(s, "fan_in");  // checks the rank before s[1]
  return s[1] * field;
}

int64_t fan_out(const Shape& s) {
  const int64_t field = receptive_field(s, "fan_out");
  return s[0] * field;
}

void uniform_(Tensor& tensor, float low, float high, uint64_t seed) {
  check_float(tensor, "uniform_");
  CONVNET_CHECK(low <= high, "init::uniform_: low ", low, " exceeds high ", high);
  tensor.copy_from(Tensor::rand(tensor.shape(), tensor.device(), seed, low, high));
}

void normal_(Tensor& tensor, float mean, float stddev, uint64_t seed) {
  check_float(tensor, "normal_");
  CONVNET_CHECK(stddev >= 0.f, "init::normal_: stddev ", stddev, " must not be negative");
  tensor.copy_from(Tensor::randn(tensor.shape(), tensor.device(), seed, mean, stddev));
}

void kaiming_uniform_(Tensor& weight, float gain, uint64_t seed) {
  const float bound = gain * std::sqrt(3.f / fan_in_checked(weight, "kaiming_uniform_"));
  uniform_(weight, -bound, bound, seed);
}

void kaiming_normal_(Tensor& weight, float gain, uint64_t seed) {
  normal_(weight, 0.f, gain / std::sqrt(fan_in_checked(weight, "kaiming_normal_")), seed);
}

void kaiming_normal_(Tensor& weight, FanMode mode, float gain, uint64_t seed) {
  if (mode == FanMode::FanIn) return kaiming_normal_(weight, gain, seed);
  CONVNET_CHECK(weight.defined(), "init::kaiming_normal_: the tensor is undefined");
  const int64_t n = fan_out(weight.shape());
  CONVNET_CHECK(n > 0, "init::kaiming_normal_: weight ", weight.shape(), " has fan_out 0");
  normal_(weight, 0.f, gain / std::sqrt(static_cast<float>(n)), seed);
}

void xavier_uniform_(Tensor& weight, float gain, uint64_t seed) {
  const float bound = gain * std::sqrt(6.f / fan_sum_checked(weight, "xavier_uniform_"));
  uniform_(weight, -bound, bound, seed);
}

void xavier_normal_(Tensor& weight, float gain, uint64_t seed) {
  normal_(weight, 0.f, gain * std::sqrt(2.f / fan_sum_checked(weight, "xavier_normal_")), seed);
}

void pytorch_default_(Tensor& weight, Tensor* bias) {
  // kaiming_uniform_(a = sqrt(5)) in PyTorch reduces to this bound.
  const float bound = 1.f / std::sqrt(fan_in_checked(weight, "pytorch_default_"));
  uniform_(weight, -bound, bound, next_seed());
  if (bias) uniform_(*bias, -bound, bound, next_seed());
}

}  // namespace convnet::nn::init
