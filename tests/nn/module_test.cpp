// Layers made of layers: register_parameter, register_module, dotted parameter
// names, settings passed down the tree, the summary tree.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

std::vector<std::string> names_of(nn::Layer& layer) {
  std::vector<std::string> names;
  for (nn::Parameter* p : layer.parameters()) names.push_back(p->name);
  return names;
}

// conv -> relu -> conv, written by hand on the Module base.
class TwoConv : public nn::Module {
 public:
  explicit TwoConv(int channels)
      : conv1_(&register_module("conv1", std::make_unique<nn::Conv2d>(
                                              nn::Conv2dOptions(channels, channels, 3).padding(1)))),
        relu_(&register_module("relu", std::make_unique<nn::ReLU>())),
        conv2_(&register_module("conv2", std::make_unique<nn::Conv2d>(
                                              nn::Conv2dOptions(channels, channels, 3).padding(1)))) {}
  Tensor forward(const Tensor& x, nn::Mode mode) override {
    keep_for_backward(mode);
    return conv2_->forward(relu_->forward(conv1_->forward(x, mode), mode), mode);
  }
  Tensor backward(const Tensor& dy) override {
    check_backward();
    return conv1_->backward(relu_->backward(conv2_->backward(dy)));
  }
  std::string name() const override { return "TwoConv"; }
  Shape output_shape(const Shape& input_shape) const override {
    return conv2_->output_shape(conv1_->output_shape(input_shape));
  }
  nn::Conv2d& conv1() { return *conv1_; }
  nn::Conv2d& conv2() { return *conv2_; }
  // Lets a test register more from outside.
  using nn::Module::register_module;
  using nn::Module::register_parameter;

 private:
  nn::Conv2d* conv1_;
  nn::ReLU* relu_;
  nn::Conv2d* conv2_;
};

void build_nested(nn::Sequential& net) {
  auto inner = std::make_unique<nn::Sequential>();
  inner->add<nn::Flatten>().add<nn::Linear>(2 * 4 * 4, 3);
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3).padding(1))
      .add<TwoConv>(2)
      .add<nn::MaxPool2d>(2)
      .add(std::move(inner));
}

TEST(Module, DottedNamesFollowTheTree) {
  nn::Sequential net;
  build_nested(net);
  EXPECT_EQ(names_of(net),
            (std::vector<std::string>{"0.weight", "0.bias", "1.conv1.weight", "1.conv1.bias",
                                      "1.conv2.weight", "1.conv2.bias", "3.1.weight", "3.1.bias"}));
  // Named from the layer asked: the block alone.
  EXPECT_EQ(names_of(net[1]), (std::vector<std::string>{"conv1.weight", "conv1.bias",
                                                        "conv2.weight", "conv2.bias"}));
  std::vector<std::string> children;
  for (const auto& [name, child] : net[1].named_children()) children.push_back(name + "=" + child->name());
  EXPECT_EQ(children, (std::vector<std::string>{
                          "conv1=Conv2d(2, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
                          "relu=ReLU()",
                          "conv2=Conv2d(2, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"}));
  // The typed handles are the registered parameters.
  TwoConv& block = static_cast<TwoConv&>(net[1]);
  EXPECT_EQ(net.parameters()[2], &block.conv1().weight());
  EXPECT_EQ(net.parameter_count(), 2 * 9 + 2 + 2 * (2 * 2 * 9 + 2) + 32 * 3 + 3);
  // A Linear without bias has no bias parameter.
  nn::Linear no_bias(nn::LinearOptions(3, 2).bias(false));
  EXPECT_EQ(names_of(no_bias), std::vector<std::string>{"weight"});
  EXPECT_EQ(no_bias.bias(), nullptr);
}

TEST(Module, RegisterParameterAllocatesAZeroGradient) {
  TwoConv block(1);
  const Tensor value = Tensor::randn({2, 3}, Device::cpu(), 1);
  nn::Parameter& p = block.register_parameter("scale", value);
  EXPECT_TRUE(p.value.shares_storage_with(value));
  EXPECT_EQ(p.grad.shape(), value.shape());
  EXPECT_EQ(p.grad.device(), value.device());
  EXPECT_FALSE(p.grad.shares_storage_with(value));
  const std::vector<float> g = p.grad.to_vector<float>();
  EXPECT_TRUE(std::all_of(g.begin(), g.end(), [](float v) { return v == 0.f; }));
  // Own parameters come before the children's.
  EXPECT_EQ(names_of(block).front(), "scale");
  EXPECT_EQ(block.parameters().front(), &p);
}

TEST(Module, BadNamesAreRefusedNamingTheLayer) {
  TwoConv block(1);
  for (const std::string bad : {"", "a.b", "conv1", "relu"}) {
    SCOPED_TRACE("\"" + bad + "\"");
    const std::string p = error_message([&] { block.register_parameter(bad, Tensor::zeros({1})); });
    EXPECT_TRUE(contains(p, "TwoConv: register_parameter")) << p;
    const std::string m =
        error_message([&] { block.register_module(bad, std::make_unique<nn::ReLU>()); });
    EXPECT_TRUE(contains(m, "TwoConv: register_module")) << m;
  }
  block.register_parameter("scale", Tensor::zeros({1}));
  EXPECT_TRUE(contains(error_message([&] { block.register_module("scale", std::make_unique<nn::ReLU>()); }),
                       "taken by a parameter"));
  EXPECT_TRUE(contains(error_message([&] { block.register_module("x", std::unique_ptr<nn::ReLU>()); }),
                       "is null"));
  EXPECT_TRUE(contains(error_message([&] { block.register_parameter("y", Tensor()); }), "undefined"));
  EXPECT_EQ(names_of(block).size(), 5u);  // nothing half-registered
}

// The block computes what the same layers do in a flat Sequential.
TEST(Module, ABlockMatchesTheSameLayersFlat) {
  manual_seed(3);
  TwoConv block(2);
  nn::Sequential flat;
  flat.set_fusion(false);
  flat.add<nn::Conv2d>(nn::Conv2dOptions(2, 2, 3).padding(1)).add<nn::ReLU>()
      .add<nn::Conv2d>(nn::Conv2dOptions(2, 2, 3).padding(1));
  const std::vector<nn::Parameter*> a = block.parameters(), b = flat.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) b[i]->value.copy_from(a[i]->value);
  const Tensor x = Tensor::randn({2, 2, 5, 5}, Device::cpu(), 4);
  const Tensor dy = Tensor::randn({2, 2, 5, 5}, Device::cpu(), 5);
  EXPECT_EQ(block.forward(x, nn::Mode::Train).to_vector<float>(),
            flat.forward(x, nn::Mode::Train).to_vector<float>());
  EXPECT_EQ(block.backward(dy).to_vector<float>(), flat.backward(dy).to_vector<float>());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i]->grad.to_vector<float>(), b[i]->grad.to_vector<float>()) << a[i]->name;
}

TEST(Module, SettingsReachEveryChild) {
  nn::Sequential net;
  build_nested(net);
  TwoConv& block = static_cast<TwoConv&>(net[1]);
  net.set_backend(Backend::Kind::Cpu);
  EXPECT_EQ(block.conv2().backend_choice(), Backend::Kind::Cpu);
  EXPECT_EQ(static_cast<nn::Sequential&>(net[3])[1].backend_choice(), Backend::Kind::Cpu);
  net.set_backend(std::nullopt);
  EXPECT_EQ(block.conv2().backend_choice(), std::nullopt);

  net.set_retain_graph(true);
  EXPECT_TRUE(block.conv2().retain_graph());
  net.set_retain_graph(false);

  // zero_grad reaches the grandchildren.
  const Tensor x = Tensor::randn({2, 1, 8, 8}, Device::cpu(), 6);
  net.forward(x, nn::Mode::Train);
  net.backward(Tensor::randn({2, 3}, Device::cpu(), 7));
  const std::vector<float> g = block.conv2().weight().grad.to_vector<float>();
  EXPECT_TRUE(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.f; }));
  net.zero_grad();
  for (nn::Parameter* p : net.parameters()) {
    const std::vector<float> z = p->grad.to_vector<float>();
    EXPECT_TRUE(std::all_of(z.begin(), z.end(), [](float v) { return v == 0.f; })) << p->name;
  }
  // to() drops what every level kept: the block refuses a backward by hand too.
  net.forward(x, nn::Mode::Train);
  net.to(Device::cpu());
  EXPECT_THROW(net.backward(Tensor::zeros({2, 3})), Error);
  EXPECT_THROW(block.conv2().backward(Tensor::zeros({2, 2, 8, 8})), Error);
  if (cuda_available()) {
    net.to(Device::cuda());
    for (nn::Parameter* p : net.parameters()) {
      EXPECT_TRUE(p->value.device().is_cuda()) << p->name;
      EXPECT_TRUE(p->grad.device().is_cuda()) << p->name;
    }
  }
}

TEST(Module, SummaryPrintsTheTree) {
  nn::Sequential net;
  build_nested(net);
  const std::string s = net.summary({2, 1, 8, 8});
  for (const char* row : {"\n0 ", "\n1 ", "\n  1.conv1 ", "\n  1.relu ", "\n  1.conv2 ", "\n2 ",
                          "\n3 ", "\n  3.0 ", "\n  3.1 "})
    EXPECT_TRUE(contains(s, row)) << "no row \"" << row << "\" in\n" << s;
  EXPECT_TRUE(contains(s, "TwoConv")) << s;
  EXPECT_TRUE(contains(s, "Linear(in_features=32, out_features=3, bias=True)")) << s;
  EXPECT_TRUE(contains(s, "[2, 2, 8, 8]")) << s;  // the block's rows carry shapes
  EXPECT_TRUE(contains(s, "[2, 32]")) << s;       // the inner Flatten's
  EXPECT_TRUE(contains(s, "total parameters: " + std::to_string(net.parameter_count()))) << s;
  // The block's row counts its children's parameters.
  EXPECT_TRUE(contains(s, std::to_string(2 * (2 * 2 * 9 + 2)))) << s;
  // A layer without children is one row.
  nn::Linear linear(4, 2);
  const std::string one = linear.summary({3, 4});
  EXPECT_TRUE(contains(one, "Linear(in_features=4, out_features=2, bias=True)")) << one;
  EXPECT_TRUE(contains(one, "[3, 2]")) << one;
  // A shape that does not fit names the path of the layer that refused it.
  const std::string bad = error_message([&] { net.summary({2, 3, 8, 8}); });
  EXPECT_TRUE(contains(bad, "summary: layer 0 Conv2d(1, 2")) << bad;
}

// Adding a layer after a forward: that layer saw no forward, so no backward.
TEST(Module, AddAfterForwardNeedsANewForward) {
  nn::Sequential net;
  net.add<nn::Linear>(3, 3);
  net.forward(Tensor::randn({2, 3}, Device::cpu(), 8), nn::Mode::Train);
  net.add<nn::ReLU>();
  EXPECT_THROW(net.backward(Tensor::zeros({2, 3})), Error);
  net.forward(Tensor::randn({2, 3}, Device::cpu(), 9), nn::Mode::Train);
  EXPECT_NO_THROW(net.backward(Tensor::zeros({2, 3})));
}

}  // namespace
}  // namespace convnet::test
