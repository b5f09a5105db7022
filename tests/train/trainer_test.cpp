// Trainer::fit, evaluate and the progress line on a tiny synthetic problem
// (8x8 images, 4 classes: which quadrant holds a bright blob; quadrants.hpp) on the CPU.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/io/safetensors.hpp"
#include "convnet/train/trainer.hpp"
#include "train/progress.hpp"
#include "train/quadrants.hpp"

namespace convnet::train {
namespace {

using namespace test;  // quadrant_dataset, build_cnn, loader_options, kClasses

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "convnet_trainer_" + std::to_string(getpid()) + "_" + name;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.push_back("");
  return parts;
}

std::vector<std::vector<float>> parameter_values(nn::Sequential& net) {
  std::vector<std::vector<float>> values;
  for (nn::Parameter* p : net.parameters()) values.push_back(p->value.to_vector<float>());
  return values;
}

TEST(TrainerTest, FitLearnsAndWritesMetricsAndTheBestCheckpoint) {
  manual_seed(3);
  const data::Dataset train_set = quadrant_dataset(256, 11), test_set = quadrant_dataset(100, 12);
  data::DataLoader train(train_set, loader_options(32, true));
  data::DataLoader test(test_set, loader_options(32, false));
  nn::Sequential net;
  build_cnn(net);
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
  const CosineLr schedule(0.05f, 3 * 8, 0.005f);  // 8 batches an epoch

  TrainerOptions options;
  options.epochs = 3;
  options.metrics_csv = temp_path("metrics.csv");
  options.best_checkpoint = temp_path("best.safetensors");
  options.log_every = 2;
  Trainer trainer(net, loss, sgd, schedule, options);
  std::vector<EpochMetrics> seen;
  std::vector<std::vector<std::vector<float>>> snapshots;  // parameters after each epoch
  trainer.on_epoch_end = [&](const EpochMetrics& m) {
    seen.push_back(m);
    snapshots.push_back(parameter_values(net));
  };
  ::testing::internal::CaptureStderr();  // not a terminal: plain lines
  const std::vector<EpochMetrics> metrics = trainer.fit(train, &test);
  const std::string progress = ::testing::internal::GetCapturedStderr();

  ASSERT_EQ(metrics.size(), 3u);
  ASSERT_EQ(seen.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    const EpochMetrics& m = metrics[e];
    EXPECT_EQ(m.epoch, static_cast<int64_t>(e + 1));
    EXPECT_EQ(seen[e].train_loss, m.train_loss);
    EXPECT_GT(m.seconds, 0.0);
    EXPECT_GT(m.images_per_second, 0.0);
    EXPECT_NEAR(m.images_per_second, 256 / m.seconds, 1e-6 * m.images_per_second);
    EXPECT_GE(m.test_accuracy, 0.0);
    EXPECT_LE(m.test_accuracy, 1.0);
    EXPECT_GT(m.test_loss, 0.0);
    // The rate of the epoch's last step: steps 7, 15, 23.
    EXPECT_FLOAT_EQ(static_cast<float>(m.lr), schedule.lr(static_cast<int64_t>(8 * e + 7)));
  }
  EXPECT_FLOAT_EQ(sgd.lr(), schedule.lr(23));
  EXPECT_LT(metrics[2].train_loss, metrics[0].train_loss);
  EXPECT_GT(metrics[2].train_accuracy, metrics[0].train_accuracy);
  EXPECT_GT(metrics[2].test_accuracy, 0.6);

  // Progress: updates after batches 2, 4, 6, then the final 8/8 line, each epoch.
  const std::vector<std::string> lines = split(progress, '\n');
  ASSERT_EQ(lines.size(), 13u) << progress;  // 12 lines and the empty tail
  EXPECT_EQ(lines[0].rfind("epoch 1/3 [#####...............] 2/8 loss ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[3].rfind("epoch 1/3 [####################] 8/8 loss ", 0), 0u) << lines[3];
  EXPECT_NE(lines[11].find(" img/s"), std::string::npos) << lines[11];

  // CSV: header and one row per epoch matching the metrics.
  std::ifstream csv_file(options.metrics_csv);
  std::stringstream csv;
  csv << csv_file.rdbuf();
  const std::vector<std::string> rows = split(csv.str(), '\n');
  ASSERT_EQ(rows.size(), 5u) << csv.str();
  EXPECT_EQ(rows[0],
            "epoch,train_loss,train_accuracy,test_loss,test_accuracy,lr,seconds,images_per_second");
  for (size_t e = 0; e < 3; ++e) {
    const std::vector<std::string> cells = split(rows[e + 1], ',');
    ASSERT_EQ(cells.size(), 8u) << rows[e + 1];
    EXPECT_EQ(std::stoll(cells[0]), metrics[e].epoch);
    EXPECT_NEAR(std::stod(cells[1]), metrics[e].train_loss, 1e-6);
    EXPECT_NEAR(std::stod(cells[2]), metrics[e].train_accuracy, 1e-6);
    EXPECT_NEAR(std::stod(cells[3]), metrics[e].test_loss, 1e-6);
    EXPECT_NEAR(std::stod(cells[4]), metrics[e].test_accuracy, 1e-6);
    EXPECT_NEAR(std::stod(cells[5]), metrics[e].lr, 1e-5 * metrics[e].lr);
    EXPECT_GT(std::stod(cells[7]), 0.0);
  }
  EXPECT_EQ(rows[4], "");

  // The checkpoint holds the parameters of the first epoch with the best test accuracy.
  size_t best = 0;
  for (size_t e = 1; e < 3; ++e)
    if (metrics[e].test_accuracy > metrics[best].test_accuracy) best = e;
  manual_seed(99);
  nn::Sequential restored;
  build_cnn(restored);
  const io::Metadata meta = io::load_safetensors(restored, options.best_checkpoint);
  EXPECT_EQ(meta.at("epoch"), std::to_string(best + 1));
  EXPECT_NEAR(std::stod(meta.at("test_accuracy")), metrics[best].test_accuracy, 1e-6);
  EXPECT_EQ(parameter_values(restored), snapshots[best]);
  const EvalResult again = evaluate(restored, test);
  EXPECT_DOUBLE_EQ(again.accuracy, metrics[best].test_accuracy);

  std::remove(options.metrics_csv.c_str());
  std::remove(options.best_checkpoint.c_str());
}

// fit() is the textbook loop and nothing more: the same seeds give bit-identical parameters.
TEST(TrainerTest, FitMatchesAHandWrittenLoop) {
  const data::Dataset train_set = quadrant_dataset(72, 16);  // 32, 32, 8
  const OneCycleLr schedule(0.05f, 6);
  manual_seed(8);
  nn::Sequential by_trainer, by_hand;
  build_cnn(by_trainer);
  manual_seed(8);
  build_cnn(by_hand);

  data::DataLoader loader(train_set, loader_options(32, true));
  nn::CrossEntropyLoss loss;
  nn::Adam adam(by_trainer.parameters());
  TrainerOptions options;
  options.epochs = 2;
  options.progress = false;
  Trainer(by_trainer, loss, adam, schedule, options).fit(loader, nullptr);

  data::DataLoader hand_loader(train_set, loader_options(32, true));
  nn::CrossEntropyLoss hand_loss;
  nn::Adam hand_adam(by_hand.parameters());
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    hand_loader.start_epoch(epoch);
    data::Batch batch;
    while (hand_loader.next(batch)) {
      hand_adam.set_lr(schedule.lr(step++));
      hand_loss.forward(by_hand.forward(batch.images, nn::Mode::Train), batch.labels);
      by_hand.backward(hand_loss.backward());
      hand_adam.step();
      hand_adam.zero_grad();
    }
  }
  EXPECT_EQ(step, 6);
  EXPECT_EQ(parameter_values(by_trainer), parameter_values(by_hand));
}

TEST(TrainerTest, BestCheckpointIsNotOverwrittenByAWorseEpoch) {
  manual_seed(3);
  const data::Dataset train_set = quadrant_dataset(256, 11), test_set = quadrant_dataset(100, 12);
  data::DataLoader train(train_set, loader_options(32, true));
  data::DataLoader test(test_set, loader_options(32, false));
  nn::Sequential net;
  build_cnn(net);
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
  const StepLr schedule(0.05f, 16, 400.f);  // the third epoch runs at lr 20 and falls apart
  TrainerOptions options;
  options.epochs = 3;
  options.progress = false;
  options.best_checkpoint = temp_path("best2.safetensors");
  Trainer trainer(net, loss, sgd, schedule, options);
  std::vector<std::vector<std::vector<float>>> snapshots;
  trainer.on_epoch_end = [&](const EpochMetrics&) { snapshots.push_back(parameter_values(net)); };
  const std::vector<EpochMetrics> metrics = trainer.fit(train, &test);
  ASSERT_LT(metrics[2].test_accuracy, metrics[1].test_accuracy) << "the set-up failed to diverge";
  ASSERT_GT(metrics[1].test_accuracy, metrics[0].test_accuracy);
  nn::Sequential restored;
  build_cnn(restored);
  EXPECT_EQ(io::load_safetensors(restored, options.best_checkpoint).at("epoch"), "2");
  EXPECT_EQ(parameter_values(restored), snapshots[1]);
  std::remove(options.best_checkpoint.c_str());
}

TEST(TrainerTest, StepCountCarriesAcrossFits) {
  manual_seed(4);
  const data::Dataset train_set = quadrant_dataset(40, 13);
  data::DataLoader train(train_set, loader_options(16, true));  // 16, 16, 8: 3 batches
  nn::Sequential net;
  build_cnn(net);
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.1f));
  const StepLr schedule(0.1f, 4, 0.5f);
  TrainerOptions options;
  options.progress = false;
  Trainer trainer(net, loss, sgd, schedule, options);
  EXPECT_FLOAT_EQ(static_cast<float>(trainer.fit(train, nullptr)[0].lr), 0.1f);    // step 2
  EXPECT_FLOAT_EQ(static_cast<float>(trainer.fit(train, nullptr)[0].lr), 0.05f);   // step 5
  EXPECT_FLOAT_EQ(static_cast<float>(trainer.fit(train, nullptr)[0].lr), 0.025f);  // step 8
  EXPECT_EQ(sgd.step_count(), 9);
}

TEST(TrainerTest, FileErrorsNameThePath) {
  const data::Dataset train_set = quadrant_dataset(16, 14);
  data::DataLoader train(train_set, loader_options(8, false));
  nn::Sequential net;
  build_cnn(net);
  nn::CrossEntropyLoss loss;
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.01f));
  const ConstantLr schedule(0.01f);
  TrainerOptions options;
  options.progress = false;
  options.metrics_csv = "/nonexistent-convnet-dir/metrics.csv";
  Trainer trainer(net, loss, sgd, schedule, options);
  try {
    trainer.fit(train, nullptr);
    ADD_FAILURE() << "an unwritable metrics path did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-convnet-dir/metrics.csv"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(sgd.step_count(), 0);  // failed before training

  TrainerOptions needs_test;
  needs_test.best_checkpoint = temp_path("never.safetensors");
  Trainer without_test(net, loss, sgd, schedule, needs_test);
  EXPECT_THROW(without_test.fit(train, nullptr), Error);

  TrainerOptions bad;
  bad.log_every = 0;
  EXPECT_THROW(Trainer(net, loss, sgd, schedule, bad), Error);
}

TEST(EvaluateTest, ConfusionMatrixLossAndAccuracyAreExact) {
  manual_seed(5);
  const data::Dataset set = quadrant_dataset(100, 15);
  data::DataLoader loader(set, loader_options(32, true));  // 32, 32, 32, 4: a ragged last batch
  nn::Sequential net;
  build_cnn(net);

  const EvalResult result = evaluate(net, loader, kClasses, Confusion::Compute);
  EXPECT_EQ(result.samples, 100);
  EXPECT_EQ(result.classes, kClasses);
  ASSERT_EQ(result.confusion.size(), static_cast<size_t>(kClasses * kClasses));
  EXPECT_EQ(std::accumulate(result.confusion.begin(), result.confusion.end(), int64_t{0}), 100);
  int64_t diagonal = 0;
  for (int c = 0; c < kClasses; ++c) {
    diagonal += result.confusion[c * kClasses + c];
    int64_t row = 0;  // the labels cycle 0..3, so each true class has 25 samples
    for (int p = 0; p < kClasses; ++p) row += result.confusion[c * kClasses + p];
    EXPECT_EQ(row, 25);
  }
  EXPECT_DOUBLE_EQ(result.accuracy, static_cast<double>(diagonal) / 100);

  // The whole set in one pass: the batch means weighted by batch size must match.
  const Tensor logits = net.forward(set.images, nn::Mode::Eval);
  Tensor probs;
  const float full = ops::softmax_cross_entropy_forward(get_backend(Backend::Kind::Cpu), logits,
                                                        set.labels, probs)
                         .item();
  EXPECT_NEAR(result.loss, full, 1e-5 * full);
  Tensor correct;
  ops::count_correct(get_backend(Backend::Kind::Cpu), logits, set.labels, correct, false);
  EXPECT_EQ(correct.to_vector<int32_t>()[0], diagonal);

  // Without the matrix: same numbers, no matrix.
  const EvalResult plain = evaluate(net, loader, kClasses);
  EXPECT_TRUE(plain.confusion.empty());
  EXPECT_DOUBLE_EQ(plain.accuracy, result.accuracy);
  EXPECT_DOUBLE_EQ(plain.loss, result.loss);
  EXPECT_THROW(format_confusion(plain), Error);
  EXPECT_THROW(evaluate(net, loader, 3, Confusion::Compute), Error);  // the model has 4 outputs
}

TEST(EvaluateTest, FormatConfusion) {
  EvalResult result;
  result.classes = 3;
  result.confusion = {975, 0, 5, 1, 1130, 4, 0, 2, 1000};
  EXPECT_EQ(format_confusion(result),
            "      0    1    2\n"
            " 0  975    0    5\n"
            " 1    1 1130    4\n"
            " 2    0    2 1000\n");
  result.confusion[0] = 123456;  // wider cells for wider counts
  EXPECT_EQ(split(format_confusion(result), '\n')[1], " 0 123456      0      5");
}

TEST(TrainerTest, ProgressLine) {
  detail::ProgressState state;
  state.epoch = 2;
  state.epochs = 5;
  state.batch = 120;
  state.batches = 469;
  state.loss = 0.12341;
  state.accuracy = 0.9612;
  state.images_per_second = 5231.4;
  EXPECT_EQ(detail::format_progress(state, 10),
            "epoch 2/5 [##........] 120/469 loss 0.1234 acc 96.1% 5231 img/s");

  // A terminal: redrawn in place, shorter lines blank what the longer one left.
  std::ostringstream terminal;
  detail::ProgressLine line(terminal, /*terminal=*/true);
  line.update(state);
  state.images_per_second = 5.0;  // three characters shorter
  state.batch = 469;
  line.finish(state);
  const std::string first =
      "\r" + detail::format_progress({2, 5, 120, 469, 0.12341, 0.9612, 5231.4});
  EXPECT_EQ(terminal.str(), first + "\r" + detail::format_progress(state) + "   \n");

  std::ostringstream log;
  detail::ProgressLine plain(log, /*terminal=*/false);
  plain.update(state);
  plain.finish(state);
  const std::string plain_line = detail::format_progress(state) + "\n";
  EXPECT_EQ(log.str(), plain_line + plain_line);
}

}  // namespace
}  // namespace convnet::train
