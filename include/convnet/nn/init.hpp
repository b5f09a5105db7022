// Seeded weight initialisation. Fans follow PyTorch: weight [out, in] has
// fan_in = in, fan_out = out; weight [K, C, R, S] has fan_in = C*R*S, fan_out = K*R*S.
// Every function draws from Tensor::rand/randn with `seed`; by default the next
// seed of the library-wide generator (convnet::manual_seed fixes it).
#pragma once

#include <cmath>
#include <cstdint>

#include "convnet/random.hpp"
#include "convnet/tensor.hpp"

namespace convnet::nn::init {

int64_t fan_in(const Shape& weight_shape);
int64_t fan_out(const Shape& weight_shape);

// Gain for ReLU (He et al.): sqrt(2).
inline float relu_gain() { return std::sqrt(2.f); }

void uniform_(Tensor& tensor, float low, float high, uint64_t seed = next_seed());
void normal_(Tensor& tensor, float mean, float stddev, uint64_t seed = next_seed());
// U(-b, b), b = gain * sqrt(3 / fan_in)
void kaiming_uniform_(Tensor& weight, float gain = relu_gain(), uint64_t seed = next_seed());
// N(0, gain / sqrt(fan_in))
void kaiming_normal_(Tensor& weight, float gain = relu_gain(), uint64_t seed = next_seed());
// PyTorch's mode argument: which fan the variance preserves. torchvision's
// ResNet uses kaiming_normal_(w, FanMode::FanOut) (mode="fan_out", relu gain).
enum class FanMode { FanIn, FanOut };
// N(0, gain / sqrt(fan)), fan = fan_in or fan_out
void kaiming_normal_(Tensor& weight, FanMode mode, float gain = relu_gain(),
                     uint64_t seed = next_seed());
// U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))
void xavier_uniform_(Tensor& weight, float gain = 1.f, uint64_t seed = next_seed());
// N(0, gain * sqrt(2 / (fan_in + fan_out)))
void xavier_normal_(Tensor& weight, float gain = 1.f, uint64_t seed = next_seed());
// What PyTorch's Conv2d and Linear do by default: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void pytorch_default_(Tensor& weight, Tensor* bias);

}  // namespace convnet::nn::init
