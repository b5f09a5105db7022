// Loss ops. Each returns the mean loss as a one-element tensor on the inputs'
// device (no host sync); the backward ops return d(scale * loss)/d(input).
#include "convnet/ops.hpp"
#include "ops/checks.hpp"

namespace convnet::ops {
namespace detail {

void check_scores_and_labels(std::string_view op, std::string_view role, const Tensor& scores,
                             const Tensor& labels) {
  check_tensor(op, role, scores, DType::F32, 2, "[N, C]");
  check_tensor(op, "labels", labels, DType::I32, 1, "[N]");
  check_not_empty(op, role, scores);
  CONVNET_CHECK(labels.size(0) == scores.size(0), op, ": labels ", labels.shape(),
                " must hold one label per row of ", role, " ", scores.shape());
  // Label values are checked by the backend, once a step: the CPU's loss forward
  // throws, a GPU kernel raises its device-side flag (reported at the next sync).
}

}  // namespace detail

using namespace detail;

namespace {
// prediction and target: f32, same shape, not empty, where the backend computes.
void check_pair(const char* op, Backend& be, const char* role, const Tensor& prediction,
                const Tensor& target) {
  check_tensor(op, role, prediction, DType::F32);
  check_tensor(op, "target", target, DType::F32);
  check_devices(op, be, {{role, &prediction}, {"target", &target}});
  check_not_empty(op, role, prediction);
  check_shape(op, "target", target, prediction.shape(), role);
}

// PyTorch's bound; a NaN fails it too.
void check_label_smoothing(const char* op, float label_smoothing) {
  CONVNET_CHECK(label_smoothing >= 0.f && label_smoothing <= 1.f, op, ": label_smoothing ",
                label_smoothing, " must be in [0, 1]");
}

Tensor scalar_like(const Tensor& t) { return Tensor::empty({1}, t.device()); }
Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.device()); }
}  // namespace

Tensor softmax_cross_entropy_forward(Backend& be, const Tensor& logits, const Tensor& labels,
                                     Tensor& probs, float label_smoothing) {
  constexpr const char* op = "softmax_cross_entropy_forward";
  check_label_smoothing(op, label_smoothing);
  check_tensor(op, "logits", logits, DType::F32, 2, "[N, C]");
  check_tensor(op, "labels", labels, DType::I32, 1, "[N]");
  check_devices(op, be, {{"logits", &logits}, {"labels", &labels}});
  check_scores_and_labels(op, "logits", logits, labels);
  Tensor loss = scalar_like(logits);
  probs = empty_like(logits);
  be.softmax_cross_entropy_forward(logits, labels, label_smoothing, loss, probs);
  return loss;
}

Tensor softmax_cross_entropy_backward(Backend& be, const Tensor& probs, const Tensor& labels,
                                      float scale, float label_smoothing) {
  constexpr const char* op = "softmax_cross_entropy_backward";
  check_label_smoothing(op, label_smoothing);
  check_tensor(op, "probs", probs, DType::F32, 2, "[N, C]");
  check_tensor(op, "labels", labels, DType::I32, 1, "[N]");
  check_devices(op, be, {{"probs", &probs}, {"labels", &labels}});
  check_scores_and_labels(op, "probs", probs, labels);
  Tensor grad_logits = empty_like(probs);
  be.softmax_cross_entropy_backward(probs, labels, label_smoothing, scale, grad_logits);
  return grad_logits;
}

Tensor mse_forward(Backend& be, const Tensor& prediction, const Tensor& target) {
  check_pair("mse_forward", be, "prediction", prediction, target);
  Tensor loss = scalar_like(prediction);
  be.mse_forward(prediction, target, loss);
  return loss;
}

Tensor mse_backward(Backend& be, const Tensor& prediction, const Tensor& target, float scale) {
  check_pair("mse_backward", be, "prediction", prediction, target);
  Tensor grad = empty_like(prediction);
  be.mse_backward(prediction, target, scale, grad);
  return grad;
}

Tensor bce_with_logits_forward(Backend& be, const Tensor& logits, const Tensor& target) {
  check_pair("bce_with_logits_forward", be, "logits", logits, target);
  Tensor loss = scalar_like(logits);
  be.bce_with_logits_forward(logits, target, loss);
  return loss;
}

Tensor bce_with_logits_backward(Backend& be, const Tensor& logits, const Tensor& target,
                                float scale) {
  check_pair("bce_with_logits_backward", be, "logits", logits, target);
  Tensor grad = empty_like(logits);
  be.bce_with_logits_backward(logits, target, scale, grad);
  return grad;
}

Tensor hinge_forward(Backend& be, const Tensor& scores, const Tensor& target, float margin) {
  check_pair("hinge_forward", be, "scores", scores, target);
  Tensor loss = scalar_like(scores);
  be.hinge_forward(scores, target, margin, loss);
  return loss;
}

Tensor hinge_backward(Backend& be, const Tensor& scores, const Tensor& target, float margin,
                      float scale) {
  check_pair("hinge_backward", be, "scores", scores, target);
  Tensor grad = empty_like(scores);
  be.hinge_backward(scores, target, margin, scale, grad);
  return grad;
}

}  // namespace convnet::ops
