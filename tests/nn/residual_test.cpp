// Residual blocks: the sum of two paths and its backward, torchvision's
// BasicBlock names and checks, the ResNet's state-dict names, fusion around
// blocks, and gradient checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

std::vector<std::string> state_names(nn::Layer& layer) {
  std::vector<std::string> names;
  for (nn::Parameter* p : layer.parameters()) names.push_back(p->name);
  for (nn::Buffer* b : layer.buffers()) names.push_back(b->name);
  std::sort(names.begin(), names.end());
  return names;
}

std::unique_ptr<nn::Sequential> conv_body(int channels) {
  auto body = std::make_unique<nn::Sequential>();
  body->add<nn::Conv2d>(nn::Conv2dOptions(channels, channels, 3).padding(1));
  body->add<nn::Tanh>();
  return body;
}

TEST(Residual, IdentityShortcutAddsTheInput) {
  auto body = conv_body(2);
  nn::Sequential& b = *body;
  nn::Residual block(std::move(body));
  const Tensor x = Tensor::randn({2, 2, 4, 4}, Device::cpu(), 1);
  const Tensor y = block.forward(x, nn::Mode::Eval);
  const Tensor expected = b.forward(x, nn::Mode::Eval) + x;
  EXPECT_EQ(y.to_vector<float>(), expected.to_vector<float>());
  EXPECT_EQ(block.parameters()[0]->name, "body.0.weight");
}

TEST(Residual, GradcheckWithIdentityAndProjectionShortcuts) {
  {
    nn::Residual block(conv_body(3));
    const nn::GradcheckResult r = nn::gradcheck(block, Tensor::randn({2, 3, 4, 4}, Device::cpu(), 2));
    EXPECT_TRUE(r) << r.str();
  }
  {
    // A projection shortcut; the body normalised (its conv without bias, as
    // before every BatchNorm: a bias there has no gradient) and smooth.
    auto body = std::make_unique<nn::Sequential>();
    body->add<nn::Conv2d>(nn::Conv2dOptions(2, 4, 3).stride(2).padding(1).bias(false));
    body->add<nn::BatchNorm2d>(4);
    body->add<nn::Tanh>();
    nn::Residual block(std::move(body), std::make_unique<nn::Conv2d>(nn::Conv2dOptions(2, 4, 1).stride(2)));
    const nn::GradcheckResult r = nn::gradcheck(block, Tensor::randn({3, 2, 5, 5}, Device::cpu(), 3));
    EXPECT_TRUE(r) << r.str();
  }
}

TEST(Residual, RefusesPathsOfDifferentShapesNamingBoth) {
  auto body = std::make_unique<nn::Conv2d>(nn::Conv2dOptions(2, 4, 3).padding(1));
  nn::Residual block(std::move(body));
  const std::string m = error_message([&] { block.output_shape({1, 2, 6, 6}); });
  EXPECT_NE(m.find("the body gives [1, 4, 6, 6]"), std::string::npos) << m;
  EXPECT_NE(m.find("shortcut (identity) gives [1, 2, 6, 6]"), std::string::npos) << m;
  const std::string f = error_message([&] { block.forward(Tensor::ones({1, 2, 6, 6}), nn::Mode::Train); });
  EXPECT_NE(f.find("the body gives [1, 4, 6, 6]"), std::string::npos) << f;
}

TEST(BasicBlock, HasTorchvisionsStateDictKeys) {
  nn::BasicBlock block(16, 32, 2, nn::BasicBlock::make_downsample(16, 32, 2));
  const std::vector<std::string> expected = {
      "bn1.bias", "bn1.num_batches_tracked", "bn1.running_mean", "bn1.running_var", "bn1.weight",
      "bn2.bias", "bn2.num_batches_tracked", "bn2.running_mean", "bn2.running_var", "bn2.weight",
      "conv1.weight", "conv2.weight",
      "downsample.0.weight", "downsample.1.bias", "downsample.1.num_batches_tracked",
      "downsample.1.running_mean", "downsample.1.running_var", "downsample.1.weight"};
  EXPECT_EQ(state_names(block), expected);
  EXPECT_EQ(block.output_shape({4, 16, 28, 28}), (Shape{4, 32, 14, 14}));
}

TEST(BasicBlock, RefusesAShapeChangeWithoutADownsampleWhenBuilt) {
  std::string m = error_message([] { nn::BasicBlock(16, 32, 1); });
  EXPECT_NE(m.find("BasicBlock(16, 32, stride=1)"), std::string::npos) << m;
  EXPECT_NE(m.find("make_downsample"), std::string::npos) << m;
  m = error_message([] { nn::BasicBlock(16, 16, 2); });
  EXPECT_NE(m.find("[1, 16, 8, 8]"), std::string::npos) << m;
}

TEST(BasicBlock, ZeroInitResidualStartsAsItsShortcut) {
  nn::BasicBlock block(4, 4, 1, nullptr, /*zero_init_residual=*/true);
  for (float w : block.bn2().weight()->value.to_vector<float>()) EXPECT_EQ(w, 0.f);
  for (float w : block.bn1().weight()->value.to_vector<float>()) EXPECT_EQ(w, 1.f);
  // bn2 outputs its bias (0): the block is relu(x).
  const Tensor x = Tensor::randn({2, 4, 5, 5}, Device::cpu(), 4);
  const Tensor y = block.forward(x, nn::Mode::Train);
  EXPECT_EQ(y.to_vector<float>(), ops::activation_forward(get_backend(Backend::Kind::Cpu),
                                                          Activation::ReLU, 0.f, x)
                                      .to_vector<float>());
}

TEST(BasicBlock, KaimingNormalFanOutInitialisation) {
  manual_seed(5);
  nn::BasicBlock block(64, 64);
  const std::vector<float> w = block.conv1().weight().value.to_vector<float>();
  double sq = 0;
  for (float v : w) sq += double(v) * v;
  const double std_measured = std::sqrt(sq / w.size());
  const double expected = std::sqrt(2.0 / (64 * 9));  // fan_out = 64 * 3 * 3
  EXPECT_NEAR(std_measured, expected, 0.05 * expected);
}

// ReLUs after BatchNorm put kinks everywhere a weight reaches; a small step
// crosses few of them, and skip_nonsmooth leaves out those it does cross.
nn::GradcheckOptions relu_network_options() {
  nn::GradcheckOptions o;
  o.eps = 1e-3f;
  o.skip_nonsmooth = true;
  return o;
}

TEST(BasicBlock, Gradcheck) {
  manual_seed(6);
  nn::BasicBlock block(2, 3, 2, nn::BasicBlock::make_downsample(2, 3, 2));
  const nn::GradcheckResult r =
      nn::gradcheck(block, Tensor::randn({2, 2, 6, 6}, Device::cpu(), 6), relu_network_options());
  EXPECT_TRUE(r) << r.str();
}

// The block equals the general Residual written out with the same layers.
TEST(BasicBlock, EqualsTheResidualItPortsBitForBit) {
  manual_seed(9);
  nn::BasicBlock block(2, 3, 2, nn::BasicBlock::make_downsample(2, 3, 2));
  auto body = std::make_unique<nn::Sequential>();
  body->add<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).stride(2).padding(1).bias(false));
  body->add<nn::BatchNorm2d>(3);
  body->add<nn::ReLU>();
  body->add<nn::Conv2d>(nn::Conv2dOptions(3, 3, 3).padding(1).bias(false));
  body->add<nn::BatchNorm2d>(3);
  nn::Residual residual(std::move(body), nn::BasicBlock::make_downsample(2, 3, 2), /*relu_after=*/true);
  const std::vector<nn::Parameter*> from = block.parameters(), to = residual.parameters();
  ASSERT_EQ(from.size(), to.size());
  for (size_t i = 0; i < from.size(); ++i) to[i]->value.copy_from(from[i]->value);
  const Tensor x = Tensor::randn({3, 2, 6, 6}, Device::cpu(), 10);
  const Tensor dy = Tensor::randn({3, 3, 3, 3}, Device::cpu(), 11);
  EXPECT_EQ(block.forward(x, nn::Mode::Train).to_vector<float>(),
            residual.forward(x, nn::Mode::Train).to_vector<float>());
  EXPECT_EQ(block.backward(dy).to_vector<float>(), residual.backward(dy).to_vector<float>());
  for (size_t i = 0; i < from.size(); ++i)
    EXPECT_EQ(from[i]->grad.to_vector<float>(), to[i]->grad.to_vector<float>()) << from[i]->name;
}

TEST(ResNet, NamesMatchTorchvisionAndTheSummaryShowsEveryBlock) {
  nn::ResNet net;
  std::vector<std::string> names;
  for (nn::Parameter* p : net.parameters()) names.push_back(p->name);
  EXPECT_EQ(names.front(), "conv1.weight");
  EXPECT_EQ(names.back(), "fc.bias");
  const std::vector<std::string> all = state_names(net);
  for (const char* key : {"layer1.2.conv2.weight", "layer2.0.downsample.0.weight",
                          "layer3.0.downsample.1.running_var", "bn1.num_batches_tracked"})
    EXPECT_NE(std::find(all.begin(), all.end(), key), all.end()) << key;
  EXPECT_EQ(net.output_shape({8, 1, 28, 28}), (Shape{8, 10}));
  const std::string summary = net.summary({8, 1, 28, 28});
  for (const char* row : {"layer1.0", "layer1.2", "layer2.0.downsample", "layer3.2.bn2", "avgpool", "fc"})
    EXPECT_NE(summary.find(row), std::string::npos) << row << "\n" << summary;
}

// A stride-2 stem halves the image before layer1; a stride below 1 is refused.
TEST(ResNet, StemStride) {
  nn::ResNet net(nn::ResNetOptions().widths({4, 8}).blocks({1, 1}).stem_stride(2));
  EXPECT_EQ(net.output_shape({2, 1, 28, 28}), (Shape{2, 10}));
  const std::string summary = net.summary({2, 1, 28, 28});
  EXPECT_NE(summary.find("stride=(2, 2)"), std::string::npos) << summary;
  EXPECT_NE(summary.find("[2, 4, 14, 14]"), std::string::npos) << summary;  // layer1's output
  EXPECT_NE(summary.find("[2, 8, 7, 7]"), std::string::npos) << summary;    // layer2's output
  manual_seed(9);
  nn::ResNet tiny(nn::ResNetOptions().widths({2, 3}).blocks({1, 1}).num_classes(3).stem_stride(2));
  const nn::GradcheckResult r =
      nn::gradcheck(tiny, Tensor::randn({2, 1, 9, 9}, Device::cpu(), 9), relu_network_options());
  EXPECT_TRUE(r) << r.str();
  for (int64_t bad : {0, -1}) {
    const std::string message =
        error_message([&] { nn::ResNet n(nn::ResNetOptions().stem_stride(bad)); });
    EXPECT_NE(message.find("stem_stride " + std::to_string(bad)), std::string::npos) << message;
  }
}

// Seeded before the model draws its weights, so the result does not depend on
// which tests ran before in the same process.
TEST(ResNet, TrainsAStepAndGradcheckOnATinyConfiguration) {
  manual_seed(8);
  nn::ResNet net(nn::ResNetOptions().widths({2, 3}).blocks({1, 1}).num_classes(3));
  const nn::GradcheckResult r =
      nn::gradcheck(net, Tensor::randn({3, 1, 6, 6}, Device::cpu(), 7), relu_network_options());
  EXPECT_TRUE(r) << r.str();
}

TEST(Sequential, FusionDoesNotBreakAcrossABlock) {
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(2, 2, 3).padding(1));
  net.add<nn::ReLU>();
  net.add(std::make_unique<nn::Residual>(conv_body(2)));
  net.add<nn::Conv2d>(nn::Conv2dOptions(2, 2, 3).padding(1));
  net.add<nn::ReLU>();
  const Tensor x = Tensor::randn({2, 2, 5, 5}, Device::cpu(), 8);
  const Tensor fused = net.forward(x, nn::Mode::Train);
  const Tensor g = net.backward(Tensor::ones(fused.shape()));
  net.set_fusion(false);
  const Tensor plain = net.forward(x, nn::Mode::Train);
  EXPECT_EQ(fused.to_vector<float>(), plain.to_vector<float>());
  net.set_fusion(true);
  const std::string summary = net.summary({2, 2, 5, 5});
  size_t fused_rows = 0;
  for (size_t at = summary.find("fused into"); at != std::string::npos; at = summary.find("fused into", at + 1))
    ++fused_rows;
  EXPECT_EQ(fused_rows, 2u) << summary;
}

}  // namespace
}  // namespace convnet::test
