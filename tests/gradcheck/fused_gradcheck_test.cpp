// The fused forwards (Conv2d + ReLU, Linear + ReLU, as Sequential runs them by
// default) against finite differences: the fused backward reads ReLU's gradient
// from the fused output instead of the pre-activation.
#include <gtest/gtest.h>

#include "support/gradcheck.hpp"

namespace convnet::test {
namespace {

TEST(GradcheckFused, ConvReluAndLinearReluPairs) {
  for (uint64_t trial = 0; trial < 3; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    manual_seed(71 + trial);
    nn::Sequential net;
    net.add<nn::Conv2d>(nn::Conv2dOptions(2, 8, 3).padding(1).stride(2))
        .add<nn::ReLU>()
        .add<nn::Flatten>()
        .add<nn::Linear>(8 * 3 * 3, 6)
        .add<nn::ReLU>()
        .add<nn::Linear>(6, 4);
    ASSERT_TRUE(net.fusion());
    const Tensor x = Tensor::randn({2, 2, 5, 5}, Device::cpu(), 3000 + trial);
    GradCheckOptions opt;
    opt.step = 1e-3f;            // piecewise linear: small steps cross few kinks
    opt.skip_nonsmooth = true;   // and the few that are crossed are skipped
    EXPECT_TRUE(check_layer_gradients(net, x, opt));
  }
}

}  // namespace
}  // namespace convnet::test
