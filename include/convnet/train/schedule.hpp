// Learning-rate schedules, evaluated per optimizer step (0-based), with
// PyTorch's formulas (torch.optim.lr_scheduler) so runs can be compared.
// Unlike PyTorch's, a schedule is a pure function of the step that holds its
// own base rate: nothing is read back from the optimizer, so one schedule can
// be asked for any step in any order, and schedules chain (SequentialLr):
//
//   // warm up from lr/100 over 100 steps, then cosine over the remaining 900
//   train::SequentialLr schedule({std::make_shared<train::LinearLr>(0.1f, 0.01f, 1.f, 100),
//                                 std::make_shared<train::CosineLr>(0.1f, 900)},
//                                /*milestones=*/{100});
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace convnet::train {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  // The learning rate for step `step` (0 = the first update).
  virtual float lr(int64_t step) const = 0;
  virtual std::string name() const = 0;
};

// Constant base_lr.
class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(float base_lr) : base_lr_(base_lr) {}
  float lr(int64_t) const override { return base_lr_; }
  std::string name() const override;

 private:
  float base_lr_;
};

// StepLR: base_lr * gamma^floor(step / step_size).
class StepLr : public LrSchedule {
 public:
  StepLr(float base_lr, int64_t step_size, float gamma);
  float lr(int64_t step) const override;
  std::string name() const override;

 private:
  float base_lr_;
  int64_t step_size_;
  float gamma_;
};

// CosineAnnealingLR: min_lr + (base_lr - min_lr) * (1 + cos(pi * step / total_steps)) / 2,
// held at min_lr after total_steps.
class CosineLr : public LrSchedule {
 public:
  CosineLr(float base_lr, int64_t total_steps, float min_lr = 0.f);
  float lr(int64_t step) const override;
  std::string name() const override;

 private:
  float base_lr_, min_lr_;
  int64_t total_steps_;
};

// OneCycleLR (anneal_strategy="cos", three_phase=False): warm up from
// max_lr/div_factor to max_lr over pct_start of total_steps, then anneal by
// cosine to max_lr/(div_factor*final_div_factor), reached at step total_steps - 1
// and held after it (PyTorch raises there instead).
class OneCycleLr : public LrSchedule {
 public:
  OneCycleLr(float max_lr, int64_t total_steps, float pct_start = 0.3f, float div_factor = 25.f,
             float final_div_factor = 1e4f);
  float lr(int64_t step) const override;
  std::string name() const override;

 private:
  float max_lr_, initial_lr_, final_lr_;
  int64_t total_steps_;
  double warmup_end_;  // PyTorch's phase-1 end_step: pct_start * total_steps - 1, may be fractional
};

// LinearLR: base_lr times a factor that moves linearly from start_factor to
// end_factor over total_iters steps and is held at end_factor after them:
//   base_lr * (start_factor + (end_factor - start_factor) * min(step, total_iters) / total_iters).
// PyTorch's defaults; start_factor in (0, 1], end_factor in [0, 1] as PyTorch
// requires, total_iters > 0.
class LinearLr : public LrSchedule {
 public:
  explicit LinearLr(float base_lr, float start_factor = 1.f / 3.f, float end_factor = 1.f,
                    int64_t total_iters = 5);
  float lr(int64_t step) const override;
  std::string name() const override;

 private:
  float base_lr_, start_factor_, end_factor_;
  int64_t total_iters_;
};

// LambdaLR: base_lr * factor(step). A factor that is negative or not finite
// throws convnet::Error naming the step when the rate is asked for.
class LambdaLr : public LrSchedule {
 public:
  LambdaLr(float base_lr, std::function<double(int64_t step)> factor);
  float lr(int64_t step) const override;
  std::string name() const override;

 private:
  float base_lr_;
  std::function<double(int64_t)> factor_;
};

// SequentialLR: schedules[0] until milestones[0], then schedules[1] until
// milestones[1], and so on; each later schedule counts its own steps from 0 at
// its milestone (schedules[i] at step s sees s - milestones[i - 1]). Needs one
// milestone fewer than schedules, milestones positive and increasing. The
// schedules are shared, so a chain can be built in one expression and copied.
class SequentialLr : public LrSchedule {
 public:
  SequentialLr(std::vector<std::shared_ptr<const LrSchedule>> schedules,
               std::vector<int64_t> milestones);
  float lr(int64_t step) const override;
  std::string name() const override;

 private:
  std::vector<std::shared_ptr<const LrSchedule>> schedules_;
  std::vector<int64_t> milestones_;
};

// "constant", "step", "cosine" or "onecycle" for a run of total_steps with
// steps_per_epoch steps an epoch ("step" decays by 0.1 every third of the run,
// rounded up to whole epochs). Throws convnet::Error for another kind or bad numbers.
std::unique_ptr<LrSchedule> make_schedule(const std::string& kind, float lr, int64_t total_steps,
                                          int64_t steps_per_epoch);

}  // namespace convnet::train
