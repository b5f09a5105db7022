// Linear (with and without bias), Flatten and Dropout: finite-difference
// gradients and forward values. Dropout draws a new mask per Train forward, so
// the layer's backward is checked against the mask its own forward used, and
// the op is gradient-checked through ops:: with a fixed (seed, offset).
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/values.hpp"

namespace convnet::test {
namespace {

struct LinearCase {
  int n, in, out;
  bool bias;
};

const std::vector<LinearCase> kLinearCases = {
    {1, 3, 2, true}, {4, 7, 5, false}, {5, 16, 10, true}, {2, 33, 1, true}, {3, 1, 4, false},
};

TEST(GradcheckLinear, InputWeightAndBias) {
  manual_seed(21);
  for (size_t i = 0; i < kLinearCases.size(); ++i) {
    const LinearCase& lc = kLinearCases[i];
    std::ostringstream os;
    os << "Linear(" << lc.in << ", " << lc.out << ") bias=" << lc.bias << " batch " << lc.n;
    SCOPED_TRACE(os.str());
    nn::Linear linear(nn::LinearOptions(lc.in, lc.out).bias(lc.bias));
    ASSERT_EQ(linear.parameters().size(), lc.bias ? 2u : 1u);
    EXPECT_EQ(linear.weight().value.shape(), (Shape{lc.out, lc.in}));
    EXPECT_EQ(linear.bias() != nullptr, lc.bias);
    const Tensor x = Tensor::randn({lc.n, lc.in}, Device::cpu(), 800 + i);
    EXPECT_TRUE(check_layer_gradients(linear, x));
  }
}

TEST(GradcheckLinear, ForwardIsInputTimesWeightTransposedPlusBias) {
  manual_seed(22);
  for (size_t i = 0; i < kLinearCases.size(); ++i) {
    const LinearCase& lc = kLinearCases[i];
    nn::Linear linear(nn::LinearOptions(lc.in, lc.out).bias(lc.bias));
    const Tensor x = Tensor::randn({lc.n, lc.in}, Device::cpu(), 850 + i);
    const Tensor y = linear.forward(x, nn::Mode::Eval);
    ASSERT_EQ(y.shape(), (Shape{lc.n, lc.out}));
    EXPECT_EQ(linear.output_shape(x.shape()), y.shape());
    const std::vector<float> xs = x.to_vector<float>(),
                             w = linear.weight().value.to_vector<float>();
    const std::vector<float> b =
        lc.bias ? linear.bias()->value.to_vector<float>() : std::vector<float>(lc.out, 0.f);
    std::vector<float> expected;
    for (int n = 0; n < lc.n; ++n)
      for (int o = 0; o < lc.out; ++o) {
        double acc = b[o];
        for (int k = 0; k < lc.in; ++k)
          acc += static_cast<double>(xs[n * lc.in + k]) * w[o * lc.in + k];
        expected.push_back(static_cast<float>(acc));
      }
    EXPECT_TRUE(values_near(y, expected, 1e-5, 1e-6));
  }
}

TEST(GradcheckFlatten, IsAViewAndPassesGradientsThrough) {
  nn::Flatten flatten;
  EXPECT_EQ(flatten.output_shape({2, 3, 4, 5}), (Shape{2, 60}));
  EXPECT_EQ(flatten.output_shape({7, 5}), (Shape{7, 5}));
  const Tensor x = Tensor::randn({2, 3, 4, 5}, Device::cpu(), 900);
  const Tensor y = flatten.forward(x, nn::Mode::Train);
  ASSERT_EQ(y.shape(), (Shape{2, 60}));
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
  const Tensor g = Tensor::randn({2, 60}, Device::cpu(), 901);
  const Tensor gx = flatten.backward(g);
  ASSERT_EQ(gx.shape(), x.shape());
  EXPECT_EQ(gx.to_vector<float>(), g.to_vector<float>());
  for (const Shape& s : {Shape{2, 3, 4, 5}, Shape{1, 1, 3, 3}, Shape{3, 2, 1, 4}}) {
    SCOPED_TRACE(s.str());
    nn::Flatten layer;
    EXPECT_TRUE(check_layer_gradients(layer, Tensor::randn(s, Device::cpu(), 902)));
  }
}

// The Dropout layer: output = input * mask with mask in {0, 1/(1-p)}, backward
// multiplies by the same mask; Eval is the identity (and keeps nothing for
// backward); each Train forward draws anew.
TEST(GradcheckDropout, LayerBackwardUsesTheForwardMask) {
  for (float p : {0.1f, 0.3f, 0.5f, 0.8f}) {
    SCOPED_TRACE("p = " + std::to_string(p));
    nn::Dropout dropout(nn::DropoutOptions(p).seed(1234));
    EXPECT_TRUE(dropout.parameters().empty());
    // Away from zero so that the mask can be read back as output / input.
    const Tensor x = away_from_zero(Tensor::randn({4, 3, 5, 7}, Device::cpu(), 950), 0.1f);
    const Tensor y = dropout.forward(x, nn::Mode::Train);
    ASSERT_EQ(y.shape(), x.shape());
    const std::vector<float> xs = x.to_vector<float>(), ys = y.to_vector<float>();
    const float keep_scale = 1.f / (1.f - p);
    std::vector<float> mask(xs.size());
    int64_t dropped = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const float ratio = ys[i] / xs[i];
      if (ys[i] == 0.f) {
        mask[i] = 0.f;
        ++dropped;
      } else {
        ASSERT_NEAR(ratio, keep_scale, 1e-5f * keep_scale) << "element " << i;
        mask[i] = keep_scale;
      }
    }
    // 420 elements: the dropped count is Binomial(420, p); allow 5 standard deviations.
    const double n = static_cast<double>(xs.size());
    EXPECT_NEAR(static_cast<double>(dropped), n * p, 5.0 * std::sqrt(n * p * (1 - p)));
    const Tensor g = Tensor::randn(x.shape(), Device::cpu(), 951);
    const std::vector<float> gs = g.to_vector<float>();
    std::vector<float> expected(gs.size());
    for (size_t i = 0; i < gs.size(); ++i) expected[i] = gs[i] * mask[i];
    EXPECT_TRUE(values_near(dropout.backward(g), expected, 1e-6, 0.0));

    // A second Train forward draws a different mask.
    const std::vector<float> y2 = dropout.forward(x, nn::Mode::Train).to_vector<float>();
    EXPECT_NE(y2, ys);

    // Eval: the identity, the input itself; no mask kept, so no backward.
    const Tensor ye = dropout.forward(x, nn::Mode::Eval);
    EXPECT_EQ(ye.to_vector<float>(), xs);
    EXPECT_EQ(ye.data<float>(), x.data<float>());
    EXPECT_THROW(dropout.backward(g), Error);
  }
}

// p = 0 keeps everything (mask of ones), in the op and the layer.
TEST(GradcheckDropout, ZeroProbabilityKeepsEverything) {
  const Tensor x = Tensor::randn({2, 5}, Device::cpu(), 990);
  Tensor mask;
  const Tensor y = ops::dropout_forward(get_backend(Backend::Kind::Cpu), x, 0.f, 3, 0, mask);
  EXPECT_TRUE(values_near(y, x.to_vector<float>(), 0.0, 0.0));
  EXPECT_TRUE(values_near(mask, std::vector<float>(10, 1.f), 0.0, 0.0));
  nn::Dropout dropout(nn::DropoutOptions(0.f).seed(3));
  EXPECT_TRUE(values_near(dropout.forward(x, nn::Mode::Train), x.to_vector<float>(), 0.0, 0.0));
  const Tensor g = Tensor::randn({2, 5}, Device::cpu(), 991);
  EXPECT_TRUE(values_near(dropout.backward(g), g.to_vector<float>(), 0.0, 0.0));
}

// The same seed gives the same sequence of masks.
TEST(GradcheckDropout, SameSeedSameMasks) {
  const Tensor x = Tensor::ones({3, 50});
  nn::Dropout a(nn::DropoutOptions().seed(99)), b(nn::DropoutOptions(0.5f).seed(99));
  for (int step = 0; step < 3; ++step)
    EXPECT_EQ(a.forward(x, nn::Mode::Train).to_vector<float>(),
              b.forward(x, nn::Mode::Train).to_vector<float>());
}

// The op, with a fixed (seed, offset): the mask follows the documented Philox
// formula exactly, and backward passes the finite-difference check.
TEST(GradcheckDropout, OpMaskFormulaAndGradient) {
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  const uint64_t seed = 4242;
  for (uint64_t offset : {uint64_t{0}, uint64_t{7}}) {
    for (float p : {0.25f, 0.6f}) {
      SCOPED_TRACE("offset " + std::to_string(offset) + ", p " + std::to_string(p));
      Tensor x = Tensor::randn({3, 4, 6, 5}, Device::cpu(), 960 + offset);
      Tensor mask;
      const Tensor y = ops::dropout_forward(cpu, x, p, seed, offset, mask);
      ASSERT_EQ(mask.shape(), x.shape());
      std::vector<float> expected_mask(static_cast<size_t>(x.numel()));
      for (int64_t i = 0; i < x.numel(); ++i)
        expected_mask[i] =
            philox_uniform(seed, offset, static_cast<uint64_t>(i)) >= p ? 1.f / (1.f - p) : 0.f;
      EXPECT_TRUE(values_near(mask, expected_mask, 1e-6, 0.0));
      const std::vector<float> xs = x.to_vector<float>();
      std::vector<float> expected_y(xs.size());
      for (size_t i = 0; i < xs.size(); ++i) expected_y[i] = xs[i] * expected_mask[i];
      EXPECT_TRUE(values_near(y, expected_y, 1e-6, 0.0));

      const Tensor projection = Tensor::randn(x.shape(), Device::cpu(), 970);
      const Tensor grad = ops::dropout_backward(cpu, projection, mask);
      auto objective = [&]() {
        Tensor m;
        return dot(ops::dropout_forward(cpu, x, p, seed, offset, m), projection);
      };
      EXPECT_TRUE(check_gradients(objective, {{"dropout input", x, grad.to_vector<float>()}}));
    }
  }
}

}  // namespace
}  // namespace convnet::test
