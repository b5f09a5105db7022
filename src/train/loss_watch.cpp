// LossWatch: per-step losses kept on the device, read in batches.
#include "train/loss_watch.hpp"

#include <cmath>
#include <vector>

#include "convnet/error.hpp"

namespace convnet::train::detail {

void LossWatch::start_epoch(int64_t steps) {
  CONVNET_CHECK(steps >= 0, "LossWatch: an epoch cannot have ", steps, " steps");
  steps_ = steps;
  recorded_ = checked_ = nonfinite_ = 0;
}

void LossWatch::record(const Tensor& loss) {
  CONVNET_CHECK(recorded_ < steps_, "LossWatch: step ", recorded_ + 1, " of an epoch announced as ",
                steps_, " steps (the loader yielded more batches than batches_per_epoch())");
  CONVNET_CHECK(loss.defined() && loss.numel() == 1 && loss.dtype() == DType::F32,
                "LossWatch: the loss must be one f32 element, got ",
                loss.defined() ? loss.str() : "undefined");
  if (!losses_.defined() || losses_.size(0) < steps_ || losses_.device() != loss.device()) {
    CONVNET_CHECK(recorded_ == 0, "LossWatch: the loss moved from ", losses_.device().str(), " to ",
                  loss.device().str(), " within an epoch");
    losses_ = Tensor::empty({steps_}, loss.device(), DType::F32);
  }
  losses_.slice(recorded_, recorded_ + 1).copy_from(loss.reshape({1}));
  ++recorded_;
}

LossWatch::Finding LossWatch::check() {
  Finding finding;
  if (checked_ == recorded_) return finding;
  const std::vector<float> values = losses_.slice(checked_, recorded_).to_vector<float>();
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) continue;
    if (finding.step < 0) finding = {checked_ + static_cast<int64_t>(i), values[i]};
    ++nonfinite_;
  }
  checked_ = recorded_;
  return finding;
}

}  // namespace convnet::train::detail
