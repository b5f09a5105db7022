// Trainer and evaluate take any nn::Layer (here a two-headed model that no
// Sequential can express), and a Trainer without a schedule leaves the
// optimizer's learning rate to the user. On the quadrant problem (quadrants.hpp).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/io/safetensors.hpp"
#include "convnet/train/trainer.hpp"
#include "train/quadrants.hpp"

namespace convnet::train {
namespace {

using namespace test;  // quadrant_dataset, build_cnn, loader_options, kClasses, kSide

// The Trainer keeps a reference to its schedule, so a temporary one does not compile.
static_assert(!std::is_constructible_v<Trainer, nn::Layer&, nn::Loss&, nn::Optimizer&, CosineLr,
                                       TrainerOptions>);
static_assert(std::is_constructible_v<Trainer, nn::Layer&, nn::Loss&, nn::Optimizer&,
                                      const CosineLr&, TrainerOptions>);
static_assert(std::is_constructible_v<Trainer, nn::Layer&, nn::Loss&, nn::Optimizer&>);

// logits = deep(x) + wide(x): a small CNN head plus a linear head straight
// from the pixels, summed. Its backward sends the gradient down both heads and
// adds their input gradients, which a chain of layers cannot do.
class TwoHeads : public nn::Layer {
 public:
  TwoHeads()
      : conv_(register_module(
            "conv", std::make_unique<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1)))),
        relu_(register_module("relu", std::make_unique<nn::ReLU>())),
        pool_(register_module("pool", std::make_unique<nn::MaxPool2d>(2))),
        flatten_deep_(register_module("flatten_deep", std::make_unique<nn::Flatten>())),
        deep_(register_module("deep", std::make_unique<nn::Linear>(4 * 4 * 4, kClasses))),
        flatten_wide_(register_module("flatten_wide", std::make_unique<nn::Flatten>())),
        wide_(register_module("wide", std::make_unique<nn::Linear>(kSide * kSide, kClasses))) {}

  Tensor forward(const Tensor& input, nn::Mode mode) override {
    const Tensor features = pool_.forward(relu_.forward(conv_.forward(input, mode), mode), mode);
    const Tensor deep = deep_.forward(flatten_deep_.forward(features, mode), mode);
    const Tensor wide = wide_.forward(flatten_wide_.forward(input, mode), mode);
    return ops::add(backend_for(input.device()), deep, wide);
  }

  Tensor backward(const Tensor& grad_output) override {
    const Tensor grad_deep = conv_.backward(relu_.backward(
        pool_.backward(flatten_deep_.backward(deep_.backward(grad_output)))));
    const Tensor grad_wide = flatten_wide_.backward(wide_.backward(grad_output));
    return ops::add(backend_for(grad_output.device()), grad_deep, grad_wide);
  }

  std::string name() const override { return "TwoHeads()"; }

  Shape output_shape(const Shape& input_shape) const override {
    return wide_.output_shape(flatten_wide_.output_shape(input_shape));
  }

 private:
  nn::Conv2d& conv_;
  nn::ReLU& relu_;
  nn::MaxPool2d& pool_;
  nn::Flatten& flatten_deep_;
  nn::Linear& deep_;
  nn::Flatten& flatten_wide_;
  nn::Linear& wide_;
};

std::vector<std::vector<float>> parameter_values(nn::Layer& model) {
  std::vector<std::vector<float>> values;
  for (nn::Parameter* p : model.parameters()) values.push_back(p->value.to_vector<float>());
  return values;
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "convnet_any_model_" + std::to_string(getpid()) + "_" + name;
}

// The textbook loop the Trainer must equal: `rates[epoch]` for every step of that epoch.
void train_by_hand(nn::Layer& model, const data::Dataset& set, const std::vector<float>& rates) {
  data::DataLoader loader(set, loader_options(32, true));
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(model.parameters(), nn::SGDOptions(rates[0]).momentum(0.9f));
  for (size_t epoch = 0; epoch < rates.size(); ++epoch) {
    sgd.set_lr(rates[epoch]);
    loader.start_epoch(static_cast<int64_t>(epoch));
    data::Batch batch;
    while (loader.next(batch)) {
      loss.forward(model.forward(batch.images, nn::Mode::Train), batch.labels);
      model.backward(loss.backward());
      sgd.step();
      sgd.zero_grad();
    }
  }
}

TEST(TrainerAnyModelTest, TrainsAModelThatIsNotASequential) {
  const data::Dataset train_set = quadrant_dataset(256, 31), test_set = quadrant_dataset(100, 32);
  manual_seed(6);
  TwoHeads model;
  manual_seed(6);
  TwoHeads by_hand;
  ASSERT_EQ(parameter_values(model), parameter_values(by_hand));
  ASSERT_EQ(model.parameters().size(), 6u);  // weight and bias of conv, deep.fc and wide

  data::DataLoader train(train_set, loader_options(32, true));
  data::DataLoader test(test_set, loader_options(32, false));
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(model.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
  const ConstantLr schedule(0.05f);
  TrainerOptions options;
  options.epochs = 3;
  options.progress = false;
  options.best_checkpoint = temp_path("best.safetensors");
  Trainer trainer(model, loss, sgd, schedule, options);
  const std::vector<EpochMetrics> metrics = trainer.fit(train, &test);

  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_LT(metrics[2].train_loss, metrics[0].train_loss);
  EXPECT_GT(metrics[2].test_accuracy, 0.6);
  // Exactly the hand-written loop: the Trainer drove this model's own forward and backward.
  train_by_hand(by_hand, train_set, {0.05f, 0.05f, 0.05f});
  EXPECT_EQ(parameter_values(model), parameter_values(by_hand));

  // evaluate takes it too, and agrees with the Trainer's last evaluation.
  const EvalResult eval = evaluate(model, test, kClasses, Confusion::Compute);
  EXPECT_DOUBLE_EQ(eval.accuracy, metrics[2].test_accuracy);
  EXPECT_DOUBLE_EQ(eval.loss, metrics[2].test_loss);
  EXPECT_EQ(eval.samples, 100);

  // The best checkpoint holds its parameters under their own names.
  manual_seed(77);
  TwoHeads restored;
  const io::Metadata meta = io::load_safetensors(restored, options.best_checkpoint);
  size_t best = 0;
  for (size_t e = 1; e < 3; ++e)
    if (metrics[e].test_accuracy > metrics[best].test_accuracy) best = e;
  EXPECT_EQ(meta.at("epoch"), std::to_string(best + 1));
  EXPECT_DOUBLE_EQ(evaluate(restored, test, kClasses).accuracy, metrics[best].test_accuracy);
  std::remove(options.best_checkpoint.c_str());
}

TEST(TrainerAnyModelTest, WithoutAScheduleTheOptimizersRateStands) {
  const data::Dataset train_set = quadrant_dataset(96, 33);  // 32, 32, 32
  manual_seed(9);
  TwoHeads model;
  manual_seed(9);
  TwoHeads by_hand;

  data::DataLoader train(train_set, loader_options(32, true));
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(model.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
  TrainerOptions options;
  options.progress = false;
  Trainer trainer(model, loss, sgd, options);  // no schedule
  EXPECT_FLOAT_EQ(static_cast<float>(trainer.fit(train, nullptr)[0].lr), 0.05f);
  EXPECT_EQ(sgd.lr(), 0.05f);
  sgd.set_lr(0.02f);  // the user's own decay between fits is kept
  EXPECT_FLOAT_EQ(static_cast<float>(trainer.fit(train, nullptr)[0].lr), 0.02f);
  EXPECT_EQ(sgd.lr(), 0.02f);
  EXPECT_EQ(sgd.step_count(), 6);

  train_by_hand(by_hand, train_set, {0.05f, 0.02f});
  EXPECT_EQ(parameter_values(model), parameter_values(by_hand));

  // The options have defaults too: a Trainer from the model, the loss and the optimizer alone.
  nn::Sequential net;
  build_cnn(net);
  nn::Adam adam(net.parameters(), nn::AdamOptions(0.01f));
  Trainer plain(net, loss, adam);
  ::testing::internal::CaptureStderr();
  const std::vector<EpochMetrics> one = plain.fit(train, nullptr);
  ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(one.size(), 1u);  // TrainerOptions().epochs
  EXPECT_FLOAT_EQ(static_cast<float>(one[0].lr), 0.01f);
  EXPECT_EQ(adam.lr(), 0.01f);
}

TEST(TrainerAnyModelTest, WithoutAScheduleANonFiniteLossReportsTheOptimizersRate) {
  data::Dataset set = quadrant_dataset(32, 34);
  set.images.data<float>()[5 * kSide * kSide] = std::numeric_limits<float>::quiet_NaN();
  data::DataLoader loader(set, loader_options(8, /*shuffle=*/false));
  TwoHeads model;
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(model.parameters(), nn::SGDOptions(0.03f));
  TrainerOptions options;
  options.progress = false;
  Trainer trainer(model, loss, sgd, options);
  try {
    trainer.fit(loader, nullptr);
    FAIL() << "a NaN loss did not stop training";
  } catch (const NonFiniteLoss& e) {
    EXPECT_EQ(e.step, 1);  // sample 5 is in the first batch
    EXPECT_FLOAT_EQ(e.lr, 0.03f);
  }
}

}  // namespace
}  // namespace convnet::train
