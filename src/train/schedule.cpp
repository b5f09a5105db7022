// Learning-rate schedules with torch.optim.lr_scheduler's formulas, computed in
// double and returned as float, and make_schedule for the examples' --schedule flag.
#include "convnet/train/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <utility>

#include "convnet/error.hpp"

namespace convnet::train {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Shortest round-trip text of a float ("0.1", not "0.100000001").
std::string num(float value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

void check_lr(const char* who, const char* what, float value) {
  CONVNET_CHECK(std::isfinite(value) && value > 0.f, who, ": ", what,
                " must be a positive finite number, got ", value);
}

void check_step(const char* who, int64_t step) {
  CONVNET_CHECK(step >= 0, who, ": step must be >= 0, got ", step);
}

// PyTorch's _annealing_cos: from start (pct = 0) to end (pct = 1) along half a cosine.
double annealing_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (1.0 + std::cos(kPi * pct));
}

// The double nearest the float's 7-digit decimal text: 0.3f becomes exactly
// Python's 0.3, so phase boundaries fall on the same steps as PyTorch's.
double as_decimal(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.7g", static_cast<double>(value));
  return std::strtod(text, nullptr);
}

}  // namespace

std::string ConstantLr::name() const { return "ConstantLR(lr=" + num(base_lr_) + ")"; }

StepLr::StepLr(float base_lr, int64_t step_size, float gamma)
    : base_lr_(base_lr), step_size_(step_size), gamma_(gamma) {
  check_lr("StepLr", "base_lr", base_lr);
  CONVNET_CHECK(step_size > 0, "StepLr: step_size must be positive, got ", step_size);
  check_lr("StepLr", "gamma", gamma);
}

float StepLr::lr(int64_t step) const {
  check_step("StepLr", step);
  return static_cast<float>(static_cast<double>(base_lr_) *
                            std::pow(static_cast<double>(gamma_), step / step_size_));
}

std::string StepLr::name() const {
  return "StepLR(lr=" + num(base_lr_) + ", step_size=" + std::to_string(step_size_) +
         ", gamma=" + num(gamma_) + ")";
}

CosineLr::CosineLr(float base_lr, int64_t total_steps, float min_lr)
    : base_lr_(base_lr), min_lr_(min_lr), total_steps_(total_steps) {
  check_lr("CosineLr", "base_lr", base_lr);
  CONVNET_CHECK(total_steps > 0, "CosineLr: total_steps must be positive, got ", total_steps);
  CONVNET_CHECK(std::isfinite(min_lr) && min_lr >= 0.f && min_lr <= base_lr,
                "CosineLr: min_lr must lie in [0, base_lr = ", base_lr, "], got ", min_lr);
}

float CosineLr::lr(int64_t step) const {
  check_step("CosineLr", step);
  if (step >= total_steps_) return min_lr_;
  const double pct = static_cast<double>(step) / static_cast<double>(total_steps_);
  return static_cast<float>(annealing_cos(base_lr_, min_lr_, pct));
}

std::string CosineLr::name() const {
  return "CosineAnnealingLR(lr=" + num(base_lr_) + ", total_steps=" +
         std::to_string(total_steps_) + ", min_lr=" + num(min_lr_) + ")";
}

OneCycleLr::OneCycleLr(float max_lr, int64_t total_steps, float pct_start, float div_factor,
                       float final_div_factor)
    : max_lr_(max_lr), total_steps_(total_steps) {
  check_lr("OneCycleLr", "max_lr", max_lr);
  CONVNET_CHECK(total_steps > 0, "OneCycleLr: total_steps must be positive, got ", total_steps);
  CONVNET_CHECK(pct_start >= 0.f && pct_start <= 1.f,
                "OneCycleLr: pct_start must lie in [0, 1], got ", pct_start);
  check_lr("OneCycleLr", "div_factor", div_factor);
  check_lr("OneCycleLr", "final_div_factor", final_div_factor);
  const double initial = static_cast<double>(max_lr) / div_factor;  // Python's doubles
  initial_lr_ = static_cast<float>(initial);
  final_lr_ = static_cast<float>(initial / final_div_factor);
  warmup_end_ = as_decimal(pct_start) * static_cast<double>(total_steps) - 1.0;
  // PyTorch divides by this phase length and fails when it is zero.
  CONVNET_CHECK(warmup_end_ != 0.0, "OneCycleLr: pct_start * total_steps = 1 leaves the ",
                "warm-up phase empty; change pct_start (", pct_start, ") or total_steps (",
                total_steps, ")");
}

float OneCycleLr::lr(int64_t step) const {
  check_step("OneCycleLr", step);
  // PyTorch refuses steps past the end; holding the final rate is kinder to a
  // run that takes one step too many.
  const double last = static_cast<double>(total_steps_ - 1);
  if (step > total_steps_ - 1) return final_lr_;
  const double s = static_cast<double>(step);
  if (s <= warmup_end_)
    return static_cast<float>(annealing_cos(initial_lr_, max_lr_, s / warmup_end_));
  const double pct = (s - warmup_end_) / (last - warmup_end_);
  return static_cast<float>(annealing_cos(max_lr_, final_lr_, pct));
}

std::string OneCycleLr::name() const {
  return "OneCycleLR(max_lr=" + num(max_lr_) + ", total_steps=" + std::to_string(total_steps_) +
         ")";
}

LinearLr::LinearLr(float base_lr, float start_factor, float end_factor, int64_t total_iters)
    : base_lr_(base_lr), start_factor_(start_factor), end_factor_(end_factor),
      total_iters_(total_iters) {
  check_lr("LinearLr", "base_lr", base_lr);
  // PyTorch's bounds: a zero start would make its recursive form divide by zero.
  CONVNET_CHECK(start_factor > 0.f && start_factor <= 1.f,
                "LinearLr: start_factor must lie in (0, 1], got ", start_factor);
  CONVNET_CHECK(end_factor >= 0.f && end_factor <= 1.f,
                "LinearLr: end_factor must lie in [0, 1], got ", end_factor);
  CONVNET_CHECK(total_iters > 0, "LinearLr: total_iters must be positive, got ", total_iters);
}

float LinearLr::lr(int64_t step) const {
  check_step("LinearLr", step);
  const double progress =
      static_cast<double>(std::min(step, total_iters_)) / static_cast<double>(total_iters_);
  const double factor = static_cast<double>(start_factor_) +
                        (static_cast<double>(end_factor_) - start_factor_) * progress;
  return static_cast<float>(static_cast<double>(base_lr_) * factor);
}

std::string LinearLr::name() const {
  return "LinearLR(lr=" + num(base_lr_) + ", start_factor=" + num(start_factor_) +
         ", end_factor=" + num(end_factor_) + ", total_iters=" + std::to_string(total_iters_) +
         ")";
}

LambdaLr::LambdaLr(float base_lr, std::function<double(int64_t)> factor)
    : base_lr_(base_lr), factor_(std::move(factor)) {
  check_lr("LambdaLr", "base_lr", base_lr);
  CONVNET_CHECK(static_cast<bool>(factor_), "LambdaLr: the factor function is empty");
}

float LambdaLr::lr(int64_t step) const {
  check_step("LambdaLr", step);
  const double factor = factor_(step);
  // A negative rate would climb the loss; PyTorch would pass it on silently.
  CONVNET_CHECK(std::isfinite(factor) && factor >= 0.0, "LambdaLr: the factor at step ", step,
                " is ", factor, "; it must be a finite number >= 0");
  return static_cast<float>(static_cast<double>(base_lr_) * factor);
}

std::string LambdaLr::name() const { return "LambdaLR(lr=" + num(base_lr_) + ")"; }

SequentialLr::SequentialLr(std::vector<std::shared_ptr<const LrSchedule>> schedules,
                           std::vector<int64_t> milestones)
    : schedules_(std::move(schedules)), milestones_(std::move(milestones)) {
  CONVNET_CHECK(!schedules_.empty(), "SequentialLr: needs at least one schedule");
  CONVNET_CHECK(milestones_.size() + 1 == schedules_.size(), "SequentialLr: ", schedules_.size(),
                " schedules need ", schedules_.size() - 1, " milestones, got ",
                milestones_.size());
  for (size_t i = 0; i < schedules_.size(); ++i)
    CONVNET_CHECK(schedules_[i] != nullptr, "SequentialLr: schedule ", i, " is null");
  for (size_t i = 0; i < milestones_.size(); ++i)
    CONVNET_CHECK(milestones_[i] > (i == 0 ? 0 : milestones_[i - 1]),
                  "SequentialLr: milestones must be positive and increasing, got ",
                  milestones_[i], " after ", i == 0 ? 0 : milestones_[i - 1]);
}

float SequentialLr::lr(int64_t step) const {
  check_step("SequentialLr", step);
  // PyTorch's bisect_right: a milestone's own step already belongs to the next schedule.
  const size_t index = static_cast<size_t>(
      std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin());
  const int64_t start = index == 0 ? 0 : milestones_[index - 1];
  return schedules_[index]->lr(step - start);
}

std::string SequentialLr::name() const {
  std::string text = "SequentialLR(";
  for (const auto& schedule : schedules_) text += schedule->name() + ", ";
  text += "milestones=[";
  for (size_t i = 0; i < milestones_.size(); ++i)
    text += (i ? ", " : "") + std::to_string(milestones_[i]);
  return text + "])";
}

std::unique_ptr<LrSchedule> make_schedule(const std::string& kind, float lr, int64_t total_steps,
                                          int64_t steps_per_epoch) {
  CONVNET_CHECK(total_steps > 0, "make_schedule: total_steps must be positive, got ", total_steps);
  CONVNET_CHECK(steps_per_epoch > 0, "make_schedule: steps_per_epoch must be positive, got ",
                steps_per_epoch);
  if (kind == "constant") {
    check_lr("make_schedule", "lr", lr);
    return std::make_unique<ConstantLr>(lr);
  }
  if (kind == "step") {
    // A third of the run, rounded up to whole epochs, as per-epoch StepLR runs do.
    const int64_t epochs = (total_steps + steps_per_epoch - 1) / steps_per_epoch;
    const int64_t epochs_per_decay = std::max<int64_t>(1, (epochs + 2) / 3);
    return std::make_unique<StepLr>(lr, epochs_per_decay * steps_per_epoch, 0.1f);
  }
  if (kind == "cosine") return std::make_unique<CosineLr>(lr, total_steps);
  if (kind == "onecycle") return std::make_unique<OneCycleLr>(lr, total_steps);
  CONVNET_FAIL("make_schedule: unknown schedule \"", kind,
               "\"; expected constant, step, cosine or onecycle");
}

}  // namespace convnet::train
