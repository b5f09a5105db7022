// Learning-rate schedules, evaluated per optimizer step (0-based), with
// PyTorch's formulas (torch.optim.lr_scheduler) so runs can be compared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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

// "constant", "step", "cosine" or "onecycle" for a run of total_steps with
// steps_per_epoch steps an epoch ("step" decays by 0.1 every third of the run,
// rounded up to whole epochs). Throws convnet::Error for another kind or bad numbers.
std::unique_ptr<LrSchedule> make_schedule(const std::string& kind, float lr, int64_t total_steps,
                                          int64_t steps_per_epoch);

}  // namespace convnet::train
