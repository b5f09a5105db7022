// Optimizer bookkeeping; the update rules themselves are backend ops.
#include <algorithm>

#include "convnet/nn/optim.hpp"
#include "convnet/ops.hpp"
#include "nn/backend_choice.hpp"

namespace convnet::nn {
namespace {

// Zeroed state shaped like `param`, created on its device by the backend that updates it.
Tensor zeros_like(Backend& be, const Tensor& param) {
  Tensor t = Tensor::empty(param.shape(), param.device());
  ops::fill(be, t, 0.f);
  return t;
}

// State follows its parameter if the model moved after the optimizer was built.
void prepare_state(Backend& be, Tensor& state, const Tensor& param) {
  if (!state.defined()) {
    state = zeros_like(be, param);
  } else if (state.device() != param.device()) {
    state = state.to(param.device());
  }
}

}  // namespace

Optimizer::Optimizer(std::vector<Parameter*> params, float lr)
    : params_(std::move(params)), lr_(lr) {
  CONVNET_CHECK(lr >= 0.f, "Optimizer: learning rate ", lr, " must not be negative");
  for (size_t i = 0; i < params_.size(); ++i) {
    CONVNET_CHECK(params_[i] != nullptr, "Optimizer: parameter ", i, " is null");
    // Listed twice, a parameter would take two updates per step without a word.
    for (size_t j = 0; j < i; ++j)
      CONVNET_CHECK(params_[j] != params_[i], "Optimizer: parameter ", i, " (", params_[i]->name,
                    ") is parameter ", j, " again; each parameter may appear once");
    names_.push_back(params_[i]->name);
  }
}

void Optimizer::step() {
  if (params_.empty()) return;
  const Device device = params_[0]->value.device();
  for (const Parameter* p : params_)
    CONVNET_CHECK(p->value.device() == device && p->grad.device() == device,
                  "Optimizer::step: parameter ", p->name, " (grad on ", p->grad.device(),
                  ") is on ", p->value.device(), " but ", params_[0]->name, " is on ", device,
                  " — one optimizer updates parameters on one device");
  Backend& be = detail::resolve_backend(backend_, device, "Optimizer::step", "the parameters");
  // {lr, step} lives on the parameters' device and advances there (one tiny
  // kernel on a GPU, lr passed by value): no host-to-device copy, no stall. It is
  // written from the host only when created or after set_step_count().
  if (!schedule_.defined() || schedule_.device() != device || schedule_stale_) {
    schedule_ = Tensor::from_vector(std::vector<float>{lr_, static_cast<float>(step_)}, {2}, device);
    schedule_stale_ = false;
  }
  ops::schedule_step(be, schedule_, lr_);
  ++step_;
  for (size_t i = 0; i < params_.size(); ++i) update(be, *params_[i], i, schedule_);
}

void Optimizer::ensure_state() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    Backend& be = detail::resolve_backend(backend_, p.value.device(), "Optimizer::ensure_state",
                                          "the parameter");
    create_state(be, p, i);
  }
}

void Optimizer::zero_grad() {
  for (Parameter* p : params_) {
    Backend& be = detail::resolve_backend(backend_, p->grad.device(), "Optimizer::zero_grad",
                                          "the gradient");
    ops::fill(be, p->grad, 0.f);
  }
}

// ---- SGD

SGD::SGD(std::vector<Parameter*> params, SgdOptions o)
    : Optimizer(std::move(params), o.lr),
      params_{o.momentum, o.dampening, o.weight_decay, o.nesterov},
      momentum_(Optimizer::params().size()) {
  CONVNET_CHECK(o.momentum >= 0.f && o.weight_decay >= 0.f, "SGD: momentum ", o.momentum,
                " and weight_decay ", o.weight_decay, " must not be negative");
  CONVNET_CHECK(!o.nesterov || (o.momentum > 0.f && o.dampening == 0.f),
                "SGD: Nesterov momentum needs momentum > 0 and zero dampening");
}

void SGD::create_state(Backend& be, Parameter& p, size_t index) {
  if (params_.momentum != 0.f) prepare_state(be, momentum_[index], p.value);  // plain SGD has none
}

void SGD::update(Backend& be, Parameter& p, size_t index, const Tensor& schedule) {
  create_state(be, p, index);
  Tensor* buffer = params_.momentum != 0.f ? &momentum_[index] : nullptr;
  ops::sgd_update(be, p.value, p.grad, buffer, params_, schedule);
}

std::vector<std::pair<std::string, Tensor*>> SGD::state() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (size_t i = 0; i < momentum_.size(); ++i)
    if (momentum_[i].defined())
      out.emplace_back(parameter_name(i) + ".momentum_buffer", &momentum_[i]);
  return out;
}

// ---- Adam and AdamW

Adam::Adam(std::vector<Parameter*> params, AdamOptions o)
    : Adam(std::move(params), o.lr, AdamParams{o.beta1, o.beta2, o.eps, o.weight_decay, false}) {}

Adam::Adam(std::vector<Parameter*> params, float lr, AdamParams p)
    : Optimizer(std::move(params), lr),
      params_(p),
      exp_avg_(Optimizer::params().size()),
      exp_avg_sq_(Optimizer::params().size()) {
  CONVNET_CHECK(p.beta1 >= 0.f && p.beta1 < 1.f && p.beta2 >= 0.f && p.beta2 < 1.f,
                "Adam: betas (", p.beta1, ", ", p.beta2, ") must lie in [0, 1)");
  CONVNET_CHECK(p.eps >= 0.f && p.weight_decay >= 0.f, "Adam: eps ", p.eps, " and weight_decay ",
                p.weight_decay, " must not be negative");
}

void Adam::create_state(Backend& be, Parameter& p, size_t index) {
  prepare_state(be, exp_avg_[index], p.value);
  prepare_state(be, exp_avg_sq_[index], p.value);
}

void Adam::update(Backend& be, Parameter& p, size_t index, const Tensor& schedule) {
  create_state(be, p, index);
  ops::adam_update(be, p.value, p.grad, exp_avg_[index], exp_avg_sq_[index], params_, schedule);
}

std::vector<std::pair<std::string, Tensor*>> Adam::state() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (size_t i = 0; i < exp_avg_.size(); ++i) {
    if (!exp_avg_[i].defined()) continue;
    out.emplace_back(parameter_name(i) + ".exp_avg", &exp_avg_[i]);
    out.emplace_back(parameter_name(i) + ".exp_avg_sq", &exp_avg_sq_[i]);
  }
  return out;
}

AdamW::AdamW(std::vector<Parameter*> params, AdamWOptions o)
    : Adam(std::move(params), o.lr, AdamParams{o.beta1, o.beta2, o.eps, o.weight_decay, true}) {}

}  // namespace convnet::nn
