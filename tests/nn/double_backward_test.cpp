// A second backward after one Train forward would add every parameter gradient
// again without a word; it throws convnet::Error naming the layer unless
// set_retain_graph(true) asks for the accumulation (PyTorch's retain_graph=True).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

std::vector<std::vector<float>> grads_of(nn::Layer& layer) {
  std::vector<std::vector<float>> out;
  for (nn::Parameter* p : layer.parameters()) out.push_back(p->grad.to_vector<float>());
  return out;
}

void build_net(nn::Sequential& net) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(1))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(3 * 3 * 3, 4);
}

const char* const kTwice = "backward called twice after one forward";

// Every kind of layer refuses, names itself, points at the opt-in, and leaves
// the gradients as the first backward left them.
TEST(DoubleBackward, EveryLayerRefusesAndNamesItself) {
  struct Case {
    std::shared_ptr<nn::Layer> layer;
    Shape input;
  };
  const std::vector<Case> cases = {
      {std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3).padding(1)), {2, 1, 5, 5}},
      {std::make_shared<nn::Linear>(6, 3), {4, 6}},
      {std::make_shared<nn::ReLU>(), {3, 5}},
      {std::make_shared<nn::Tanh>(), {3, 5}},
      {std::make_shared<nn::MaxPool2d>(2), {1, 2, 4, 4}},
      {std::make_shared<nn::AvgPool2d>(2), {1, 2, 4, 4}},
      {std::make_shared<nn::Flatten>(), {2, 3, 2, 2}},
      {std::make_shared<nn::Dropout>(nn::DropoutOptions(0.5f).seed(3)), {4, 8}},
      {std::make_shared<nn::Dropout>(0.f), {4, 8}},
      {std::make_shared<nn::Softmax>(), {3, 5}},
  };
  uint64_t seed = 100;
  for (const Case& c : cases) {
    nn::Layer& layer = *c.layer;
    SCOPED_TRACE(layer.name());
    const Tensor x = Tensor::randn(c.input, Device::cpu(), ++seed);
    const Tensor y = layer.forward(x, nn::Mode::Train);
    const Tensor dy = Tensor::randn(y.shape(), Device::cpu(), ++seed);
    layer.backward(dy);
    const auto after_first = grads_of(layer);
    const std::string message = error_message([&] { layer.backward(dy); });
    EXPECT_EQ(message.rfind(layer.name() + ": " + kTwice, 0), 0u) << message;
    EXPECT_TRUE(contains(message, "set_retain_graph(true)")) << message;
    EXPECT_TRUE(contains(message, "retain_graph=True")) << message;
    EXPECT_EQ(grads_of(layer), after_first);
    // A new Train forward allows one backward again.
    layer.forward(x, nn::Mode::Train);
    EXPECT_NO_THROW(layer.backward(dy));
  }
}

// The model refuses as a whole before any layer adds to a gradient, and says so once.
TEST(DoubleBackward, SequentialRefusesOnceBeforeAnyGradientChanges) {
  manual_seed(11);
  nn::Sequential net;
  build_net(net);
  const Tensor x = Tensor::randn({2, 2, 6, 6}, Device::cpu(), 12);
  const Tensor dy = Tensor::randn({2, 4}, Device::cpu(), 13);
  net.forward(x, nn::Mode::Train);
  net.backward(dy);
  const auto after_first = grads_of(net);
  const std::string message = error_message([&] { net.backward(dy); });
  EXPECT_EQ(message.rfind(std::string("Sequential: ") + kTwice, 0), 0u) << message;
  EXPECT_EQ(count_of(message, kTwice), 1u) << message;
  EXPECT_EQ(grads_of(net), after_first);
}

// A layer's own backward called by hand, then the model's: the layer is named
// with its place in the model, once.
TEST(DoubleBackward, ALayerRunByHandIsNamedWithItsPlace) {
  manual_seed(14);
  nn::Sequential net;
  build_net(net);
  const Tensor dy = Tensor::randn({2, 4}, Device::cpu(), 16);
  net.forward(Tensor::randn({2, 2, 6, 6}, Device::cpu(), 15), nn::Mode::Train);
  net[4].backward(dy);
  const std::string message = error_message([&] { net.backward(dy); });
  EXPECT_TRUE(contains(message, "Sequential layer 4 Linear(in_features=27, out_features=4, bias=True): " +
                                    std::string(kTwice)))
      << message;
  EXPECT_EQ(count_of(message, kTwice), 1u) << message;
}

// With the opt-in, a second backward adds the same gradients again: exactly
// twice the first, and the input gradient is the same both times.
TEST(DoubleBackward, RetainGraphAccumulatesExactlyTwice) {
  manual_seed(17);
  nn::Sequential net;
  build_net(net);
  net.set_retain_graph(true);
  EXPECT_TRUE(net.retain_graph());
  EXPECT_TRUE(net[0].retain_graph());  // passed down
  const Tensor x = Tensor::randn({3, 2, 6, 6}, Device::cpu(), 18);
  const Tensor dy = Tensor::randn({3, 4}, Device::cpu(), 19);
  net.zero_grad();
  net.forward(x, nn::Mode::Train);
  const std::vector<float> dx1 = net.backward(dy).to_vector<float>();
  const auto once = grads_of(net);
  const std::vector<float> dx2 = net.backward(dy).to_vector<float>();
  EXPECT_EQ(dx2, dx1);
  const std::vector<nn::Parameter*> params = net.parameters();
  ASSERT_EQ(params.size(), once.size());
  for (size_t i = 0; i < params.size(); ++i) {
    SCOPED_TRACE(params[i]->name);
    std::vector<float> twice = once[i];
    double largest = 0;
    for (float& v : twice) {
      v *= 2.f;
      largest = std::max(largest, std::fabs(static_cast<double>(v)));
    }
    ASSERT_GT(largest, 0.0);
    // GEMM with beta = 1 sums in another order than into zero: rounding only.
    EXPECT_TRUE(values_near(params[i]->grad, twice, 1e-6, 1e-6 * largest));
  }
  // Off again: the next double backward throws.
  net.set_retain_graph(false);
  net.forward(x, nn::Mode::Train);
  net.backward(dy);
  EXPECT_THROW(net.backward(dy), Error);
}

// A model-wide opt-in covers layers added later, as a backend choice does.
TEST(DoubleBackward, RetainGraphCoversLayersAddedLater) {
  nn::Sequential net;
  net.set_retain_graph(true);
  net.add<nn::Linear>(3, 2);
  EXPECT_TRUE(net[0].retain_graph());
  net.forward(Tensor::randn({2, 3}, Device::cpu(), 20), nn::Mode::Train);
  const Tensor dy = Tensor::randn({2, 2}, Device::cpu(), 21);
  net.backward(dy);
  EXPECT_NO_THROW(net.backward(dy));
}

// The errors that were there before keep their messages: backward after an Eval
// forward, after to(), after a forward that threw; each wins over "twice".
TEST(DoubleBackward, EarlierErrorsKeepTheirMessages) {
  nn::Conv2d conv(1, 2, 3);
  const Tensor x = Tensor::randn({1, 1, 5, 5}, Device::cpu(), 22);
  const Tensor dy = Tensor::randn({1, 2, 3, 3}, Device::cpu(), 23);
  conv.forward(x, nn::Mode::Train);
  conv.backward(dy);
  conv.forward(x, nn::Mode::Eval);
  std::string message = error_message([&] { conv.backward(dy); });
  EXPECT_TRUE(contains(message, "Mode::Eval")) << message;
  EXPECT_FALSE(contains(message, "twice")) << message;

  conv.forward(x, nn::Mode::Train);
  conv.backward(dy);
  conv.to(Device::cpu());
  message = error_message([&] { conv.backward(dy); });
  EXPECT_TRUE(contains(message, "without a finished forward")) << message;

  conv.forward(x, nn::Mode::Train);
  conv.backward(dy);
  EXPECT_THROW(conv.forward(Tensor::randn({1, 3, 5, 5}, Device::cpu(), 24), nn::Mode::Train), Error);
  message = error_message([&] { conv.backward(dy); });
  EXPECT_TRUE(contains(message, "the latest one threw")) << message;

  // A model whose forward threw keeps nothing to backpropagate.
  nn::Sequential net;
  build_net(net);
  net.forward(Tensor::randn({2, 2, 6, 6}, Device::cpu(), 25), nn::Mode::Train);
  EXPECT_THROW(net.forward(Tensor::randn({2, 2, 8, 8}, Device::cpu(), 26), nn::Mode::Train), Error);
  message = error_message([&] { net.backward(Tensor::zeros({2, 4})); });
  EXPECT_TRUE(contains(message, "Sequential: backward called without a finished forward")) << message;
}

}  // namespace
}  // namespace convnet::test
