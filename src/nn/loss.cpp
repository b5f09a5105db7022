#include "convnet/nn/loss.hpp"

#include "convnet/error.hpp"
#include "convnet/ops.hpp"
#include "nn/backend_choice.hpp"

namespace convnet::nn {

Backend& Loss::backend_for(Device device) const {
  return detail::resolve_backend(backend_, device, name(), "the prediction");
}

namespace {
void check_forward_done(const Loss& loss, const Tensor& kept) {
  CONVNET_CHECK(kept.defined(), loss.name(), ": backward called without a preceding forward");
}
}  // namespace

CrossEntropyLoss::CrossEntropyLoss(float label_smoothing) : label_smoothing_(label_smoothing) {
  CONVNET_CHECK(label_smoothing >= 0.f && label_smoothing <= 1.f,
                "CrossEntropyLoss: label_smoothing ", label_smoothing, " must be in [0, 1]");
}

Tensor CrossEntropyLoss::forward(const Tensor& logits, const Tensor& labels) {
  Tensor probs;
  Tensor loss = ops::softmax_cross_entropy_forward(backend_for(logits.device()), logits, labels,
                                                   probs, label_smoothing_);
  probs_ = probs;  // only after success, so a failed forward leaves no half state
  labels_ = labels;
  return loss;
}

Tensor CrossEntropyLoss::backward(float scale) {
  check_forward_done(*this, probs_);
  return ops::softmax_cross_entropy_backward(backend_for(probs_.device()), probs_, labels_, scale,
                                             label_smoothing_);
}

Tensor MSELoss::forward(const Tensor& prediction, const Tensor& target) {
  Tensor loss = ops::mse_forward(backend_for(prediction.device()), prediction, target);
  prediction_ = prediction;
  target_ = target;
  return loss;
}

Tensor MSELoss::backward(float scale) {
  check_forward_done(*this, prediction_);
  return ops::mse_backward(backend_for(prediction_.device()), prediction_, target_, scale);
}

Tensor BCEWithLogitsLoss::forward(const Tensor& logits, const Tensor& target) {
  Tensor loss = ops::bce_with_logits_forward(backend_for(logits.device()), logits, target);
  logits_ = logits;
  target_ = target;
  return loss;
}

Tensor BCEWithLogitsLoss::backward(float scale) {
  check_forward_done(*this, logits_);
  return ops::bce_with_logits_backward(backend_for(logits_.device()), logits_, target_, scale);
}

Tensor HingeLoss::forward(const Tensor& scores, const Tensor& target) {
  Tensor loss = ops::hinge_forward(backend_for(scores.device()), scores, target, margin_);
  scores_ = scores;
  target_ = target;
  return loss;
}

Tensor HingeLoss::backward(float scale) {
  check_forward_done(*this, scores_);
  return ops::hinge_backward(backend_for(scores_.device()), scores_, target_, margin_, scale);
}

}  // namespace convnet::nn
