// The CPU operations built on GEMM (convolution, linear, bias gradient) give the
// same bits under 1, 2, 3 and 7 threads. The shapes are picked to reach every
// way the backend splits work: convolutions with several image groups (whose
// filter gradients are summed across groups), a batch of one whose single GEMM
// is large enough to be split into blocks, 1x1 kernels (no unrolling), and
// linear layers whose GEMM is split by columns or by rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "determinism/op_thread_count.hpp"

namespace convnet::test {
namespace {

Backend& cpu() { return get_backend(Backend::Kind::Cpu); }

struct ConvCase {
  std::string name;
  Shape input, weight;
  int stride, pad;
};

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {"3x3 pad 1, six groups of four images", {24, 3, 16, 16}, {8, 3, 3, 3}, 1, 1},
      {"3x3 stride 2, batch 1 (one large GEMM)", {1, 16, 80, 80}, {32, 16, 3, 3}, 2, 1},
      {"5x5, MNIST's second layer at batch 20", {20, 32, 14, 14}, {64, 32, 5, 5}, 1, 2},
      {"1x1, three groups", {40, 8, 8, 8}, {4, 8, 1, 1}, 1, 0},
      {"1x1, batch 1 (one large GEMM)", {1, 64, 32, 32}, {64, 64, 1, 1}, 1, 0},
  };
  return cases;
}

Conv2dParams conv_params(const ConvCase& c) {
  Conv2dParams p;
  p.stride_h = p.stride_w = c.stride;
  p.pad_h = p.pad_w = c.pad;
  return p;
}

TEST(CpuThreadCountDeterminism, Conv2dForward) {
  for (const ConvCase& c : conv_cases()) {
    const Tensor input = Tensor::randn(c.input, Device::cpu(), 1);
    const Tensor weight = Tensor::randn(c.weight, Device::cpu(), 2);
    const Tensor bias = Tensor::randn({c.weight[0]}, Device::cpu(), 3);
    expect_same_bits_across_thread_counts("conv2d_forward, " + c.name, [&] {
      return std::vector<Tensor>{
          ops::conv2d_forward(cpu(), input, weight, &bias, conv_params(c)),
          ops::conv2d_bias_relu_forward(cpu(), input, weight, &bias, conv_params(c))};
    });
  }
}

TEST(CpuThreadCountDeterminism, Conv2dBackwardData) {
  for (const ConvCase& c : conv_cases()) {
    const Tensor weight = Tensor::randn(c.weight, Device::cpu(), 2);
    const Shape out =
        ops::conv2d_forward(cpu(), Tensor::zeros(c.input), weight, nullptr, conv_params(c)).shape();
    const Tensor grad_output = Tensor::randn(out, Device::cpu(), 4);
    expect_same_bits_across_thread_counts("conv2d_backward_data, " + c.name, [&] {
      return std::vector<Tensor>{
          ops::conv2d_backward_data(cpu(), grad_output, weight, c.input, conv_params(c))};
    });
  }
}

// Both the overwrite and the accumulate form: the filter gradient is the sum
// over the batch, the one reduction here whose order the work split could change.
TEST(CpuThreadCountDeterminism, Conv2dBackwardFilterAndBias) {
  for (const ConvCase& c : conv_cases()) {
    const Tensor input = Tensor::randn(c.input, Device::cpu(), 1);
    const Tensor weight = Tensor::randn(c.weight, Device::cpu(), 2);
    const Shape out = ops::conv2d_forward(cpu(), input, weight, nullptr, conv_params(c)).shape();
    const Tensor grad_output = Tensor::randn(out, Device::cpu(), 4);
    const Tensor earlier = Tensor::randn(c.weight, Device::cpu(), 5);
    expect_same_bits_across_thread_counts("conv2d_backward_filter + bias_backward, " + c.name, [&] {
      // The overwrite form must not read dW: it starts as NaN.
      Tensor grad_weight = Tensor::full(c.weight, NAN);
      ops::conv2d_backward_filter(cpu(), input, grad_output, conv_params(c), grad_weight, false);
      const std::vector<float> values = grad_weight.to_vector<float>();
      EXPECT_EQ(std::count_if(values.begin(), values.end(), [](float v) { return std::isnan(v); }),
                0)
          << c.name << ": the overwrite form kept NaN from dW";
      Tensor accumulated = earlier.clone();
      ops::conv2d_backward_filter(cpu(), input, grad_output, conv_params(c), accumulated, true);
      Tensor grad_bias = Tensor::empty({c.weight[0]});
      ops::bias_backward(cpu(), grad_output, grad_bias, false);
      return std::vector<Tensor>{grad_weight, accumulated, grad_bias};
    });
  }
}

struct LinearCase {
  std::string name;
  int batch, in_features, out_features;
};

TEST(CpuThreadCountDeterminism, Linear) {
  const std::vector<LinearCase> cases = {
      {"784 -> 128 at batch 64 (GEMMs split by columns)", 64, 784, 128},
      {"1024 -> 10 at batch 512 (forward split by rows)", 512, 1024, 10},
      {"MNIST's 3136 -> 10 at batch 128", 128, 3136, 10},
      {"20 -> 5 at batch 8 (too small to split)", 8, 20, 5},
  };
  for (const LinearCase& c : cases) {
    const Tensor input = Tensor::randn({c.batch, c.in_features}, Device::cpu(), 1);
    const Tensor weight = Tensor::randn({c.out_features, c.in_features}, Device::cpu(), 2);
    const Tensor bias = Tensor::randn({c.out_features}, Device::cpu(), 3);
    const Tensor grad_output = Tensor::randn({c.batch, c.out_features}, Device::cpu(), 4);
    const Tensor earlier = Tensor::randn(weight.shape(), Device::cpu(), 5);
    expect_same_bits_across_thread_counts("linear, " + c.name, [&] {
      Tensor grad_weight = earlier.clone();
      ops::linear_backward_weight(cpu(), input, grad_output, grad_weight, true);
      Tensor grad_bias = Tensor::empty({c.out_features});
      ops::bias_backward(cpu(), grad_output, grad_bias, false);
      return std::vector<Tensor>{ops::linear_forward(cpu(), input, weight, &bias),
                                 ops::linear_bias_relu_forward(cpu(), input, weight, &bias),
                                 ops::linear_backward_data(cpu(), grad_output, weight), grad_weight,
                                 grad_bias};
    });
  }
}

}  // namespace
}  // namespace convnet::test
