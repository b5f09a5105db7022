// Sequential end to end: gradients w.r.t. the input and every parameter of
// small conv nets, alone and under a cross-entropy loss.
//
// A ReLU + max-pool net is piecewise linear, but its kinks sit inside the
// network where the test cannot steer the values; that check skips the few
// elements whose one-sided differences disagree (a kink was crossed) and
// requires that most elements remain (see gradcheck.hpp). A smooth net (Tanh,
// AvgPool, Sigmoid, LogSoftmax) is checked with no skipping.
#include <gtest/gtest.h>

#include <vector>

#include "support/gradcheck.hpp"

namespace convnet::test {
namespace {

void build_relu_net(nn::Sequential& net) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(2, 4, 3).padding(1))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(4, 3, 3).stride(2).padding(1))
      .add<nn::LeakyReLU>(nn::LeakyReLUOptions().negative_slope(0.1f))
      .add<nn::Flatten>()
      .add<nn::Linear>(3 * 2 * 2, 5);  // for a 6x6 input: 6 -> pool 3 -> conv 2
}

void build_smooth_net(nn::Sequential& net) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 3, 3).padding(1))
      .add<nn::Tanh>()
      .add<nn::AvgPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(3 * 3 * 3, 6)
      .add<nn::Sigmoid>()
      .add<nn::Linear>(6, 4)
      .add<nn::LogSoftmax>();
}

TEST(GradcheckSequential, ReluMaxPoolConvNet) {
  for (uint64_t trial = 0; trial < 3; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    manual_seed(31 + trial);
    nn::Sequential net;
    build_relu_net(net);
    EXPECT_EQ(net.size(), 7u);
    EXPECT_EQ(net.parameters().size(), 6u);
    const Tensor x = Tensor::randn({1, 2, 6, 6}, Device::cpu(), 2000 + trial);
    EXPECT_EQ(net.output_shape(x.shape()), (Shape{1, 5}));
    // The net is piecewise linear, so a small step costs no truncation error and
    // crosses fewer kinks (a first-layer weight moves every pre-activation).
    GradCheckOptions opt;
    opt.step = 2e-3f;
    opt.skip_nonsmooth = true;
    EXPECT_TRUE(check_layer_gradients(net, x, opt));
  }
}

TEST(GradcheckSequential, SmoothConvNet) {
  for (uint64_t trial = 0; trial < 3; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    manual_seed(41 + trial);
    nn::Sequential net;
    build_smooth_net(net);
    const Tensor x = Tensor::randn({3, 1, 7, 6}, Device::cpu(), 2100 + trial);
    EXPECT_EQ(net.output_shape(x.shape()), (Shape{3, 4}));
    EXPECT_TRUE(check_layer_gradients(net, x));
  }
}

// The whole training objective: CrossEntropyLoss(net(x), labels), gradients of
// the input and every parameter through loss.backward() then net.backward().
TEST(GradcheckSequential, NetUnderCrossEntropyLoss) {
  manual_seed(51);
  nn::Sequential net;
  build_smooth_net(net);
  nn::CrossEntropyLoss loss;
  Tensor x = Tensor::randn({2, 1, 7, 6}, Device::cpu(), 2200);
  const Tensor labels = random_labels(2, 4, 2201);
  for (nn::Parameter* p : net.parameters()) p->grad.zero_();
  loss.forward(net.forward(x, nn::Mode::Train), labels);
  const Tensor grad_input = net.backward(loss.backward(2.f));
  std::vector<GradTarget> targets{{"input", x, grad_input.to_vector<float>()}};
  for (nn::Parameter* p : net.parameters())
    targets.push_back({p->name, p->value, p->grad.to_vector<float>()});
  auto objective = [&]() {
    return 2.0 * loss.forward(net.forward(x, nn::Mode::Train), labels).item();
  };
  EXPECT_TRUE(check_gradients(objective, targets));
}

}  // namespace
}  // namespace convnet::test
