// The finite-difference gradient checks on the CUDA backend: layers, a small
// conv net and the losses, with their parameters and inputs on cuda:0 and every
// forward and backward running our kernels (gradcheck.hpp perturbs device
// tensors through a host copy). The parity table holds each CUDA gradient to
// the CPU's; this holds them to the derivative itself. Skips without a GPU;
// CI runs it on the emulated device (emu/).
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "support/gradcheck.hpp"

namespace convnet::test {
namespace {

class CudaGradcheck : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  }
  static Device gpu() { return Device::cuda(0); }
};

TEST_F(CudaGradcheck, ConvLinearAndPoolLayers) {
  manual_seed(61);
  std::vector<std::pair<std::unique_ptr<nn::Layer>, Tensor>> cases;
  cases.emplace_back(std::make_unique<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(1).stride(2)),
                     Tensor::randn({2, 2, 7, 6}, Device::cpu(), 3000));
  cases.emplace_back(std::make_unique<nn::Conv2d>(
                         nn::Conv2dOptions(3, 2, {2, 3}).dilation({2, 1}).bias(false)),
                     Tensor::randn({1, 3, 6, 7}, Device::cpu(), 3001));
  cases.emplace_back(std::make_unique<nn::Linear>(nn::LinearOptions(7, 5)),
                     Tensor::randn({3, 7}, Device::cpu(), 3002));
  // Distinct values keep every max-pool window away from a tie.
  cases.emplace_back(std::make_unique<nn::MaxPool2d>(2), distinct_values({2, 2, 6, 6}, 3003, 0.05f));
  cases.emplace_back(std::make_unique<nn::AvgPool2d>(3), Tensor::randn({1, 2, 7, 7}, Device::cpu(), 3004));
  for (auto& [layer, x] : cases) {
    SCOPED_TRACE(layer->name());
    layer->to(gpu());
    EXPECT_TRUE(check_layer_gradients(*layer, x.to(gpu())));
  }
}

TEST_F(CudaGradcheck, Activations) {
  const Tensor x = away_from_zero(Tensor::randn({3, 5, 4}, Device::cpu(), 3100), 0.05f).to(gpu());
  nn::ReLU relu;
  nn::LeakyReLU leaky(nn::LeakyReLUOptions().negative_slope(0.1f));
  nn::Sigmoid sigmoid;
  nn::Tanh tanh;
  for (nn::Layer* layer : std::vector<nn::Layer*>{&relu, &leaky, &sigmoid, &tanh}) {
    SCOPED_TRACE(layer->name());
    EXPECT_TRUE(check_layer_gradients(*layer, x));
  }
}

TEST_F(CudaGradcheck, SmoothConvNet) {
  manual_seed(62);
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 3, 3).padding(1))
      .add<nn::Tanh>()
      .add<nn::AvgPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(3 * 3 * 3, 4)
      .add<nn::LogSoftmax>();
  net.to(gpu());
  EXPECT_TRUE(check_layer_gradients(net, Tensor::randn({2, 1, 7, 6}, Device::cpu(), 3200).to(gpu())));
}

TEST_F(CudaGradcheck, Losses) {
  const Tensor logits = Tensor::randn({4, 6}, Device::cpu(), 3300, 0.f, 2.f).to(gpu());
  const Tensor labels = random_labels(4, 6, 3301).to(gpu());
  nn::CrossEntropyLoss cross_entropy;
  EXPECT_TRUE(check_loss_gradients(cross_entropy, logits, labels, 2.f));
  nn::CrossEntropyLoss smoothed(0.2f);
  EXPECT_TRUE(check_loss_gradients(smoothed, logits, labels, 2.f));
  const Tensor prediction = Tensor::randn({3, 5}, Device::cpu(), 3302).to(gpu());
  const Tensor target = Tensor::randn({3, 5}, Device::cpu(), 3303).to(gpu());
  nn::MSELoss mse;
  EXPECT_TRUE(check_loss_gradients(mse, prediction, target));
  const Tensor probability = Tensor::rand({3, 5}, Device::cpu(), 3304).to(gpu());
  nn::BCEWithLogitsLoss bce;
  EXPECT_TRUE(check_loss_gradients(bce, prediction, probability));
}

}  // namespace
}  // namespace convnet::test

namespace convnet::test {
namespace {

// Batch normalization, adaptive average pooling and a residual block on our
// CUDA kernels (the cudnn backend's batch norm is checked by parity on a GPU).
class CudaNormGradcheck : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  }
};

TEST_F(CudaNormGradcheck, BatchNormAdaptivePoolAndResidual) {
  manual_seed(63);
  const Device gpu = Device::cuda(0);
  std::vector<std::pair<std::unique_ptr<nn::Layer>, Tensor>> cases;
  cases.emplace_back(std::make_unique<nn::BatchNorm2d>(3), Tensor::randn({3, 3, 4, 5}, Device::cpu(), 3200));
  cases.emplace_back(std::make_unique<nn::AdaptiveAvgPool2d>(nn::Pair(2, 3)),
                     Tensor::randn({2, 2, 5, 7}, Device::cpu(), 3201));
  auto body = std::make_unique<nn::Sequential>();
  body->add<nn::Conv2d>(nn::Conv2dOptions(2, 2, 3).padding(1).bias(false));
  body->add<nn::BatchNorm2d>(2);
  body->add<nn::Tanh>();
  cases.emplace_back(std::make_unique<nn::Residual>(std::move(body)),
                     Tensor::randn({2, 2, 4, 4}, Device::cpu(), 3202));
  for (auto& [layer, x] : cases) {
    SCOPED_TRACE(layer->name());
    layer->set_backend(Backend::Kind::Cuda);
    layer->to(gpu);
    EXPECT_TRUE(check_layer_gradients(*layer, x.to(gpu)));
  }
}

}  // namespace
}  // namespace convnet::test
