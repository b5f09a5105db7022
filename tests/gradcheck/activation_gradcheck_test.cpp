// ReLU, LeakyReLU, Sigmoid, Tanh, Softmax and LogSoftmax: finite-difference
// input gradients on 2-D and 4-D inputs, and forward values against <cmath>.
// ReLU and LeakyReLU inputs are kept >= 5h from the kink at 0.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/values.hpp"

namespace convnet::test {
namespace {

const std::vector<Shape> kShapes = {{3, 4}, {1, 7}, {2, 3, 4, 5}, {2, 1, 3, 3}, {1, 4, 5, 3}};

struct PointwiseCase {
  const char* name;
  std::function<std::unique_ptr<nn::Layer>()> make;
  std::function<double(double)> f;
  bool kink_at_zero;
};

std::vector<PointwiseCase> pointwise_cases() {
  return {
      {"ReLU", [] { return std::make_unique<nn::ReLU>(); },
       [](double x) { return x > 0 ? x : 0.0; }, true},
      {"LeakyReLU(0.01)", [] { return std::make_unique<nn::LeakyReLU>(); },
       [](double x) { return x > 0 ? x : 0.01 * x; }, true},
      {"LeakyReLU(0.2)", [] { return std::make_unique<nn::LeakyReLU>(0.2f); },
       [](double x) { return x > 0 ? x : 0.2 * x; }, true},
      {"Sigmoid", [] { return std::make_unique<nn::Sigmoid>(); },
       [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, false},
      {"Tanh", [] { return std::make_unique<nn::Tanh>(); }, [](double x) { return std::tanh(x); },
       false},
  };
}

Tensor pointwise_input(const Shape& shape, uint64_t seed, bool kink_at_zero) {
  const Tensor x = Tensor::randn(shape, Device::cpu(), seed, 0.f, 2.f);
  return kink_at_zero ? away_from_zero(x, 0.05f) : x;
}

TEST(GradcheckActivation, PointwiseInputGradients) {
  for (const PointwiseCase& pc : pointwise_cases()) {
    for (size_t i = 0; i < kShapes.size(); ++i) {
      SCOPED_TRACE(std::string(pc.name) + " on " + kShapes[i].str());
      std::unique_ptr<nn::Layer> layer = pc.make();
      EXPECT_TRUE(layer->parameters().empty());
      EXPECT_TRUE(
          check_layer_gradients(*layer, pointwise_input(kShapes[i], 600 + i, pc.kink_at_zero)));
    }
  }
}

TEST(GradcheckActivation, PointwiseForwardValues) {
  for (const PointwiseCase& pc : pointwise_cases()) {
    SCOPED_TRACE(pc.name);
    std::unique_ptr<nn::Layer> layer = pc.make();
    // Plain randn here: includes values near 0 and the kink itself.
    std::vector<float> xs =
        Tensor::randn({2, 3, 4, 5}, Device::cpu(), 650, 0.f, 3.f).to_vector<float>();
    xs[0] = 0.f;
    xs[1] = -0.f;
    xs[2] = 30.f;
    xs[3] = -30.f;
    const Tensor x = Tensor::from_vector(xs, {2, 3, 4, 5});
    const Tensor y = layer->forward(x, nn::Mode::Eval);
    ASSERT_EQ(y.shape(), x.shape());
    EXPECT_EQ(layer->output_shape(x.shape()), x.shape());
    std::vector<float> expected;
    for (float v : xs) expected.push_back(static_cast<float>(pc.f(v)));
    EXPECT_TRUE(values_near(y, expected, 2e-6, 1e-7));
  }
}

// d/dx of a pointwise activation at a few points, exactly (away from kinks):
// backward(ones) equals f'(x).
TEST(GradcheckActivation, PointwiseDerivativeValues) {
  const std::vector<float> xs = {-3.f, -0.5f, 0.25f, 2.f};
  const Tensor x = Tensor::from_vector(xs, {1, 4});
  const Tensor ones = Tensor::ones({1, 4});
  auto derivative = [&](nn::Layer& layer) {
    layer.forward(x, nn::Mode::Train);
    return layer.backward(ones);
  };
  nn::ReLU relu;
  EXPECT_TRUE(values_near(derivative(relu), {0.f, 0.f, 1.f, 1.f}));
  nn::LeakyReLU leaky(nn::LeakyReLUOptions().negative_slope(0.1f));
  EXPECT_TRUE(values_near(derivative(leaky), {0.1f, 0.1f, 1.f, 1.f}));
  std::vector<float> sig, th;
  for (float v : xs) {
    const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(v)));
    sig.push_back(static_cast<float>(s * (1.0 - s)));
    const double t = std::tanh(static_cast<double>(v));
    th.push_back(static_cast<float>(1.0 - t * t));
  }
  nn::Sigmoid sigmoid;
  EXPECT_TRUE(values_near(derivative(sigmoid), sig, 1e-5, 1e-7));
  nn::Tanh tanh_layer;
  EXPECT_TRUE(values_near(derivative(tanh_layer), th, 1e-5, 1e-7));
}

const std::vector<Shape> kSoftmaxShapes = {{4, 5}, {1, 10}, {3, 2}, {2, 3, 4, 5}, {1, 4, 3, 2}};

TEST(GradcheckSoftmax, SoftmaxAndLogSoftmaxInputGradients) {
  for (bool log : {false, true}) {
    for (size_t i = 0; i < kSoftmaxShapes.size(); ++i) {
      SCOPED_TRACE(std::string(log ? "LogSoftmax" : "Softmax") + " on " + kSoftmaxShapes[i].str());
      std::unique_ptr<nn::Layer> layer;
      if (log)
        layer = std::make_unique<nn::LogSoftmax>();
      else
        layer = std::make_unique<nn::Softmax>();
      EXPECT_EQ(layer->name(), log ? "LogSoftmax(dim=1)" : "Softmax(dim=1)");  // PyTorch's repr
      const Tensor x = Tensor::randn(kSoftmaxShapes[i], Device::cpu(), 700 + i, 0.f, 2.f);
      EXPECT_TRUE(check_layer_gradients(*layer, x));
    }
  }
}

// Softmax over dimension 1 for every sample and spatial position.
TEST(GradcheckSoftmax, ForwardIsOverChannelsAtEveryPosition) {
  const Shape shape{2, 3, 4, 5};
  const Tensor x = Tensor::randn(shape, Device::cpu(), 777, 0.f, 3.f);
  const std::vector<float> xs = x.to_vector<float>();
  std::vector<float> expected(xs.size()), expected_log(xs.size());
  const int64_t C = 3, HW = 20;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t s = 0; s < HW; ++s) {
      double m = -1e300, z = 0.0;
      for (int64_t c = 0; c < C; ++c)
        m = std::max(m, static_cast<double>(xs[(n * C + c) * HW + s]));
      for (int64_t c = 0; c < C; ++c) z += std::exp(xs[(n * C + c) * HW + s] - m);
      for (int64_t c = 0; c < C; ++c) {
        const size_t idx = static_cast<size_t>((n * C + c) * HW + s);
        expected[idx] = static_cast<float>(std::exp(xs[idx] - m) / z);
        expected_log[idx] = static_cast<float>(xs[idx] - m - std::log(z));
      }
    }
  nn::Softmax softmax;
  nn::LogSoftmax log_softmax;
  EXPECT_TRUE(values_near(softmax.forward(x, nn::Mode::Eval), expected, 1e-5, 1e-7));
  EXPECT_TRUE(values_near(log_softmax.forward(x, nn::Mode::Eval), expected_log, 1e-5, 1e-6));
}

}  // namespace
}  // namespace convnet::test
