// Optimizer options in the style of libtorch's torch::optim: setters that chain,
// getters with the same names, PyTorch's names and defaults,
//
//   nn::SGD sgd(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f).nesterov(true));
//   nn::Adam adam(net.parameters(), nn::AdamOptions(1e-3f).betas({0.9f, 0.98f}).eps(1e-6f));
//   nn::AdamW adamw(net.parameters());  // AdamWOptions(): lr 1e-3, weight_decay 1e-2
//
// SGD's learning rate has no default, as in PyTorch. The constructors are
// explicit, so `{0.05f, 0.9f}` (which would silently mean lr and the first
// field, whatever it is) does not compile. The optimizer checks the values when
// it is built (a convnet::Error naming the optimizer and the value).
#pragma once

#include <tuple>

namespace convnet::nn {

// The same macro as in options.hpp (libtorch's TORCH_ARG): a setter `name(value)`
// that returns the options, a getter `name()`, and the member `name##_`, whose
// default follows the macro. Both headers undefine it at their end.
#define CONVNET_OPTION(T, name)                              \
 public:                                                     \
  auto name(const T& new_##name)->decltype(*this) {          \
    this->name##_ = new_##name;                              \
    return *this;                                            \
  }                                                          \
  const T& name() const noexcept { return this->name##_; }   \
                                                             \
 private:                                                    \
  T name##_

// Adam's (beta1, beta2): the decay rates of the running mean of the gradient
// and of its square. libtorch's AdamOptions::betas_t, in float.
using AdamBetas = std::tuple<float, float>;

// torch::optim::SGDOptions (without maximize): with momentum,
//   buf = momentum * buf + (1 - dampening) * grad   (buf = grad at the first step)
//   param -= lr * (nesterov ? grad + momentum * buf : buf),
// grad having weight_decay * param added first (L2).
class SGDOptions {
 public:
  explicit SGDOptions(float lr) : lr_(lr) {}

  CONVNET_OPTION(float, lr);
  CONVNET_OPTION(float, momentum) = 0.f;
  CONVNET_OPTION(float, dampening) = 0.f;
  CONVNET_OPTION(float, weight_decay) = 0.f;
  CONVNET_OPTION(bool, nesterov) = false;
};

// torch::optim::AdamOptions without amsgrad. weight_decay is L2: it is added to
// the gradient before the moments.
class AdamOptions {
 public:
  explicit AdamOptions(float lr = 1e-3f) : lr_(lr) {}

  CONVNET_OPTION(float, lr);
  CONVNET_OPTION(AdamBetas, betas) = AdamBetas(0.9f, 0.999f);
  CONVNET_OPTION(float, eps) = 1e-8f;
  CONVNET_OPTION(float, weight_decay) = 0.f;
};

// torch::optim::AdamWOptions without amsgrad. weight_decay is decoupled:
// param *= 1 - lr * weight_decay before the Adam update; 1e-2 by default.
class AdamWOptions {
 public:
  explicit AdamWOptions(float lr = 1e-3f) : lr_(lr) {}

  CONVNET_OPTION(float, lr);
  CONVNET_OPTION(AdamBetas, betas) = AdamBetas(0.9f, 0.999f);
  CONVNET_OPTION(float, eps) = 1e-8f;
  CONVNET_OPTION(float, weight_decay) = 1e-2f;
};

#undef CONVNET_OPTION

}  // namespace convnet::nn
