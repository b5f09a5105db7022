// Training on the CPU backend is bit-reproducible: the same seed gives the same
// weights, run after run and under 1, 2, 3 or 7 threads. A small CNN with every
// kind of layer that training on MNIST uses (conv, ReLU, max and average
// pooling, dropout, linear, cross-entropy) takes a few steps on random data with
// SGD (momentum) and with Adam; every parameter is then compared bit for bit.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "determinism/thread_count.hpp"

namespace convnet::test {
namespace {

constexpr int kBatch = 64, kSteps = 4, kClasses = 10;

enum class Optim { SgdMomentum, Adam };

struct Trained {
  std::vector<std::pair<std::string, std::vector<uint32_t>>> parameters;
  std::vector<float> losses;
};

// conv1 sums its filter gradient over 32 groups of images and the 784 -> 128
// layer's GEMMs are big enough to be split into blocks, so both of the
// backend's work splits are on the path.
void build_cnn(nn::Sequential& net) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 8, 3).padding(1))
      .add<nn::ReLU>()
      .add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(8, 16, 3).padding(1))
      .add<nn::ReLU>()
      .add<nn::AvgPool2d>(2)
      .add<nn::Flatten>()
      .add<nn::Dropout>(0.25f)
      .add<nn::Linear>(16 * 7 * 7, 128)
      .add<nn::ReLU>()
      .add<nn::Linear>(128, kClasses);
}

Trained train(Optim optim, uint64_t seed, Backend::Kind kind = Backend::Kind::Cpu) {
  manual_seed(seed);  // fixes the initial weights and the dropout seed
  nn::Sequential net;
  build_cnn(net);
  net.set_backend(kind);
  const Tensor images = Tensor::randn({kBatch, 1, 28, 28}, Device::cpu(), seed + 1);
  std::vector<int32_t> label_values(kBatch);
  for (int i = 0; i < kBatch; ++i) label_values[size_t(i)] = (i * 3 + int(seed)) % kClasses;
  const Tensor labels = Tensor::from_vector(label_values, {kBatch});

  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
  nn::Adam adam(net.parameters(), nn::AdamOptions(1e-3f));
  nn::Optimizer& opt = optim == Optim::Adam ? static_cast<nn::Optimizer&>(adam) : sgd;
  sgd.set_backend(kind);
  adam.set_backend(kind);
  nn::CrossEntropyLoss loss;
  loss.set_backend(kind);
  Trained out;
  for (int step = 0; step < kSteps; ++step) {
    const Tensor logits = net.forward(images, nn::Mode::Train);
    out.losses.push_back(loss.forward(logits, labels).item());
    net.backward(loss.backward());
    opt.step();
    opt.zero_grad();
  }
  for (nn::Parameter* p : net.parameters()) out.parameters.emplace_back(p->name, bits_of(p->value));
  return out;
}

void expect_same_bits(const Trained& expected, const Trained& actual, const std::string& what) {
  ASSERT_EQ(actual.parameters.size(), expected.parameters.size()) << what;
  for (size_t i = 0; i < expected.parameters.size(); ++i) {
    ASSERT_EQ(actual.parameters[i].first, expected.parameters[i].first) << what;
    EXPECT_TRUE(bit_identical(expected.parameters[i].second, actual.parameters[i].second))
        << what << ": parameter " << expected.parameters[i].first;
  }
  EXPECT_EQ(actual.losses, expected.losses) << what << ": losses";
}

const char* name(Optim optim) { return optim == Optim::Adam ? "Adam" : "SGD with momentum"; }

TEST(CpuTrainingDeterminism, SameSeedSameWeightsRunTwice) {
  for (Optim optim : {Optim::SgdMomentum, Optim::Adam}) {
    const Trained first = train(optim, 7);
    expect_same_bits(first, train(optim, 7), std::string(name(optim)) + ", second run");
  }
}

// Guards the comparison itself: another seed must change the weights, and
// training must have moved them (the loss changed), or equal bits prove nothing.
TEST(CpuTrainingDeterminism, ComparisonSeesADifferentSeed) {
  const Trained a = train(Optim::Adam, 7), b = train(Optim::Adam, 8);
  ASSERT_EQ(a.parameters.size(), 8u);  // two conv and two linear layers
  for (size_t i = 0; i < a.parameters.size(); ++i)
    EXPECT_FALSE(bit_identical(a.parameters[i].second, b.parameters[i].second))
        << a.parameters[i].first;
  EXPECT_NE(a.losses.front(), a.losses.back());
}

TEST(CpuTrainingDeterminism, SameWeightsUnderEveryThreadCount) {
  for (Optim optim : {Optim::SgdMomentum, Optim::Adam}) {
    Trained reference;
    {
      ScopedThreadCount single(1);
      reference = train(optim, 11);
    }
    for (int threads : kThreadCounts) {
      if (threads == 1) continue;
      ScopedThreadCount scoped(threads);
      ASSERT_EQ(cpu::parallel_threads(), threads) << "the pool was not resized";
      expect_same_bits(reference, train(optim, 11),
                       std::string(name(optim)) + ", " + std::to_string(threads) + " threads vs 1");
    }
  }
}

}  // namespace
}  // namespace convnet::test

namespace convnet::test {
namespace {

// oneDNN promises run-to-run bit equality in a fixed environment (same machine,
// library, thread count), and so does the onednn backend: the same seed twice
// gives the same weights, under each thread count. Not across thread counts:
// oneDNN splits its sums by its team size (docs/determinism.md).
TEST(OneDnnTrainingDeterminism, SameSeedSameWeightsRunTwice) {
  if (!backend_available(Backend::Kind::OneDnn))
    GTEST_SKIP() << backend_unavailable_reason(Backend::Kind::OneDnn);
  for (Optim optim : {Optim::SgdMomentum, Optim::Adam}) {
    const Trained first = train(optim, 7, Backend::Kind::OneDnn);
    expect_same_bits(first, train(optim, 7, Backend::Kind::OneDnn),
                     std::string(name(optim)) + " on onednn, second run");
    for (int threads : kThreadCounts) {
      ScopedThreadCount scoped(threads);
      const Trained a = train(optim, 7, Backend::Kind::OneDnn);
      expect_same_bits(a, train(optim, 7, Backend::Kind::OneDnn),
                       std::string(name(optim)) + " on onednn, " + std::to_string(threads) +
                           " threads, second run");
    }
  }
}

}  // namespace
}  // namespace convnet::test
