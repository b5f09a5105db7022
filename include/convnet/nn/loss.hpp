// Losses. forward(prediction, target) returns the mean loss as a one-element
// tensor on the prediction's device (no host sync; call .item() to read it);
// backward(scale) returns d(scale * loss)/d(prediction) for that forward.
#pragma once

#include <optional>
#include <string>

#include "convnet/backend.hpp"
#include "convnet/tensor.hpp"

namespace convnet::nn {

class Loss {
 public:
  virtual ~Loss() = default;
  virtual Tensor forward(const Tensor& prediction, const Tensor& target) = 0;
  virtual Tensor backward(float scale = 1.f) = 0;
  virtual std::string name() const = 0;
  void set_backend(std::optional<Backend::Kind> kind) { backend_ = kind; }

 protected:
  Backend& backend_for(Device device) const;

 private:
  std::optional<Backend::Kind> backend_;
};

// Softmax + negative log-likelihood, fused. prediction: logits [N, C];
// target: int32 class indices [N] in [0, C).
// label_smoothing in [0, 1] mixes the one-hot target with the uniform one, as
// PyTorch's CrossEntropyLoss(label_smoothing=...) does; 0 is the plain loss.
class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(float label_smoothing = 0.f);
  float label_smoothing() const { return label_smoothing_; }
  Tensor forward(const Tensor& logits, const Tensor& labels) override;
  Tensor backward(float scale = 1.f) override;
  std::string name() const override { return "CrossEntropyLoss"; }
  const Tensor& probabilities() const { return probs_; }

 private:
  float label_smoothing_;
  Tensor probs_, labels_;
};

// mean((prediction - target)^2) over all elements.
class MSELoss : public Loss {
 public:
  Tensor forward(const Tensor& prediction, const Tensor& target) override;
  Tensor backward(float scale = 1.f) override;
  std::string name() const override { return "MSELoss"; }

 private:
  Tensor prediction_, target_;
};

// Sigmoid + binary cross-entropy, fused and stable; targets in [0, 1].
class BCEWithLogitsLoss : public Loss {
 public:
  Tensor forward(const Tensor& logits, const Tensor& target) override;
  Tensor backward(float scale = 1.f) override;
  std::string name() const override { return "BCEWithLogitsLoss"; }

 private:
  Tensor logits_, target_;
};

// mean(max(0, margin - t*s)) with targets t in {-1, +1}. margin = 0 gives the
// perceptron criterion (its gradient is the perceptron learning rule), margin = 1 the SVM hinge.
class HingeLoss : public Loss {
 public:
  explicit HingeLoss(float margin = 1.f) : margin_(margin) {}
  Tensor forward(const Tensor& scores, const Tensor& target) override;
  Tensor backward(float scale = 1.f) override;
  std::string name() const override { return "HingeLoss"; }

 private:
  float margin_;
  Tensor scores_, target_;
};

}  // namespace convnet::nn
