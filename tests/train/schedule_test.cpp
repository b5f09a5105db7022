// Learning-rate schedules against PyTorch's formulas, and their argument checks.
//
// Expected values come from torch/optim/lr_scheduler.py re-implemented in plain
// Python (torch is not installed here): OneCycleLR.get_lr with its two phases
// (end_step = float(pct_start * total_steps) - 1, then total_steps - 1) and
// _annealing_cos(start, end, pct) = end + (start - end) / 2 * (cos(pi * pct) + 1);
// StepLR's closed form base_lr * gamma ** (step // step_size); CosineAnnealingLR's
// closed form eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2.
// Python's printed doubles are pasted below.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "convnet/error.hpp"
#include "convnet/train/schedule.hpp"

namespace convnet::train {
namespace {

// Our rates are floats computed from float arguments: allow float rounding.
void expect_lr(const LrSchedule& schedule, int64_t step, double expected) {
  EXPECT_NEAR(schedule.lr(step), expected, 1e-6 * std::fabs(expected) + 1e-12)
      << schedule.name() << " at step " << step;
}

TEST(ScheduleTest, ConstantIsConstant) {
  const ConstantLr schedule(0.05f);
  expect_lr(schedule, 0, 0.05);
  expect_lr(schedule, 123456, 0.05);
  EXPECT_EQ(schedule.name(), "ConstantLR(lr=0.05)");
}

TEST(ScheduleTest, StepLrMatchesPyTorch) {
  const StepLr schedule(0.1f, 30, 0.1f);
  expect_lr(schedule, 0, 0.1);
  expect_lr(schedule, 29, 0.1);
  expect_lr(schedule, 30, 0.010000000000000002);
  expect_lr(schedule, 59, 0.010000000000000002);
  expect_lr(schedule, 60, 0.0010000000000000002);
  expect_lr(schedule, 95, 0.00010000000000000003);
  EXPECT_EQ(schedule.name(), "StepLR(lr=0.1, step_size=30, gamma=0.1)");
}

TEST(ScheduleTest, CosineMatchesPyTorchAndHoldsAtTheEnd) {
  const CosineLr schedule(0.1f, 1000, 0.001f);
  expect_lr(schedule, 0, 0.1);
  expect_lr(schedule, 1, 0.09999975572749199);
  expect_lr(schedule, 250, 0.0855017856687341);
  expect_lr(schedule, 500, 0.0505);
  expect_lr(schedule, 750, 0.0154982143312659);
  expect_lr(schedule, 999, 0.0010002442725080185);
  expect_lr(schedule, 1000, 0.001);
  expect_lr(schedule, 5000, 0.001);  // held, not periodic
  EXPECT_EQ(schedule.name(), "CosineAnnealingLR(lr=0.1, total_steps=1000, min_lr=0.001)");
}

TEST(ScheduleTest, OneCycleMatchesPyTorch) {
  const OneCycleLr schedule(0.1f, 1000);  // pct_start 0.3, div 25, final_div 1e4
  expect_lr(schedule, 0, 0.0040000000000000036);  // max_lr / div_factor
  expect_lr(schedule, 1, 0.00400264950421679);
  expect_lr(schedule, 100, 0.028145736144868982);
  expect_lr(schedule, 298, 0.09999735049578322);
  expect_lr(schedule, 299, 0.1);  // the peak, at pct_start * total_steps - 1
  expect_lr(schedule, 300, 0.09999949645161448);
  expect_lr(schedule, 500, 0.08099881015401794);
  expect_lr(schedule, 998, 9.035483855369959e-07);
  expect_lr(schedule, 999, 4e-07);   // min_lr = max_lr / 25 / 1e4
  expect_lr(schedule, 1000, 4e-07);  // held past the end
  EXPECT_EQ(schedule.name(), "OneCycleLR(max_lr=0.1, total_steps=1000)");
}

TEST(ScheduleTest, OneCycleWithFractionalPhaseEnd) {
  // pct_start * total_steps - 1 = 1.5: the peak falls between steps, as in PyTorch.
  const OneCycleLr schedule(0.05f, 10, 0.25f, 10.f, 100.f);
  expect_lr(schedule, 0, 0.0049999999999999975);
  expect_lr(schedule, 1, 0.03874999999999999);
  expect_lr(schedule, 2, 0.0494542363283268);
  expect_lr(schedule, 3, 0.04523019943451431);
  expect_lr(schedule, 5, 0.02763559837010965);
  expect_lr(schedule, 9, 5e-05);
}

TEST(ScheduleTest, OneCycleShorterThanItsWarmUp) {
  // pct_start * total_steps - 1 < 0: PyTorch goes straight to the second phase.
  const OneCycleLr schedule(1.f, 3);
  expect_lr(schedule, 0, 0.9944154354509117);
  expect_lr(schedule, 1, 0.46263710266697505);
  expect_lr(schedule, 2, 4e-06);
}

TEST(ScheduleTest, MakeSchedule) {
  EXPECT_EQ(make_schedule("constant", 0.1f, 100, 10)->name(), "ConstantLR(lr=0.1)");
  EXPECT_EQ(make_schedule("cosine", 0.1f, 100, 10)->name(),
            "CosineAnnealingLR(lr=0.1, total_steps=100, min_lr=0)");
  EXPECT_EQ(make_schedule("onecycle", 0.1f, 100, 10)->name(),
            "OneCycleLR(max_lr=0.1, total_steps=100)");
  // 10 epochs of 10 steps: a third rounded up to whole epochs is 4 epochs.
  const auto step = make_schedule("step", 0.1f, 100, 10);
  EXPECT_EQ(step->name(), "StepLR(lr=0.1, step_size=40, gamma=0.1)");
  expect_lr(*step, 39, 0.1);
  expect_lr(*step, 40, 0.010000000000000002);
  expect_lr(*step, 99, 0.0010000000000000002);
  // One epoch: no decay inside the run.
  EXPECT_EQ(make_schedule("step", 0.1f, 7, 7)->name(), "StepLR(lr=0.1, step_size=7, gamma=0.1)");
}

TEST(ScheduleTest, ArgumentErrors) {
  EXPECT_THROW(StepLr(0.1f, 0, 0.1f), Error);
  EXPECT_THROW(StepLr(-0.1f, 10, 0.1f), Error);
  EXPECT_THROW(StepLr(0.1f, 10, 0.f), Error);
  EXPECT_THROW(CosineLr(0.1f, 0), Error);
  EXPECT_THROW(CosineLr(0.1f, 10, -1e-3f), Error);
  EXPECT_THROW(CosineLr(0.1f, 10, 0.2f), Error);  // min above base
  EXPECT_THROW(OneCycleLr(0.1f, 0), Error);
  EXPECT_THROW(OneCycleLr(0.f, 100), Error);
  EXPECT_THROW(OneCycleLr(0.1f, 100, 1.5f), Error);
  EXPECT_THROW(OneCycleLr(0.1f, 100, 0.3f, 0.f), Error);
  EXPECT_THROW(OneCycleLr(0.1f, 100, 0.3f, 25.f, -1.f), Error);
  EXPECT_THROW(OneCycleLr(0.1f, 4, 0.25f), Error);  // warm-up of length 0: PyTorch divides by 0
  EXPECT_THROW(OneCycleLr(0.1f, 100).lr(-1), Error);
  EXPECT_THROW(make_schedule("linear", 0.1f, 100, 10), Error);
  EXPECT_THROW(make_schedule("cosine", 0.1f, 0, 10), Error);
  EXPECT_THROW(make_schedule("step", 0.1f, 100, 0), Error);
  EXPECT_THROW(make_schedule("constant", std::nanf(""), 100, 10), Error);
  try {
    make_schedule("linear", 0.1f, 100, 10);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("onecycle"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace convnet::train
