// logistic_regression: the second step of the series — from a perceptron's hard
// yes/no to a probability, on MNIST 4 vs 9.
//
// The perceptron only says which side of the boundary an input falls on, and
// learns only from mistakes. Logistic regression keeps the same score
// s = w·x + b but reads it as a probability, p(9 | x) = sigmoid(s) = 1/(1+e^-s),
// and learns from every sample by minimising the binary cross-entropy
// -[t·log p + (1-t)·log(1-p)] (t = 1 for a 9, 0 for a 4). Its gradient is
// (p - t)·x: a confident right answer barely moves the weights, a confident
// wrong one moves them a lot. The loss is smooth, so plain minibatch gradient
// descent works and the boundary settles in the middle of the gap instead of
// wherever the last mistake left it.
//
// In convnet that is nn::Linear(784, 1) + nn::BCEWithLogitsLoss (sigmoid and
// cross-entropy fused, which stays finite for large |s|) + nn::SGD. Every pixel
// gets one weight, so the learned w is itself a 28x28 picture: printed at the
// end, it shows which strokes speak for a 9 and which for a 4. Expect about 97%
// test accuracy: 4 and 9 are among the digits most often confused, and one
// hyperplane cannot do much better (scikit-learn's LogisticRegression, solved to
// convergence on the same pixels, gets 96.7-97.2% depending on its L2 penalty).
#include <CLI/CLI.hpp>

#include "common/cli.hpp"
#include "common/mnist_data.hpp"
#include "common/report.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/data/dataset.hpp"

using namespace convnet;

namespace {

constexpr int64_t kPixels = 28 * 28;

// The images of two digits, flattened: x [n, 784] in [0, 1], t = 1 for `positive`.
struct BinaryData {
  std::vector<float> images;
  std::vector<float> targets;
  int64_t size() const { return static_cast<int64_t>(targets.size()); }
};

BinaryData select_digits(const data::Dataset& dataset, int negative, int positive) {
  const float* pixels = dataset.images.data<float>();
  const int32_t* labels = dataset.labels.data<int32_t>();
  BinaryData out;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    if (labels[i] != negative && labels[i] != positive) continue;
    out.images.insert(out.images.end(), pixels + i * kPixels, pixels + (i + 1) * kPixels);
    out.targets.push_back(labels[i] == positive ? 1.f : 0.f);
  }
  return out;
}

// Rows order[begin, end) as a batch: x [n, 784], t [n, 1].
std::pair<Tensor, Tensor> gather(const BinaryData& data, const std::vector<int64_t>& order, int64_t begin,
                                 int64_t end) {
  const int64_t n = end - begin;
  std::vector<float> images(static_cast<size_t>(n * kPixels));
  std::vector<float> targets(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = order[begin + i];
    std::copy_n(data.images.begin() + row * kPixels, kPixels, images.begin() + i * kPixels);
    targets[i] = data.targets[row];
  }
  return {Tensor::from_vector(images, {n, kPixels}), Tensor::from_vector(targets, {n, 1})};
}

// Fraction right, from the sign of the logit: s > 0 means p > 0.5, the positive digit.
double accuracy(nn::Linear& model, const BinaryData& data) {
  std::vector<int64_t> rows(static_cast<size_t>(data.size()));
  std::iota(rows.begin(), rows.end(), 0);
  int64_t correct = 0;
  for (int64_t begin = 0; begin < data.size(); begin += 1024) {
    const int64_t end = std::min<int64_t>(begin + 1024, data.size());
    auto [x, t] = gather(data, rows, begin, end);
    const std::vector<float> logits = model.forward(x, nn::Mode::Eval).to_vector<float>();
    for (int64_t i = 0; i < end - begin; ++i) correct += (logits[i] > 0.f) == (data.targets[begin + i] > 0.5f);
  }
  return static_cast<double>(correct) / data.size();
}

// The weights as a 28x28 picture: '#' and '+' push towards `positive`, '=' and '-'
// towards `negative`, blank is near zero (relative to the largest |w|).
void print_weights(nn::Linear& model, int negative, int positive) {
  const std::vector<float> w = model.weight().value.to_vector<float>();
  float largest = 0.f;
  for (float v : w) largest = std::max(largest, std::fabs(v));
  std::printf("\nthe weights as an image ('#','+' speak for a %d; '=','-' for a %d):\n", positive, negative);
  for (int row = 0; row < 28; ++row) {
    std::string line = "  ";
    for (int col = 0; col < 28; ++col) {
      const float v = largest > 0.f ? w[row * 28 + col] / largest : 0.f;
      const char c = v > 0.4f ? '#' : v > 0.15f ? '+' : v < -0.4f ? '=' : v < -0.15f ? '-' : ' ';
      line += c;
      line += c;
    }
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  using examples::number_in;
  const char* program = "logistic_regression";
  CLI::App app{"Logistic regression (sigmoid + binary cross-entropy) on MNIST 4 vs 9, with convnet"};
  std::string data_dir = data::default_mnist_dir();
  int epochs = 10, batch_size = 64, negative = 4, positive = 9;
  float lr = 0.2f;
  uint64_t seed = 1;
  app.add_option("--data", data_dir, "directory with the four MNIST IDX files")->check(examples::kNonEmptyPath);
  app.add_option("--epochs", epochs, "passes over the training images")->transform(examples::positive<int>());
  app.add_option("--batch-size", batch_size, "images per step")->transform(number_in<int>(1, 65536));
  app.add_option("--lr", lr, "SGD learning rate")->transform(examples::positive<float>());
  app.add_option("--seed", seed, "seed for initialisation and shuffling")->transform(number_in<uint64_t>(0));
  app.add_option("--negative", negative, "the digit with target 0")->transform(number_in<int>(0, 9));
  app.add_option("--positive", positive, "the digit with target 1")->transform(number_in<int>(0, 9));
  if (const auto exit_code = examples::parse(app, argc, argv)) return *exit_code;
  if (negative == positive)
    return examples::usage_error(program, "--negative and --positive are both " + std::to_string(positive) +
                                              "; pick two different digits");

  return examples::run_reporting_errors(program, [&] {
    const auto start = std::chrono::steady_clock::now();
    examples::check_data_folder(program, data_dir);
    const BinaryData train = select_digits(examples::load_mnist(data_dir, data::Split::Train), negative, positive);
    const BinaryData test = select_digits(examples::load_mnist(data_dir, data::Split::Test), negative, positive);
    CONVNET_CHECK(train.size() > 0 && test.size() > 0, program, ": ", data_dir, " holds ", train.size(),
                  " training and ", test.size(), " test images of ", negative, " and ", positive,
                  "; both splits need some");
    std::printf("data: %s — %d vs %d: %lld training and %lld test images\n", data_dir.c_str(), negative,
                positive, static_cast<long long>(train.size()), static_cast<long long>(test.size()));

    manual_seed(seed);
    nn::Linear model(static_cast<int>(kPixels), 1);  // s = w·x + b, one weight per pixel
    nn::BCEWithLogitsLoss loss;                      // sigmoid + binary cross-entropy
    nn::SGD opt(model.parameters(), nn::SGDOptions(lr));

    std::vector<int64_t> order(static_cast<size_t>(train.size()));
    std::iota(order.begin(), order.end(), 0);
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      // Seeded shuffle of the training rows each epoch.
      const std::vector<float> keys = Tensor::rand({train.size()}, Device::cpu(), next_seed()).to_vector<float>();
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });

      double loss_sum = 0;
      int64_t batches = 0;
      for (int64_t begin = 0; begin < train.size(); begin += batch_size) {
        const int64_t end = std::min<int64_t>(begin + batch_size, train.size());
        auto [x, t] = gather(train, order, begin, end);
        Tensor l = loss.forward(model.forward(x, nn::Mode::Train), t);
        model.backward(loss.backward());  // (sigmoid(s) - t) · x, averaged over the batch
        opt.step();
        opt.zero_grad();
        const float step_loss = l.item();  // on the CPU: a plain read, no sync
        ++batches;
        CONVNET_CHECK(std::isfinite(step_loss), program, ": the training loss is ", step_loss, " at epoch ",
                      epoch, ", step ", batches, " (learning rate ", lr, "); lower --lr");
        loss_sum += step_loss;
      }
      std::printf("epoch %2d  loss %.4f  train acc %.2f%%  test acc %.2f%%\n", epoch, loss_sum / batches,
                  100.0 * accuracy(model, train), 100.0 * accuracy(model, test));
    }

    print_weights(model, negative, positive);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("\ntest accuracy %.2f%% on %lld images of %d and %d, %.1f s\n", 100.0 * accuracy(model, test),
                static_cast<long long>(test.size()), negative, positive, seconds);
    return 0;
  });
}
