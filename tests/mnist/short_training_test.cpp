// A short training run on real MNIST: 4,000 training images, two epochs of
// a small CNN, then 2,000 held-out test images must be classified above 90%.
// It proves that data loading, the layers, the loss and the optimizer work
// together on real data (the full run is examples/mnist_cnn).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/train/trainer.hpp"
#include "support/small_shapes.hpp"

namespace convnet {
namespace {

data::Dataset first_rows(const data::Dataset& full, int64_t count) {
  return {full.images.slice(0, count).clone(), full.labels.slice(0, count).clone()};
}

TEST(MnistShortTraining, SmallCnnExceeds90PercentOnHeldOutImages) {
  const std::string dir = std::string(CONVNET_SOURCE_DIR) + "/data/mnist";
  ASSERT_TRUE(std::ifstream(dir + "/train-labels-idx1-ubyte").good() ||
              std::ifstream(dir + "/train-labels-idx1-ubyte.gz").good())
      << "MNIST is missing from " << dir << ": run python3 scripts/fetch_mnist.py";
  const data::Dataset train_set = first_rows(data::load_mnist(dir, data::Split::Train), 4000);
  const data::Dataset test_set = first_rows(data::load_mnist(dir, data::Split::Test), 2000);

  data::DataLoaderOptions options;
  options.batch_size = 32;
  options.seed = 7;
  options.normalization = data::kMnistNormalization;
  data::DataLoader train_loader(train_set, options);
  options.shuffle = false;
  options.batch_size = 500;
  data::DataLoader test_loader(test_set, options);

  manual_seed(3);
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 8, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(8, 16, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Flatten>().add<nn::Linear>(16 * 7 * 7, 10);
  nn::CrossEntropyLoss loss;
  nn::SGD optimizer(net.parameters(), {0.01f, 0.9f});
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
// steps (128 and 4 under CONVNET_TEST_SMALL) from the same initial weights, batches through the DataLoader's pinned
// slots to cuda:0. Each step's arithmetic differs from the CPU's only in
// rounding, so the epoch's loss and the held-out loss agree closely, and the
// held-out loss falls below a guess's. Skips without a GPU; CI runs it on the emulated device.
TEST(MnistShortTraining, CudaEpochTracksTheCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  const std::string dir = std::string(CONVNET_SOURCE_DIR) + "/data/mnist";
  // CONVNET_TEST_SMALL (the emulated CI stage): 4 steps and 64 held-out images.
  const bool small = testing_support::small_test_shapes();
  const int64_t train_rows = small ? 128 : 512, test_rows = small ? 64 : 256;
  const data::Dataset train_set = first_rows(data::load_mnist(dir, data::Split::Train), train_rows);
  const data::Dataset test_set = first_rows(data::load_mnist(dir, data::Split::Test), test_rows);
  std::vector<train::EpochMetrics> runs;
  for (Device device : {Device::cpu(), Device::cuda(0)}) {
    SCOPED_TRACE(device.str());
    data::DataLoaderOptions options;
    options.batch_size = 32;
    options.seed = 7;
    options.normalization = data::kMnistNormalization;
    options.device = device;
    data::DataLoader train_loader(train_set, options);
    options.shuffle = false;
    options.batch_size = 128;
    data::DataLoader test_loader(test_set, options);
    manual_seed(3);
    nn::Sequential net;
    net.add<nn::Conv2d>(nn::Conv2dOptions(1, 4, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
        .add<nn::Conv2d>(nn::Conv2dOptions(4, 8, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
        .add<nn::Flatten>().add<nn::Linear>(8 * 7 * 7, 10);
    net.to(device);
    nn::CrossEntropyLoss loss;
    nn::SGD optimizer(net.parameters(), {0.05f, 0.9f});
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
