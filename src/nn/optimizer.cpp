// Optimizer bookkeeping and the checks of the options; the update rules
// themselves are backend ops.
#include <algorithm>
#include <cmath>
#include <unordered_map>

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

// PyTorch's "Invalid learning rate" and friends; NaN and inf are refused too,
// since they would only surface as NaN parameters steps later.
void check_non_negative(const std::string& optimizer, const char* what, float value) {
  CONVNET_CHECK(std::isfinite(value) && value >= 0.f, optimizer, ": ", what,
                " must be a finite number >= 0, got ", value);
}

void check_beta(const std::string& optimizer, int index, float value) {
  CONVNET_CHECK(value >= 0.f && value < 1.f, optimizer, ": betas[", index,
                "] must lie in [0, 1), got ", value);
}

AdamParams adam_params(const AdamBetas& betas, float eps, float weight_decay, bool decoupled) {
  return AdamParams{std::get<0>(betas), std::get<1>(betas), eps, weight_decay, decoupled};
}

}  // namespace

Optimizer::Optimizer(std::string name, std::vector<Parameter*> params, float lr)
    : name_(std::move(name)), params_(std::move(params)), lr_(lr) {
  // PyTorch's wording, so the message is found when searched for.
  CONVNET_CHECK(!params_.empty(), name_, ": optimizer got an empty parameter list");
  std::unordered_map<const Parameter*, size_t> first_index;
  for (size_t i = 0; i < params_.size(); ++i) {
    CONVNET_CHECK(params_[i] != nullptr, name_, ": parameter ", i, " of ", params_.size(),
                  " is null");
    const auto [seen, inserted] = first_index.emplace(params_[i], i);
    // Updated twice a step with the same gradient, a shared parameter would
    // move twice as far (PyTorch refuses it across parameter groups).
    CONVNET_CHECK(inserted, name_, ": parameter ", i, " (\"", params_[i]->name,
                  "\") appears more than once in the parameter list (first as parameter ",
                  seen->second, ")");
    names_.push_back(params_[i]->name);
  }
  check_non_negative(name_, "learning rate", lr);
}

void Optimizer::step() {
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

SGD::SGD(std::vector<Parameter*> params, const SGDOptions& o)
    : Optimizer("SGD", std::move(params), o.lr()),
      params_{o.momentum(), o.dampening(), o.weight_decay(), o.nesterov()},
      momentum_(Optimizer::params().size()) {
  check_non_negative(name(), "momentum", o.momentum());
  check_non_negative(name(), "weight_decay", o.weight_decay());
  CONVNET_CHECK(std::isfinite(o.dampening()), "SGD: dampening must be finite, got ",
                o.dampening());
  // PyTorch raises here: without momentum there is no look-ahead to take, and
  // dampening would make the look-ahead step differ from Nesterov's.
  CONVNET_CHECK(!o.nesterov() || (o.momentum() > 0.f && o.dampening() == 0.f),
                "SGD: nesterov needs momentum > 0 and dampening 0, got momentum ", o.momentum(),
                " and dampening ", o.dampening());
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

Adam::Adam(std::vector<Parameter*> params, const AdamOptions& o)
    : Adam("Adam", std::move(params), o.lr(),
           adam_params(o.betas(), o.eps(), o.weight_decay(), /*decoupled=*/false)) {}

Adam::Adam(std::string name, std::vector<Parameter*> params, float lr, AdamParams p)
    : Optimizer(std::move(name), std::move(params), lr),
      params_(p),
      exp_avg_(Optimizer::params().size()),
      exp_avg_sq_(Optimizer::params().size()) {
  check_beta(this->name(), 0, p.beta1);
  check_beta(this->name(), 1, p.beta2);
  check_non_negative(this->name(), "eps", p.eps);
  check_non_negative(this->name(), "weight_decay", p.weight_decay);
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

AdamW::AdamW(std::vector<Parameter*> params, const AdamWOptions& o)
    : Adam("AdamW", std::move(params), o.lr(),
           adam_params(o.betas(), o.eps(), o.weight_decay(), /*decoupled=*/true)) {}

}  // namespace convnet::nn
