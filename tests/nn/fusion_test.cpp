// Sequential's Conv2d/Linear + ReLU fusion: the same numbers as the unfused
// layers (on the CPU, where the fused op is the composition, the same bits),
// less memory kept, and only where the pair really is conv/linear then ReLU.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "convnet/convnet.hpp"

namespace convnet {
namespace {

void build(nn::Sequential& net) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(4, 5, 3))
      .add<nn::LeakyReLU>()  // not ReLU: never fused
      .add<nn::Flatten>()
      .add<nn::Linear>(5 * 2 * 2, 7)
      .add<nn::ReLU>()
      .add<nn::Linear>(7, 3);
}

struct Pass {
  std::vector<float> out, grad_in;
  std::vector<std::vector<float>> grads;
};

Pass run(bool fused) {
  manual_seed(5);
  nn::Sequential net;
  build(net);
  net.set_fusion(fused);
  const Tensor x = Tensor::randn({3, 1, 8, 8}, Device::cpu(), 11);
  const Tensor y = net.forward(x, nn::Mode::Train);
  const Tensor dy = Tensor::randn(y.shape(), Device::cpu(), 12);
  Pass p{y.to_vector<float>(), net.backward(dy).to_vector<float>(), {}};
  for (nn::Parameter* param : net.parameters()) p.grads.push_back(param->grad.to_vector<float>());
  return p;
}

TEST(Fusion, SameBitsAsUnfusedOnTheCpu) {
  const Pass fused = run(true), plain = run(false);
  EXPECT_EQ(fused.out, plain.out);
  EXPECT_EQ(fused.grad_in, plain.grad_in);
  ASSERT_EQ(fused.grads.size(), plain.grads.size());
  for (size_t i = 0; i < fused.grads.size(); ++i) EXPECT_EQ(fused.grads[i], plain.grads[i]) << i;
}

TEST(Fusion, SummaryNamesTheFusedPairs) {
  nn::Sequential net;
  build(net);
  net.set_backend(Backend::Kind::Cpu);  // the reference's path names
  const std::string fused = net.summary({3, 1, 8, 8});
  EXPECT_NE(fused.find("fused into 0"), std::string::npos) << fused;
  EXPECT_NE(fused.find("fused into 6"), std::string::npos) << fused;
  EXPECT_EQ(fused.find("fused into 3"), std::string::npos) << fused;  // LeakyReLU
  EXPECT_NE(fused.find("im2col + gemm, relu (composed)"), std::string::npos) << fused;
  net.set_fusion(false);
  const std::string plain = net.summary({3, 1, 8, 8});
  EXPECT_EQ(plain.find("fused"), std::string::npos) << plain;
}

TEST(Fusion, OnlyWhenBothLayersUseTheSameBackend) {
  nn::Sequential net;
  build(net);
  net[1].set_backend(Backend::Kind::Cpu);  // layer 0 stays "default"
  const std::string s = net.summary({3, 1, 8, 8});
  EXPECT_EQ(s.find("fused into 0"), std::string::npos) << s;
  EXPECT_NE(s.find("fused into 6"), std::string::npos) << s;
}

TEST(Fusion, DirectReluBackwardAfterAFusedForwardIsAnError) {
  nn::Sequential net;
  build(net);
  const Tensor x = Tensor::randn({2, 1, 8, 8}, Device::cpu(), 3);
  net.forward(x, nn::Mode::Train);
  // The ReLU at 1 ran inside the Conv2d at 0 and kept nothing of its own.
  EXPECT_THROW(net[1].backward(Tensor::zeros({2, 4, 8, 8})), Error);
  // The network as a whole backpropagates.
  EXPECT_NO_THROW(net.backward(Tensor::ones({2, 3})));
}

TEST(Fusion, ALayerUsedOnItsOwnAfterwardsIsNotFused) {
  nn::Sequential net;
  build(net);
  const Tensor x = Tensor::randn({2, 1, 8, 8}, Device::cpu(), 3);
  net.forward(x, nn::Mode::Train);
  // The Conv2d at 0 ran fused inside the net; called alone it is a plain convolution.
  const std::vector<float> alone = net[0].forward(x, nn::Mode::Eval).to_vector<float>();
  EXPECT_TRUE(std::any_of(alone.begin(), alone.end(), [](float v) { return v < 0.f; }));
}

TEST(Fusion, FusedOpsMatchTheirComposition) {
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  const Tensor x = Tensor::randn({2, 3, 6, 5}, Device::cpu(), 1);
  const Tensor w = Tensor::randn({4, 3, 3, 3}, Device::cpu(), 2);
  const Tensor b = Tensor::randn({4}, Device::cpu(), 3);
  Conv2dParams p;
  p.pad_h = 1;
  p.stride_w = 2;
  const Tensor plain = ops::activation_forward(cpu, Activation::ReLU, 0.f,
                                               ops::conv2d_forward(cpu, x, w, &b, p));
  EXPECT_EQ(ops::conv2d_bias_relu_forward(cpu, x, w, &b, p).to_vector<float>(),
            plain.to_vector<float>());
  const Tensor xl = Tensor::randn({5, 6}, Device::cpu(), 4), wl = Tensor::randn({3, 6}, Device::cpu(), 5);
  const Tensor bl = Tensor::randn({3}, Device::cpu(), 6);
  EXPECT_EQ(ops::linear_bias_relu_forward(cpu, xl, wl, &bl).to_vector<float>(),
            ops::activation_forward(cpu, Activation::ReLU, 0.f, ops::linear_forward(cpu, xl, wl, &bl))
                .to_vector<float>());
  // The same checks as the unfused op.
  EXPECT_THROW(ops::conv2d_bias_relu_forward(cpu, x, Tensor::randn({4, 2, 3, 3}, Device::cpu(), 7),
                                             &b, p),
               Error);
  EXPECT_THROW(ops::linear_bias_relu_forward(cpu, xl, Tensor::randn({3, 5}, Device::cpu(), 8), &bl),
               Error);
}

}  // namespace
}  // namespace convnet
