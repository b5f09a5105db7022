// Training that goes wrong says so: a NaN or infinite loss stops Trainer::fit
// with a NonFiniteLoss naming the epoch and the first bad step exactly, found
// when the trainer next reads the device (a progress update or the epoch's
// end: never a per-step sync); TrainerOptions::allow_nonfinite trains on and
// counts such steps. Also LossWatch and ProgressLine::abandon on their own.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/train/trainer.hpp"
#include "train/loss_watch.hpp"
#include "train/progress.hpp"
#include "train/quadrants.hpp"

namespace convnet::train {
namespace {

using namespace test;  // quadrant_dataset, build_cnn, loader_options

// 64 samples; sample 21 has a NaN pixel, so with batches of 8 in order the
// third batch (step 3) is the first whose loss is NaN; NaN then reaches every
// parameter (ReLU and max-pooling propagate it), so every later loss is NaN.
data::Dataset dataset_with_nan() {
  data::Dataset set = quadrant_dataset(64, 21);
  set.images.data<float>()[21 * 64 + 10] = std::numeric_limits<float>::quiet_NaN();
  return set;
}

struct TrainedModel {
  nn::Sequential net;
  nn::CrossEntropyLoss loss;
  std::unique_ptr<nn::SGD> sgd;
  TrainedModel() {
    manual_seed(5);
    build_cnn(net);
    sgd =
        std::make_unique<nn::SGD>(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
  }
};

TEST(NonFiniteLossTest, NanInTheDataStopsTrainingNamingTheStepAtTheNextProgressUpdate) {
  const data::Dataset set = dataset_with_nan();
  data::DataLoader loader(set, loader_options(8, /*shuffle=*/false));
  TrainedModel run;
  const ConstantLr schedule(0.05f);
  TrainerOptions options;
  options.epochs = 2;
  options.log_every = 2;  // the device is read after steps 2, 4, 6 and at the epoch's end
  Trainer trainer(run.net, run.loss, *run.sgd, schedule, options);
  ::testing::internal::CaptureStderr();
  try {
    trainer.fit(loader, nullptr);
    ::testing::internal::GetCapturedStderr();
    FAIL() << "a NaN loss did not stop training";
  } catch (const NonFiniteLoss& e) {
    const std::string progress = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(e.epoch, 1);
    EXPECT_EQ(e.batch, 3);
    EXPECT_EQ(e.batches, 8);
    EXPECT_EQ(e.step, 3);
    EXPECT_TRUE(std::isnan(e.loss));
    EXPECT_FLOAT_EQ(e.lr, 0.05f);
    const std::string message = e.what();
    EXPECT_NE(message.find("the loss is nan at epoch 1, step 3 of 8 (optimizer step 3"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("allow_nonfinite"), std::string::npos) << message;
    // Found at the update after step 4, not with a read after every step, and
    // before that update was drawn: one progress line (after step 2).
    EXPECT_EQ(run.sgd->step_count(), 4);
    EXPECT_EQ(progress.find("4/8"), std::string::npos) << progress;
    EXPECT_NE(progress.find("2/8"), std::string::npos) << progress;
  }
}

TEST(NonFiniteLossTest, WithoutProgressTheLossesAreCheckedAtTheEpochsEnd) {
  const data::Dataset set = dataset_with_nan();
  data::DataLoader loader(set, loader_options(8, false));
  TrainedModel run;
  const ConstantLr schedule(0.05f);
  TrainerOptions options;
  options.epochs = 2;
  options.progress = false;
  Trainer trainer(run.net, run.loss, *run.sgd, schedule, options);
  try {
    trainer.fit(loader, nullptr);
    FAIL() << "a NaN loss did not stop training";
  } catch (const NonFiniteLoss& e) {
    EXPECT_EQ(e.epoch, 1);
    EXPECT_EQ(e.batch, 3);
    EXPECT_EQ(run.sgd->step_count(), 8);  // the whole epoch ran before the one read
  }
}

TEST(NonFiniteLossTest, AllowNonfiniteTrainsOnAndCountsTheSteps) {
  const data::Dataset set = dataset_with_nan();
  data::DataLoader loader(set, loader_options(8, false));
  TrainedModel run;
  const ConstantLr schedule(0.05f);
  TrainerOptions options;
  options.epochs = 2;
  options.log_every = 3;
  options.allow_nonfinite = true;
  Trainer trainer(run.net, run.loss, *run.sgd, schedule, options);
  ::testing::internal::CaptureStderr();
  const std::vector<EpochMetrics> metrics = trainer.fit(loader, &loader);
  ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_EQ(metrics[0].nonfinite_steps, 6);  // steps 3..8
  EXPECT_EQ(metrics[1].nonfinite_steps, 8);
  EXPECT_TRUE(std::isnan(metrics[1].train_loss));
  EXPECT_EQ(run.sgd->step_count(), 16);
}

TEST(NonFiniteLossTest, FiniteTrainingCountsNothing) {
  const data::Dataset set = quadrant_dataset(64, 22);
  data::DataLoader loader(set, loader_options(8, true));
  TrainedModel run;
  const ConstantLr schedule(0.05f);
  TrainerOptions options;
  options.epochs = 2;
  options.progress = false;
  Trainer trainer(run.net, run.loss, *run.sgd, schedule, options);
  for (const EpochMetrics& m : trainer.fit(loader, nullptr)) {
    EXPECT_EQ(m.nonfinite_steps, 0);
    EXPECT_TRUE(std::isfinite(m.train_loss));
  }
}

// A learning rate of 5e28 from the second epoch on: the exact first step whose
// loss overflows comes from the same training written by hand.
TEST(NonFiniteLossTest, DivergenceInALaterEpochIsNamedExactly) {
  const data::Dataset set = quadrant_dataset(64, 23);
  const StepLr schedule(0.05f, 8, 1e30f);  // 8 steps an epoch
  int64_t expected_step = -1;              // 0-based over the run
  float expected_loss = 0;
  {
    data::DataLoader loader(set, loader_options(8, true));
    TrainedModel run;
    int64_t step = 0;
    for (int64_t epoch = 0; epoch < 3 && expected_step < 0; ++epoch) {
      loader.start_epoch(epoch);
      data::Batch batch;
      while (loader.next(batch) && expected_step < 0) {
        run.sgd->set_lr(schedule.lr(step));
        const float loss =
            run.loss.forward(run.net.forward(batch.images, nn::Mode::Train), batch.labels).item();
        if (!std::isfinite(loss)) {
          expected_step = step;
          expected_loss = loss;
        }
        run.net.backward(run.loss.backward());
        run.sgd->step();
        run.sgd->zero_grad();
        ++step;
      }
    }
  }
  ASSERT_GE(expected_step, 8) << "the set-up went non-finite in the first epoch";
  ASSERT_LT(expected_step, 24) << "the set-up did not diverge";

  data::DataLoader loader(set, loader_options(8, true));
  TrainedModel run;
  TrainerOptions options;
  options.epochs = 3;
  options.progress = false;
  Trainer trainer(run.net, run.loss, *run.sgd, schedule, options);
  try {
    trainer.fit(loader, nullptr);
    FAIL() << "divergence did not stop training";
  } catch (const NonFiniteLoss& e) {
    EXPECT_EQ(e.epoch, expected_step / 8 + 1);
    EXPECT_EQ(e.batch, expected_step % 8 + 1);
    EXPECT_EQ(e.step, expected_step + 1);
    EXPECT_FLOAT_EQ(e.lr, schedule.lr(expected_step));
    if (std::isnan(expected_loss))
      EXPECT_TRUE(std::isnan(e.loss));
    else
      EXPECT_EQ(e.loss, expected_loss);
  }
}

// An empty epoch is still the loader's error, not the watch's.
TEST(NonFiniteLossTest, ALoaderWithoutBatchesIsReportedAsSuch) {
  const data::Dataset set = quadrant_dataset(16, 24);
  data::DataLoaderOptions no_batches = loader_options(32, false);
  no_batches.drop_last = true;  // 16 samples, batches of 32: none
  data::DataLoader loader(set, no_batches);
  TrainedModel run;
  const ConstantLr schedule(0.05f);
  TrainerOptions options;
  options.progress = false;
  Trainer trainer(run.net, run.loss, *run.sgd, schedule, options);
  try {
    trainer.fit(loader, nullptr);
    FAIL() << "an empty loader trained";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the training loader yielded no batches"), std::string::npos)
        << e.what();
  }
}

TEST(LossWatchTest, FindsTheFirstNonFiniteLossAmongTheStepsSinceTheLastCheck) {
  detail::LossWatch watch;
  const auto scalar = [](float v) { return Tensor::from_vector(std::vector<float>{v}, {1}); };
  const float inf = std::numeric_limits<float>::infinity(),
              nan = std::numeric_limits<float>::quiet_NaN();
  watch.start_epoch(6);
  EXPECT_EQ(watch.check().step, -1);  // nothing recorded yet
  watch.record(scalar(1.f));
  watch.record(scalar(2.f));
  EXPECT_EQ(watch.check().step, -1);
  watch.record(scalar(3.f));
  watch.record(scalar(inf));
  watch.record(scalar(nan));
  const detail::LossWatch::Finding found = watch.check();
  EXPECT_EQ(found.step, 3);
  EXPECT_EQ(found.loss, inf);
  EXPECT_EQ(watch.nonfinite_count(), 2);
  EXPECT_EQ(watch.check().step, -1);  // already reported
  watch.record(scalar(-inf));
  EXPECT_EQ(watch.check().step, 5);
  EXPECT_EQ(watch.nonfinite_count(), 3);
  EXPECT_THROW(watch.record(scalar(1.f)), Error);  // more steps than announced

  watch.start_epoch(2);  // counts start again; the buffer is reused
  EXPECT_EQ(watch.nonfinite_count(), 0);
  watch.record(scalar(0.5f));
  EXPECT_EQ(watch.check().step, -1);
  EXPECT_THROW(watch.record(Tensor::zeros({2})), Error);  // not one element
  EXPECT_THROW(watch.start_epoch(-1), Error);
}

TEST(ProgressLineTest, AbandonEndsALineDrawnInPlace) {
  detail::ProgressState state;
  state.batch = 1;
  state.batches = 4;
  std::ostringstream terminal;
  detail::ProgressLine drawn(terminal, /*terminal=*/true);
  drawn.abandon();
  EXPECT_EQ(terminal.str(), "");  // nothing on screen: nothing to end
  drawn.update(state);
  drawn.abandon();
  EXPECT_EQ(terminal.str(), "\r" + detail::format_progress(state) + "\n");
  drawn.abandon();  // once
  EXPECT_EQ(terminal.str(), "\r" + detail::format_progress(state) + "\n");

  std::ostringstream log;
  detail::ProgressLine plain(log, /*terminal=*/false);
  plain.update(state);
  plain.abandon();  // plain lines already end with a newline
  EXPECT_EQ(log.str(), detail::format_progress(state) + "\n");
}

}  // namespace
}  // namespace convnet::train
