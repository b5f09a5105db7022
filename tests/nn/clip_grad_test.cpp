// nn::clip_grad_norm_ against torch.nn.utils.clip_grad_norm_'s formula.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "convnet/convnet.hpp"

namespace convnet::test {
namespace {

nn::Parameter make_param(const std::vector<float>& grad) {
  const Shape shape{static_cast<int64_t>(grad.size())};
  return nn::Parameter{"p", Tensor::zeros(shape), Tensor::from_vector(grad, shape)};
}

TEST(ClipGradNorm, ScalesAllGradientsByOneFactorWhenTheTotalExceedsTheBound) {
  // The gradients {3} and {4, -12} as one vector: sqrt(9 + 16 + 144) = 13.
  nn::Parameter a = make_param({3.f}), b = make_param({4.f, -12.f});
  const float total = nn::clip_grad_norm_({&a, &b}, 1.f);
  EXPECT_FLOAT_EQ(total, 13.f);
  const float coef = 1.f / (13.f + 1e-6f);  // PyTorch's max_norm / (total + 1e-6)
  EXPECT_FLOAT_EQ(a.grad.to_vector<float>()[0], 3.f * coef);
  EXPECT_FLOAT_EQ(b.grad.to_vector<float>()[0], 4.f * coef);
  EXPECT_FLOAT_EQ(b.grad.to_vector<float>()[1], -12.f * coef);
}

TEST(ClipGradNorm, LeavesGradientsBelowTheBoundAsTheyAre) {
  nn::Parameter a = make_param({0.3f, -0.4f});
  EXPECT_FLOAT_EQ(nn::clip_grad_norm_({&a}, 1.f), 0.5f);
  EXPECT_EQ(a.grad.to_vector<float>(), (std::vector<float>{0.3f, -0.4f}));
}

TEST(ClipGradNorm, RefusesBadArgumentsAndNonFiniteTotals) {
  nn::Parameter a = make_param({1.f, std::numeric_limits<float>::infinity()});
  EXPECT_THROW(nn::clip_grad_norm_({&a}, 1.f), Error);
  EXPECT_TRUE(std::isinf(a.grad.to_vector<float>()[1]));
  EXPECT_EQ(a.grad.to_vector<float>()[0], 1.f);  // untouched
  nn::Parameter b = make_param({1.f});
  EXPECT_THROW(nn::clip_grad_norm_({}, 1.f), Error);
  EXPECT_THROW(nn::clip_grad_norm_({&b}, 0.f), Error);
  EXPECT_THROW(nn::clip_grad_norm_({&b}, std::nanf("")), Error);
  EXPECT_THROW(nn::clip_grad_norm_({nullptr}, 1.f), Error);
}

TEST(ClipGradNorm, ClipsAModelsGradientsToTheBound) {
  nn::Sequential net;
  net.add<nn::Linear>(6, 5).add<nn::ReLU>().add<nn::Linear>(5, 3);
  const Tensor x = Tensor::randn({4, 6}, Device::cpu(), 7);
  net.forward(x, nn::Mode::Train);
  net.backward(Tensor::randn({4, 3}, Device::cpu(), 8, 0.f, 100.f));
  const float before = nn::clip_grad_norm_(net.parameters(), 0.5f);
  ASSERT_GT(before, 0.5f);
  double sq = 0;
  for (nn::Parameter* p : net.parameters())
    for (float g : p->grad.to_vector<float>()) sq += double{g} * g;
  EXPECT_NEAR(std::sqrt(sq), 0.5, 1e-5);
}

}  // namespace
}  // namespace convnet::test
