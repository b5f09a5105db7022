// Every loss: the value against a double-precision host reference, and
// d(scale * loss)/d(prediction) by finite differences for scale 1 and != 1.
// Hinge scores are kept >= 5h away from the kink margin - t*s = 0.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/values.hpp"

namespace convnet::test {
namespace {

const std::vector<float> kScales = {1.f, 0.5f, 3.f};

struct ClassCase {
  int n, c;
};
const std::vector<ClassCase> kClassCases = {{1, 2}, {4, 3}, {8, 10}, {3, 7}, {16, 4}};

// Against the smoothed target t = (1 - e) onehot + e / c: mean_i sum_j -t_j log p_j.
double reference_cross_entropy(const std::vector<float>& logits, const std::vector<int32_t>& labels,
                               int n, int c, double e = 0.0) {
  double total = 0.0;
  for (int i = 0; i < n; ++i) {
    double m = -1e300, z = 0.0;
    for (int j = 0; j < c; ++j) m = std::max(m, static_cast<double>(logits[i * c + j]));
    for (int j = 0; j < c; ++j) z += std::exp(logits[i * c + j] - m);
    for (int j = 0; j < c; ++j) {
      const double target = (j == labels[i] ? 1.0 - e : 0.0) + e / c;
      total += -target * (logits[i * c + j] - m - std::log(z));
    }
  }
  return total / n;
}

TEST(GradcheckLoss, CrossEntropy) {
  for (size_t i = 0; i < kClassCases.size(); ++i) {
    const ClassCase& cc = kClassCases[i];
    SCOPED_TRACE("logits [" + std::to_string(cc.n) + ", " + std::to_string(cc.c) + "]");
    const Tensor logits = Tensor::randn({cc.n, cc.c}, Device::cpu(), 1000 + i, 0.f, 2.f);
    const Tensor labels = random_labels(cc.n, cc.c, 1100 + i);
    nn::CrossEntropyLoss loss;
    const Tensor value = loss.forward(logits, labels);
    ASSERT_EQ(value.numel(), 1);
    EXPECT_NEAR(
        value.item(),
        reference_cross_entropy(logits.to_vector<float>(), labels.to_vector<int32_t>(), cc.n, cc.c),
        1e-5);
    // probabilities() is the softmax of the logits.
    const Tensor probs = loss.probabilities();
    ASSERT_EQ(probs.shape(), logits.shape());
    const std::vector<float> pv = probs.to_vector<float>();
    for (int r = 0; r < cc.n; ++r) {
      double sum = 0.0;
      for (int j = 0; j < cc.c; ++j) sum += pv[r * cc.c + j];
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
    for (float scale : kScales) {
      SCOPED_TRACE("scale " + std::to_string(scale));
      EXPECT_TRUE(check_loss_gradients(loss, logits, labels, scale));
    }
  }
}

TEST(GradcheckLoss, CrossEntropyWithLabelSmoothing) {
  for (size_t i = 0; i < kClassCases.size(); ++i) {
    const ClassCase& cc = kClassCases[i];
    for (const float e : {0.1f, 0.5f, 1.f}) {
      SCOPED_TRACE("logits [" + std::to_string(cc.n) + ", " + std::to_string(cc.c) +
                   "], label_smoothing " + std::to_string(e));
      const Tensor logits = Tensor::randn({cc.n, cc.c}, Device::cpu(), 1600 + i, 0.f, 2.f);
      const Tensor labels = random_labels(cc.n, cc.c, 1700 + i);
      nn::CrossEntropyLoss loss(e);
      EXPECT_NEAR(loss.forward(logits, labels).item(),
                  reference_cross_entropy(logits.to_vector<float>(), labels.to_vector<int32_t>(),
                                          cc.n, cc.c, e),
                  1e-5);
      for (float scale : kScales) {
        SCOPED_TRACE("scale " + std::to_string(scale));
        EXPECT_TRUE(check_loss_gradients(loss, logits, labels, scale));
      }
    }
  }
}

TEST(GradcheckLoss, MeanSquaredError) {
  const std::vector<Shape> shapes = {{1, 1}, {4, 3}, {2, 3, 4, 5}, {7}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    SCOPED_TRACE(shapes[i].str());
    const Tensor prediction = Tensor::randn(shapes[i], Device::cpu(), 1200 + i);
    const Tensor target = Tensor::randn(shapes[i], Device::cpu(), 1300 + i);
    nn::MSELoss loss;
    const std::vector<float> p = prediction.to_vector<float>(), t = target.to_vector<float>();
    double expected = 0.0;
    for (size_t k = 0; k < p.size(); ++k)
      expected += (p[k] - t[k]) * static_cast<double>(p[k] - t[k]);
    expected /= static_cast<double>(p.size());
    EXPECT_NEAR(loss.forward(prediction, target).item(), expected, 1e-5 * (1 + expected));
    // Backward in closed form too: 2 * scale * (p - t) / numel.
    std::vector<float> grad(p.size());
    for (size_t k = 0; k < p.size(); ++k) grad[k] = 2.f * 0.5f * (p[k] - t[k]) / p.size();
    EXPECT_TRUE(values_near(loss.backward(0.5f), grad, 1e-5, 1e-7));
    for (float scale : kScales) {
      SCOPED_TRACE("scale " + std::to_string(scale));
      EXPECT_TRUE(check_loss_gradients(loss, prediction, target, scale));
    }
  }
}

TEST(GradcheckLoss, BinaryCrossEntropyWithLogits) {
  const std::vector<Shape> shapes = {{1, 1}, {4, 3}, {2, 3, 4, 5}, {9}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    SCOPED_TRACE(shapes[i].str());
    const Tensor logits = Tensor::randn(shapes[i], Device::cpu(), 1400 + i, 0.f, 3.f);
    std::vector<float> t = Tensor::rand(shapes[i], Device::cpu(), 1500 + i).to_vector<float>();
    // Hard targets too.
    for (size_t k = 0; k < t.size(); k += 3) t[k] = (k / 3) % 2 ? 1.f : 0.f;
    const Tensor target = Tensor::from_vector(t, shapes[i]);
    nn::BCEWithLogitsLoss loss;
    const std::vector<float> x = logits.to_vector<float>();
    double expected = 0.0;
    for (size_t k = 0; k < x.size(); ++k) {
      const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(x[k])));
      expected += -(t[k] * std::log(s) + (1 - t[k]) * std::log(1 - s));
    }
    expected /= static_cast<double>(x.size());
    EXPECT_NEAR(loss.forward(logits, target).item(), expected, 1e-5 * (1 + expected));
    for (float scale : kScales) {
      SCOPED_TRACE("scale " + std::to_string(scale));
      EXPECT_TRUE(check_loss_gradients(loss, logits, target, scale));
    }
  }
}

// Large logits must not overflow: log(1 + exp(-|x|)) form.
TEST(GradcheckLoss, BinaryCrossEntropyWithLogitsIsStable) {
  const Tensor logits = Tensor::from_vector(std::vector<float>{100.f, -100.f, 100.f, -100.f}, {4});
  const Tensor target = Tensor::from_vector(std::vector<float>{1.f, 0.f, 0.f, 1.f}, {4});
  nn::BCEWithLogitsLoss loss;
  EXPECT_NEAR(loss.forward(logits, target).item(), 50.0, 1e-4);  // (0 + 0 + 100 + 100) / 4
  // d/dx = (sigmoid(x) - t) / numel
  EXPECT_TRUE(values_near(loss.backward(), {0.f, 0.f, 0.25f, -0.25f}, 1e-6, 1e-7));
}

TEST(GradcheckLoss, Hinge) {
  const std::vector<Shape> shapes = {{1, 1}, {6}, {4, 3}, {2, 3, 4, 5}};
  for (float margin : {1.f, 0.f}) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      SCOPED_TRACE("margin " + std::to_string(margin) + " on " + shapes[i].str());
      std::mt19937 rng(static_cast<unsigned>(1600 + i));
      const int64_t n = shapes[i].numel();
      std::vector<float> t(static_cast<size_t>(n));
      for (auto& v : t) v = rng() % 2 ? 1.f : -1.f;
      // Scores with margin - t*s = z, |z| >= 0.05, both signs of z (active and inactive).
      std::vector<float> z =
          away_from_zero(Tensor::randn(shapes[i], Device::cpu(), 1700 + i), 0.05f)
              .to_vector<float>();
      std::vector<float> s(z.size());
      for (size_t k = 0; k < z.size(); ++k) s[k] = (margin - z[k]) * t[k];  // t = +-1
      const Tensor scores = Tensor::from_vector(s, shapes[i]);
      const Tensor target = Tensor::from_vector(t, shapes[i]);
      nn::HingeLoss loss(margin);
      double expected = 0.0;
      for (size_t k = 0; k < s.size(); ++k)
        expected += std::max(0.0, static_cast<double>(margin) - t[k] * static_cast<double>(s[k]));
      expected /= static_cast<double>(n);
      EXPECT_NEAR(loss.forward(scores, target).item(), expected, 1e-5 * (1 + expected));
      for (float scale : kScales) {
        SCOPED_TRACE("scale " + std::to_string(scale));
        EXPECT_TRUE(check_loss_gradients(loss, scores, target, scale));
      }
    }
  }
}

// At the kink the gradient is 0 (documented); past it, -t / numel.
TEST(GradcheckLoss, HingeGradientAtAndAroundTheKink) {
  // margin 1: t*s = 1 (kink), 0.5 (active), 2 (inactive), -1 (active)
  const Tensor scores = Tensor::from_vector(std::vector<float>{1.f, -0.5f, 2.f, 1.f}, {4});
  const Tensor target = Tensor::from_vector(std::vector<float>{1.f, -1.f, 1.f, -1.f}, {4});
  nn::HingeLoss loss(1.f);
  EXPECT_NEAR(loss.forward(scores, target).item(), (0.0 + 0.5 + 0.0 + 2.0) / 4, 1e-6);
  EXPECT_TRUE(values_near(loss.backward(2.f), {0.f, 0.5f, 0.f, 0.5f}, 1e-6, 0.0));
  // margin 0 (perceptron): misclassified points only.
  nn::HingeLoss perceptron(0.f);
  const Tensor s0 = Tensor::from_vector(std::vector<float>{0.f, -0.5f, 2.f, 1.f}, {4});
  EXPECT_NEAR(perceptron.forward(s0, target).item(), (0.0 + 0.0 + 0.0 + 1.0) / 4, 1e-6);
  EXPECT_TRUE(values_near(perceptron.backward(), {0.f, 0.f, 0.f, 0.25f}, 1e-6, 0.0));
}

}  // namespace
}  // namespace convnet::test
