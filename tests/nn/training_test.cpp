// End to end on the CPU: a small CNN learns a synthetic 4-class problem to 100%
// training accuracy; Sequential's parameter names, summary, zero_grad and
// gradient accumulation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

constexpr int kSamples = 64, kClasses = 4, kSide = 8;

// 8x8 images whose class is the quadrant holding a bright 2x2 blob (placed at a
// random position inside the quadrant), plus Gaussian noise (sigma 0.2).
struct Dataset {
  Tensor images;  // [64, 1, 8, 8]
  Tensor labels;  // int32 [64]
};

Dataset make_quadrant_dataset(uint64_t seed) {
  std::vector<float> pixels =
      Tensor::randn({kSamples, 1, kSide, kSide}, Device::cpu(), seed, 0.f, 0.2f).to_vector<float>();
  std::vector<int32_t> labels(kSamples);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_int_distribution<int> offset(0, 2);
  for (int i = 0; i < kSamples; ++i) {
    const int c = i % kClasses;
    labels[i] = c;
    const int top = (c / 2) * 4 + offset(rng), left = (c % 2) * 4 + offset(rng);
    for (int r = top; r < top + 2; ++r)
      for (int s = left; s < left + 2; ++s) pixels[(i * kSide + r) * kSide + s] += 1.f;
  }
  return {Tensor::from_vector(pixels, {kSamples, 1, kSide, kSide}),
          Tensor::from_vector(labels, {kSamples})};
}

void build_cnn(nn::Sequential& net) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 8, 3).padding(1))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Linear>(8 * 4 * 4, kClasses);
}

// Counted on the host, independently of ops::count_correct.
int host_correct(const Tensor& logits, const Tensor& labels) {
  const std::vector<float> l = logits.to_vector<float>();
  const std::vector<int32_t> y = labels.to_vector<int32_t>();
  int correct = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const auto row = l.begin() + static_cast<long>(i * kClasses);
    if (std::max_element(row, row + kClasses) - row == y[i]) ++correct;
  }
  return correct;
}

// Trains (full batch) until every training sample is classified correctly and
// the mean loss is below `target_loss`; returns the number of steps taken (or
// max_steps + 1 when it never got there).
template <typename Optimizer>
int train_to_perfect(nn::Sequential& net, Optimizer& opt, const Dataset& data, int max_steps,
                     float target_loss, float* first_loss, float* last_loss) {
  nn::CrossEntropyLoss loss;
  Tensor correct = Tensor::zeros({1}, Device::cpu(), DType::I32);
  for (int step = 0; step <= max_steps; ++step) {
    const Tensor logits = net.forward(data.images, nn::Mode::Train);
    const float value = loss.forward(logits, data.labels).item();
    if (step == 0) *first_loss = value;
    *last_loss = value;
    const int host = host_correct(logits, data.labels);
    ops::count_correct(get_backend(Backend::Kind::Cpu), logits, data.labels, correct, false);
    EXPECT_EQ(correct.to_vector<int32_t>()[0], host) << "count_correct disagrees at step " << step;
    if (host == kSamples && value < target_loss) return step;
    opt.zero_grad();
    net.backward(loss.backward());
    opt.step();
  }
  return max_steps + 1;
}

TEST(Training, SmallCnnLearnsQuadrantsWithAdam) {
  manual_seed(2024);
  const Dataset data = make_quadrant_dataset(77);
  nn::Sequential net;
  build_cnn(net);
  nn::Adam opt(net.parameters(), nn::AdamOptions(0.01f));
  float first = 0.f, last = 0.f;
  const int steps = train_to_perfect(net, opt, data, 300, 0.02f, &first, &last);
  RecordProperty("steps", steps);
  EXPECT_LE(steps, 300) << "did not reach 100% training accuracy and loss < 0.02; loss " << first
                        << " -> " << last;
  EXPECT_LT(last, first);
  // Eval mode gives the same predictions (no dropout here).
  EXPECT_EQ(host_correct(net.forward(data.images, nn::Mode::Eval), data.labels), kSamples);
}

TEST(Training, SmallCnnLearnsQuadrantsWithSgdMomentum) {
  manual_seed(2025);
  const Dataset data = make_quadrant_dataset(78);
  nn::Sequential net;
  build_cnn(net);
  nn::SGD opt(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
  float first = 0.f, last = 0.f;
  const int steps = train_to_perfect(net, opt, data, 300, 0.02f, &first, &last);
  RecordProperty("steps", steps);
  EXPECT_LE(steps, 300) << "did not reach 100% training accuracy and loss < 0.02; loss " << first
                        << " -> " << last;
  EXPECT_LT(last, first);
}

// Conv2d and Linear start like PyTorch's: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
// weight and bias, and manual_seed makes construction reproducible.
TEST(Training, DefaultInitialisationIsPyTorchsAndSeeded) {
  manual_seed(99);
  nn::Conv2d conv(3, 8, 5);
  nn::Linear linear(50, 20);
  struct Case {
    nn::Parameter* p;
    double bound;
  };
  for (const Case& c :
       {Case{&conv.weight(), 1.0 / std::sqrt(75.0)}, Case{conv.bias(), 1.0 / std::sqrt(75.0)},
        Case{&linear.weight(), 1.0 / std::sqrt(50.0)},
        Case{linear.bias(), 1.0 / std::sqrt(50.0)}}) {
    SCOPED_TRACE(c.p->name);
    const std::vector<float> v = c.p->value.to_vector<float>();
    double largest = 0.0, mean = 0.0;
    for (float x : v) {
      largest = std::max(largest, std::fabs(static_cast<double>(x)));
      mean += x;
    }
    mean /= static_cast<double>(v.size());
    EXPECT_LE(largest, c.bound * (1 + 1e-6));
    if (v.size() >= 20) {
      EXPECT_GT(largest, 0.8 * c.bound);  // spread over the interval, not all near 0
      EXPECT_LT(std::fabs(mean), 0.5 * c.bound);
    }
    const std::vector<float> g = c.p->grad.to_vector<float>();
    EXPECT_TRUE(std::all_of(g.begin(), g.end(), [](float x) { return x == 0.f; }));
  }
  manual_seed(99);
  nn::Conv2d again(3, 8, 5);
  EXPECT_EQ(again.weight().value.to_vector<float>(), conv.weight().value.to_vector<float>());
  EXPECT_EQ(again.bias()->value.to_vector<float>(), conv.bias()->value.to_vector<float>());
  nn::Conv2d next(3, 8, 5);
  EXPECT_NE(next.weight().value.to_vector<float>(), conv.weight().value.to_vector<float>());
}

TEST(Training, SequentialParameterNamesFollowPyTorch) {
  nn::Sequential net;
  build_cnn(net);
  std::vector<std::string> names;
  for (nn::Parameter* p : net.parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "4.weight", "4.bias"}));
  const std::vector<nn::Parameter*> params = net.parameters();
  EXPECT_EQ(params[0]->value.shape(), (Shape{8, 1, 3, 3}));
  EXPECT_EQ(params[1]->value.shape(), (Shape{8}));
  EXPECT_EQ(params[2]->value.shape(), (Shape{4, 128}));
  EXPECT_EQ(params[3]->value.shape(), (Shape{4}));
  for (nn::Parameter* p : params) EXPECT_EQ(p->grad.shape(), p->value.shape()) << p->name;
  // Pointers are stable: the same objects on every call.
  EXPECT_EQ(net.parameters(), params);
  // A bare layer's parameters are unprefixed.
  nn::Linear linear(3, 2);
  ASSERT_EQ(linear.parameters().size(), 2u);
  EXPECT_EQ(linear.parameters()[0]->name, "weight");
  EXPECT_EQ(linear.parameters()[1]->name, "bias");
}

TEST(Training, SummaryListsLayersAndTotals) {
  nn::Sequential net;
  build_cnn(net);
  // 8*1*3*3 + 8 + 4*128 + 4 = 596
  EXPECT_EQ(net.parameter_count(), 596);
  EXPECT_EQ(net[0].parameter_count(), 80);
  EXPECT_EQ(net[4].parameter_count(), 516);
  EXPECT_EQ(net.output_shape({5, 1, 8, 8}), (Shape{5, 4}));
  const std::string summary = net.summary({5, 1, 8, 8});
  for (size_t i = 0; i < net.size(); ++i)
    EXPECT_TRUE(contains(summary, net[i].name())) << net[i].name() << " missing from\n" << summary;
  EXPECT_TRUE(contains(summary, "Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"))
      << summary;
  EXPECT_TRUE(contains(summary, "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"))
      << summary;
  EXPECT_TRUE(contains(summary, "Flatten(start_dim=1, end_dim=-1)")) << summary;
  EXPECT_TRUE(contains(summary, "Linear(in_features=128, out_features=4, bias=True)")) << summary;
  EXPECT_TRUE(contains(summary, "596")) << summary;
  EXPECT_TRUE(contains(summary, "516")) << summary;
  EXPECT_TRUE(contains(summary, "cpu")) << summary;  // the backend that will run
}

TEST(Training, ZeroGradZeroesEveryGradient) {
  manual_seed(5);
  nn::Sequential net;
  build_cnn(net);
  const Dataset data = make_quadrant_dataset(79);
  nn::CrossEntropyLoss loss;
  loss.forward(net.forward(data.images, nn::Mode::Train), data.labels);
  net.backward(loss.backward());
  for (nn::Parameter* p : net.parameters()) {
    const std::vector<float> g = p->grad.to_vector<float>();
    EXPECT_TRUE(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.f; })) << p->name;
  }
  net.zero_grad();
  for (nn::Parameter* p : net.parameters()) {
    const std::vector<float> g = p->grad.to_vector<float>();
    EXPECT_TRUE(std::all_of(g.begin(), g.end(), [](float v) { return v == 0.f; })) << p->name;
  }
  // The optimizer's zero_grad does the same.
  loss.forward(net.forward(data.images, nn::Mode::Train), data.labels);
  net.backward(loss.backward());
  nn::SGD opt(net.parameters(), nn::SGDOptions(0.01f));
  opt.zero_grad();
  for (nn::Parameter* p : net.parameters()) {
    const std::vector<float> g = p->grad.to_vector<float>();
    EXPECT_TRUE(std::all_of(g.begin(), g.end(), [](float v) { return v == 0.f; })) << p->name;
  }
}

TEST(Training, GradientsAccumulateAcrossBackwardCalls) {
  manual_seed(6);
  nn::Sequential net;
  build_cnn(net);
  const Dataset data = make_quadrant_dataset(80);
  nn::CrossEntropyLoss loss;
  net.zero_grad();
  loss.forward(net.forward(data.images, nn::Mode::Train), data.labels);
  const Tensor dx1 = net.backward(loss.backward()).clone();
  std::vector<std::vector<float>> once;
  for (nn::Parameter* p : net.parameters()) once.push_back(p->grad.to_vector<float>());
  loss.forward(net.forward(data.images, nn::Mode::Train), data.labels);
  const Tensor dx2 = net.backward(loss.backward());
  // The input gradient is not accumulated: it is the same both times.
  EXPECT_TRUE(values_near(dx2, dx1.to_vector<float>(), 1e-6, 1e-9));
  const std::vector<nn::Parameter*> params = net.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    SCOPED_TRACE(params[i]->name);
    std::vector<float> twice = once[i];
    double largest = 0.0;
    for (float& v : twice) {
      v *= 2.f;
      largest = std::max(largest, std::fabs(static_cast<double>(v)));
    }
    // Not bit-exact: the second pass adds into the first (GEMM with beta = 1),
    // so the summation order differs; allow rounding relative to the tensor's scale.
    EXPECT_TRUE(values_near(params[i]->grad, twice, 1e-5, 1e-6 * largest));
  }
}

}  // namespace
}  // namespace convnet::test
