// LinearLr, LambdaLr and SequentialLr (warm-up then cosine, as a chain) against
// PyTorch's LinearLR, LambdaLR and SequentialLR, and their argument checks.
//
// Expected values come from torch/optim/lr_scheduler.py (2.x) re-implemented in
// plain Python (torch is not installed here) on a one-group optimizer with
// lr 0.1, stepping the schedulers as PyTorch does: LinearLR's recursive get_lr
// lr * (1 + (end - start) / (total * start + (epoch - 1) * (end - start))),
// CosineAnnealingLR's recursive get_lr, LambdaLR's base_lr * f(epoch), and
// SequentialLR.__init__ (reset to initial_lr, undo the later schedulers' first
// step) and .step (bisect_right over the milestones; step(0) on the scheduler
// whose milestone it is). Python's printed doubles are pasted below.
#include <gtest/gtest.h>

#include "support/values.hpp"

#include <cmath>
#include <functional>
#include <memory>
#include <string>

#include "convnet/error.hpp"
#include "convnet/train/schedule.hpp"

namespace convnet::train {
namespace {

using test::error_message;

void expect_lr(const LrSchedule& schedule, int64_t step, double expected) {
  EXPECT_NEAR(schedule.lr(step), expected, 1e-6 * std::fabs(expected) + 1e-12)
      << schedule.name() << " at step " << step;
}

TEST(ChainedScheduleTest, LinearLrMatchesPyTorch) {
  // LinearLR(start_factor=0.25, end_factor=1.0, total_iters=4)
  const LinearLr warmup(0.1f, 0.25f, 1.f, 4);
  const double expected[] = {0.025, 0.043750000000000004, 0.06250000000000001,
                             0.08125000000000002, 0.10000000000000002, 0.10000000000000002};
  for (int64_t step = 0; step < 6; ++step) expect_lr(warmup, step, expected[step]);
  expect_lr(warmup, 1000, 0.1);  // held at end_factor
  EXPECT_EQ(warmup.name(), "LinearLR(lr=0.1, start_factor=0.25, end_factor=1, total_iters=4)");

  // Decaying: LinearLR(start_factor=1.0, end_factor=0.1, total_iters=3)
  const LinearLr decay(0.1f, 1.f, 0.1f, 3);
  expect_lr(decay, 0, 0.1);
  expect_lr(decay, 1, 0.06999999999999999);
  expect_lr(decay, 2, 0.039999999999999994);
  expect_lr(decay, 3, 0.009999999999999998);
  expect_lr(decay, 4, 0.009999999999999998);

  // PyTorch's defaults: start_factor 1/3, end_factor 1, total_iters 5.
  const LinearLr defaults(0.1f);
  const double by_default[] = {0.03333333333333333, 0.04666666666666667, 0.060000000000000005,
                               0.07333333333333335, 0.08666666666666668, 0.1, 0.1};
  for (int64_t step = 0; step < 7; ++step) expect_lr(defaults, step, by_default[step]);
}

TEST(ChainedScheduleTest, LambdaLrMatchesPyTorch) {
  // LambdaLR(lr_lambda=lambda epoch: 0.95 ** epoch)
  const LambdaLr schedule(0.1f, [](int64_t step) { return std::pow(0.95, step); });
  const double expected[] = {0.1, 0.095, 0.09025, 0.0857375, 0.081450625};
  for (int64_t step = 0; step < 5; ++step) expect_lr(schedule, step, expected[step]);
  EXPECT_EQ(schedule.name(), "LambdaLR(lr=0.1)");

  // The function sees each step it is asked for, in any order.
  const LambdaLr steps(0.5f, [](int64_t step) { return 1.0 / static_cast<double>(step + 1); });
  expect_lr(steps, 9, 0.05);
  expect_lr(steps, 0, 0.5);

  const LambdaLr negative(0.1f, [](int64_t step) { return step < 3 ? 1.0 : -1.0; });
  EXPECT_NO_THROW(negative.lr(2));
  const std::string message = error_message([&] { negative.lr(3); });
  EXPECT_NE(message.find("LambdaLr: the factor at step 3 is -1"), std::string::npos) << message;
  const LambdaLr not_finite(0.1f, [](int64_t) { return std::nan(""); });
  EXPECT_THROW(not_finite.lr(0), Error);
  EXPECT_THROW(LambdaLr(0.1f, nullptr), Error);
  EXPECT_THROW(LambdaLr(-0.1f, [](int64_t) { return 1.0; }), Error);
}

TEST(ChainedScheduleTest, WarmupThenCosineMatchesPyTorchsSequentialLr) {
  // SequentialLR([LinearLR(start_factor=0.01, total_iters=10),
  //               CosineAnnealingLR(T_max=90, eta_min=0.001)], milestones=[10])
  const SequentialLr schedule({std::make_shared<LinearLr>(0.1f, 0.01f, 1.f, 10),
                               std::make_shared<CosineLr>(0.1f, 90, 0.001f)},
                              {10});
  expect_lr(schedule, 0, 0.001);
  expect_lr(schedule, 1, 0.010899999999999998);
  expect_lr(schedule, 5, 0.05049999999999999);
  expect_lr(schedule, 9, 0.09009999999999996);
  expect_lr(schedule, 10, 0.1);  // the milestone: the cosine's own step 0
  expect_lr(schedule, 11, 0.09996984593744525);
  expect_lr(schedule, 40, 0.07525000000000004);
  expect_lr(schedule, 55, 0.050500000000000024);
  expect_lr(schedule, 99, 0.00103015406255476);
  expect_lr(schedule, 100, 0.001);
  EXPECT_EQ(schedule.name(),
            "SequentialLR(LinearLR(lr=0.1, start_factor=0.01, end_factor=1, total_iters=10), "
            "CosineAnnealingLR(lr=0.1, total_steps=90, min_lr=0.001), milestones=[10])");
}

TEST(ChainedScheduleTest, ThreeSchedulesEachCountFromTheirMilestone) {
  // SequentialLR([LinearLR(start_factor=0.5, total_iters=2), LambdaLR(lambda e: 1.0),
  //               CosineAnnealingLR(T_max=4)], milestones=[2, 5])
  const std::shared_ptr<const LrSchedule> cosine = std::make_shared<CosineLr>(0.1f, 4);
  const SequentialLr schedule({std::make_shared<LinearLr>(0.1f, 0.5f, 1.f, 2),
                               std::make_shared<LambdaLr>(0.1f, [](int64_t) { return 1.0; }),
                               cosine},
                              {2, 5});
  const double expected[] = {0.05, 0.07500000000000001, 0.1, 0.1, 0.1,
                             0.1, 0.08535533905932738, 0.05, 0.014644660940672627, 0.0};
  for (int64_t step = 0; step < 10; ++step) expect_lr(schedule, step, expected[step]);
  for (int64_t step = 5; step < 12; ++step)
    EXPECT_EQ(schedule.lr(step), cosine->lr(step - 5)) << step;

  // A chain is a schedule too, so chains nest; the copy shares its schedules.
  const SequentialLr copy = schedule;
  const SequentialLr nested({std::make_shared<ConstantLr>(0.2f),
                             std::make_shared<SequentialLr>(copy)},
                            {3});
  expect_lr(nested, 2, 0.2);
  for (int64_t step = 3; step < 13; ++step)
    EXPECT_EQ(nested.lr(step), schedule.lr(step - 3)) << step;
}

TEST(ChainedScheduleTest, TheMilestoneStepBelongsToTheNextSchedule) {
  // SequentialLR([LambdaLR(lambda e: 1.0), LinearLR(start_factor=0.5, total_iters=2)],
  // milestones=[3]): the rate drops at step 3 itself (bisect_right), not at step 4.
  const SequentialLr schedule({std::make_shared<LambdaLr>(0.1f, [](int64_t) { return 1.0; }),
                               std::make_shared<LinearLr>(0.1f, 0.5f, 1.f, 2)},
                              {3});
  const double expected[] = {0.1, 0.1, 0.1, 0.05, 0.07500000000000001, 0.1, 0.1};
  for (int64_t step = 0; step < 7; ++step) expect_lr(schedule, step, expected[step]);
}

TEST(ChainedScheduleTest, SequentialLrRejectsBadChains) {
  const auto constant = std::make_shared<ConstantLr>(0.1f);
  const auto cosine = std::make_shared<CosineLr>(0.1f, 10);
  std::string message = error_message([&] { SequentialLr({constant, cosine}, {}); });
  EXPECT_NE(message.find("2 schedules need 1 milestones, got 0"), std::string::npos) << message;
  EXPECT_THROW(SequentialLr({constant}, {5}), Error);
  EXPECT_THROW(SequentialLr({}, {}), Error);
  EXPECT_THROW(SequentialLr({constant, nullptr}, {5}), Error);
  EXPECT_THROW(SequentialLr({constant, cosine}, {0}), Error);
  message = error_message([&] { SequentialLr({constant, cosine, constant}, {5, 5}); });
  EXPECT_NE(message.find("increasing, got 5 after 5"), std::string::npos) << message;
  EXPECT_NO_THROW(SequentialLr({constant}, {}));  // one schedule, no milestone
  EXPECT_THROW(SequentialLr({constant, cosine}, {5}).lr(-1), Error);

  // LinearLR's bounds are PyTorch's.
  EXPECT_THROW(LinearLr(0.1f, 0.f), Error);
  EXPECT_THROW(LinearLr(0.1f, 1.5f), Error);
  EXPECT_THROW(LinearLr(0.1f, 0.5f, -0.1f), Error);
  EXPECT_THROW(LinearLr(0.1f, 0.5f, 1.1f), Error);
  EXPECT_THROW(LinearLr(0.1f, 0.5f, 1.f, 0), Error);
  EXPECT_NO_THROW(LinearLr(0.1f, 1.f, 0.f, 3));
}

}  // namespace
}  // namespace convnet::train
