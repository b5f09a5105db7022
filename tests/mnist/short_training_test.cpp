// A short CPU training run on real MNIST: 4,000 training images, two epochs of
// a small CNN, then 2,000 held-out test images must be classified above 90%.
// It proves that data loading, the layers, the loss and the optimizer work
// together on real data (the full run is examples/mnist_cnn).
#include <gtest/gtest.h>

#include <fstream>

#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/train/trainer.hpp"

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

}  // namespace
}  // namespace convnet
