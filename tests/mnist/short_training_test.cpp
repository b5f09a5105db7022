// A short training run on real MNIST: 4,000 training images, two epochs of
// a small CNN, then 2,000 held-out test images must be classified above 90%.
// It proves that data loading, the layers, the loss and the optimizer work
// together on real data (the full run is examples/mnist_cnn).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <utility>

#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/train/trainer.hpp"
#include "support/small_shapes.hpp"

namespace convnet {
namespace {

data::Dataset first_rows(const data::Dataset& full, int64_t count) {
  return {full.images.slice(0, count).clone(), full.labels.slice(0, count).clone()};
}

const std::string kMnistDir = std::string(CONVNET_SOURCE_DIR) + "/data/mnist";

bool mnist_present() {
  return std::ifstream(kMnistDir + "/train-labels-idx1-ubyte").good() ||
         std::ifstream(kMnistDir + "/train-labels-idx1-ubyte.gz").good();
}

// Options of shuffled training batches of 32 and of ordered test batches,
// normalised, on `device`.
std::pair<data::DataLoaderOptions, data::DataLoaderOptions> loader_options(int64_t test_batch,
                                                                           Device device) {
  data::DataLoaderOptions train;
  train.batch_size = 32;
  train.seed = 7;
  train.normalization = data::kMnistNormalization;
  train.device = device;
  data::DataLoaderOptions test = train;
  test.shuffle = false;
  test.batch_size = test_batch;
  return {train, test};
}

// conv 5x5 (c1) - ReLU - pool - conv 5x5 (c2) - ReLU - pool - linear to 10 classes.
void add_small_cnn(nn::Sequential& net, int c1, int c2) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, c1, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(c1, c2, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Flatten>().add<nn::Linear>(c2 * 7 * 7, 10);
}

TEST(MnistShortTraining, SmallCnnExceeds90PercentOnHeldOutImages) {
  ASSERT_TRUE(mnist_present()) << "MNIST is missing from " << kMnistDir
                               << ": run python3 scripts/fetch_mnist.py";
  const data::Dataset train_set = first_rows(data::load_mnist(kMnistDir, data::Split::Train), 4000);
  const data::Dataset test_set = first_rows(data::load_mnist(kMnistDir, data::Split::Test), 2000);
  const auto [train_options, test_options] = loader_options(500, Device::cpu());
  data::DataLoader train_loader(train_set, train_options);
  data::DataLoader test_loader(test_set, test_options);

  manual_seed(3);
  nn::Sequential net;
  add_small_cnn(net, 8, 16);
  nn::CrossEntropyLoss loss;
  nn::SGD optimizer(net.parameters(), nn::SGDOptions(0.01f).momentum(0.9f));
  train::ConstantLr schedule(0.01f);
  train::TrainerOptions trainer_options;
  trainer_options.epochs = 2;
  trainer_options.progress = false;
  train::Trainer trainer(net, loss, optimizer, schedule, trainer_options);
  const auto metrics = trainer.fit(train_loader, &test_loader);

  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_LT(metrics[1].train_loss, metrics[0].train_loss);
  const train::EvalResult held_out = train::evaluate(net, test_loader);
  EXPECT_EQ(held_out.samples, 2000);
  EXPECT_GT(held_out.accuracy, 0.90) << "held-out accuracy " << held_out.accuracy;
}

// The same training on the CUDA backend: 512 real MNIST images, one epoch of 16
// steps (128 and 4 under CONVNET_TEST_SMALL) from the same initial weights,
// batches through the DataLoader's pinned slots to cuda:0. Each step's
// arithmetic differs from the CPU's only in rounding, so the epoch's loss and
// the held-out loss agree closely, and the held-out loss falls below a guess's.
// Skips without a GPU; CI runs it on the emulated device.
TEST(MnistShortTraining, CudaEpochTracksTheCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  ASSERT_TRUE(mnist_present()) << "MNIST is missing from " << kMnistDir
                               << ": run python3 scripts/fetch_mnist.py";
  // CONVNET_TEST_SMALL (the emulated CI stage): 4 steps and 64 held-out images.
  const bool small = testing_support::small_test_shapes();
  const int64_t train_rows = small ? 128 : 512, test_rows = small ? 64 : 256;
  const data::Dataset train_set = first_rows(data::load_mnist(kMnistDir, data::Split::Train), train_rows);
  const data::Dataset test_set = first_rows(data::load_mnist(kMnistDir, data::Split::Test), test_rows);
  std::vector<train::EpochMetrics> runs;
  for (Device device : {Device::cpu(), Device::cuda(0)}) {
    SCOPED_TRACE(device.str());
    const auto [train_options, test_options] = loader_options(128, device);
    data::DataLoader train_loader(train_set, train_options);
    data::DataLoader test_loader(test_set, test_options);
    manual_seed(3);
    nn::Sequential net;
    add_small_cnn(net, 4, 8);
    net.to(device);
    nn::CrossEntropyLoss loss;
    nn::SGD optimizer(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
    train::ConstantLr schedule(0.05f);
    train::TrainerOptions trainer_options;
    trainer_options.epochs = 1;
    trainer_options.progress = false;
    train::Trainer trainer(net, loss, optimizer, schedule, trainer_options);
    const auto metrics = trainer.fit(train_loader, &test_loader);
    ASSERT_EQ(metrics.size(), 1u);
    runs.push_back(metrics[0]);
  }
  EXPECT_NEAR(runs[1].train_loss, runs[0].train_loss, 1e-3 * runs[0].train_loss);
  EXPECT_NEAR(runs[1].test_loss, runs[0].test_loss, 1e-3 * runs[0].test_loss);
  EXPECT_NEAR(runs[1].test_accuracy, runs[0].test_accuracy, 2.0 / test_rows);
  // Below a uniform guess, log(10) = 2.303, after so few steps (2.25 at 4 steps).
  EXPECT_LT(runs[1].test_loss, std::log(10.0) - 0.02);
}

}  // namespace
}  // namespace convnet
