// Misuse of the layer, Sequential and optimizer API that used to compute
// something wrong without a word now raises convnet::Error naming the culprit
// (the double backward has its own file, double_backward_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

// A layer of the model run on its own between the model's forward and
// backward holds that pass: the model's backward would mix the two.
TEST(SilentMisuse, ALayerRunAloneBetweenForwardAndBackward) {
  manual_seed(1);
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3).padding(1)).add<nn::Tanh>().add<nn::Flatten>()
      .add<nn::Linear>(2 * 4 * 4, 3);
  const Tensor x = Tensor::randn({2, 1, 4, 4}, Device::cpu(), 2);
  net.forward(x, nn::Mode::Train);
  net[1].forward(Tensor::randn({2, 2, 4, 4}, Device::cpu(), 3), nn::Mode::Train);
  const std::string message = error_message([&] { net.backward(Tensor::ones({2, 3})); });
  EXPECT_TRUE(contains(message, "Sequential layer 1 Tanh(): ran a forward of its own")) << message;
  // A new forward of the whole model makes it consistent again.
  net.forward(x, nn::Mode::Train);
  EXPECT_NO_THROW(net.backward(Tensor::ones({2, 3})));
}

// A block written by hand, without any bookkeeping of its own for failures.
class TwoLinear : public nn::Module {
 public:
  TwoLinear()
      : first_(&register_module("first", std::make_unique<nn::Linear>(3, 4))),
        second_(&register_module("second", std::make_unique<nn::Linear>(4, 2))) {}
  Tensor forward(const Tensor& x, nn::Mode mode) override {
    keep_for_backward(mode);
    return second_->forward(first_->forward(x, mode), mode);
  }
  Tensor backward(const Tensor& dy) override {
    check_backward();
    return first_->backward(second_->backward(dy));
  }
  std::string name() const override { return "TwoLinear"; }
  Shape output_shape(const Shape& s) const override { return second_->output_shape(first_->output_shape(s)); }

 private:
  nn::Linear* first_;
  nn::Linear* second_;
};

// The block's forward threw in its first child: the second still held the
// pass before, and the block's backward would have added that pass's
// gradients. Children start each forward with nothing kept, so it refuses.
TEST(SilentMisuse, BackwardAfterAForwardThatThrewInsideABlock) {
  TwoLinear block;
  block.forward(Tensor::randn({2, 3}, Device::cpu(), 4), nn::Mode::Train);
  EXPECT_THROW(block.forward(Tensor::randn({2, 5}, Device::cpu(), 5), nn::Mode::Train), Error);
  const std::string message = error_message([&] { block.backward(Tensor::ones({2, 2})); });
  EXPECT_TRUE(contains(message, "Linear(in_features=4, out_features=2, bias=True): backward called "
                                "without a finished forward"))
      << message;
  for (nn::Parameter* p : block.parameters()) {
    const std::vector<float> g = p->grad.to_vector<float>();
    EXPECT_TRUE(std::all_of(g.begin(), g.end(), [](float v) { return v == 0.f; })) << p->name;
  }
}

// Listed twice, a parameter would take two updates per step.
TEST(SilentMisuse, AParameterGivenTwiceToAnOptimizer) {
  nn::Sequential net;
  net.add<nn::Linear>(3, 2);
  std::vector<nn::Parameter*> params = net.parameters();
  params.push_back(params[0]);
  const std::string message = error_message([&] { nn::SGD sgd(params, nn::SGDOptions(0.1f)); });
  EXPECT_TRUE(contains(message, "parameter 2 (\"0.weight\") appears more than once")) << message;
  EXPECT_THROW(nn::Adam adam(params), Error);
}

// Names come from the layer parameters() was called on; an optimizer keeps the
// names it was built with, so a look at one layer does not rename its state.
TEST(SilentMisuse, OptimizerStateKeepsTheNamesItWasBuiltWith) {
  nn::Sequential net;
  net.add<nn::Linear>(3, 2).add<nn::ReLU>().add<nn::Linear>(2, 2);
  nn::Adam adam(net.parameters());
  adam.ensure_state();
  EXPECT_EQ(net[2].parameters()[0]->name, "weight");  // named from the layer asked
  std::vector<std::string> names;
  for (const auto& [name, tensor] : adam.state()) names.push_back(name);
  EXPECT_EQ(names.front(), "0.weight.exp_avg");
  EXPECT_EQ(names.back(), "2.bias.exp_avg_sq");
  EXPECT_EQ(net.parameters()[2]->name, "2.weight");  // and from the root again
}

// A gradient that does not have the forward output's shape is refused by
// every layer, including one with the same number of elements.
TEST(SilentMisuse, GradientOfTheWrongShapeForEveryLayer) {
  struct Case {
    std::shared_ptr<nn::Layer> layer;
    Shape input;
  };
  const std::vector<Case> cases = {
      {std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 2, 3).padding(1)), {2, 2, 3, 3}},
      {std::make_shared<nn::Linear>(4, 4), {2, 4}},
      {std::make_shared<nn::ReLU>(), {2, 3, 2, 2}},
      {std::make_shared<nn::Sigmoid>(), {2, 3, 2, 2}},
      {std::make_shared<nn::MaxPool2d>(2), {2, 2, 4, 4}},
      {std::make_shared<nn::AvgPool2d>(2), {2, 2, 4, 4}},
      {std::make_shared<nn::Flatten>(), {2, 3, 2, 2}},
      {std::make_shared<nn::Dropout>(nn::DropoutOptions(0.5f).seed(1)), {2, 3, 2, 2}},
      {std::make_shared<nn::Softmax>(), {2, 4}},
      {std::make_shared<nn::LogSoftmax>(), {2, 4}},
  };
  uint64_t seed = 10;
  for (const Case& c : cases) {
    nn::Layer& layer = *c.layer;
    SCOPED_TRACE(layer.name());
    layer.set_retain_graph(true);  // several refused backwards after one forward
    const Tensor y = layer.forward(Tensor::randn(c.input, Device::cpu(), ++seed), nn::Mode::Train);
    Shape more = y.shape();
    more[0] += 1;  // one sample too many
    EXPECT_THROW(layer.backward(Tensor::zeros(more)), Error);
    // The same elements in another shape: [N, rest] as [rest, N], or reversed.
    std::vector<int64_t> reversed = y.shape().dims();
    std::reverse(reversed.begin(), reversed.end());
    const Shape other(reversed);
    if (other != y.shape()) EXPECT_THROW(layer.backward(Tensor::zeros(other)), Error) << other;
    EXPECT_NO_THROW(layer.backward(Tensor::zeros(y.shape())));
  }
}

}  // namespace
}  // namespace convnet::test
