// Optimizer bookkeeping (parameter groups, the device schedules) and the checks
// of the options; the update rules themselves are backend ops.
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
// since they would only surface as NaN parameters steps later. `who` is
// "SGD", "SGD: parameter group 1" or "SGD: defaults".
void check_non_negative(const std::string& who, const char* what, float value) {
  CONVNET_CHECK(std::isfinite(value) && value >= 0.f, who, ": ", what,
                " must be a finite number >= 0, got ", value);
}

void check_beta(const std::string& who, int index, float value) {
  CONVNET_CHECK(value >= 0.f && value < 1.f, who, ": betas[", index, "] must lie in [0, 1), got ",
                value);
}

void check_sgd(const std::string& who, const SGDOptions& o) {
  check_non_negative(who, "learning rate", o.lr());
  check_non_negative(who, "momentum", o.momentum());
  check_non_negative(who, "weight_decay", o.weight_decay());
  CONVNET_CHECK(std::isfinite(o.dampening()), who, ": dampening must be finite, got ",
                o.dampening());
  // PyTorch raises here: without momentum there is no look-ahead to take, and
  // dampening would make the look-ahead step differ from Nesterov's.
  CONVNET_CHECK(!o.nesterov() || (o.momentum() > 0.f && o.dampening() == 0.f), who,
                ": nesterov needs momentum > 0 and dampening 0, got momentum ", o.momentum(),
                " and dampening ", o.dampening());
}

void check_adam(const std::string& who, const AdamOptions& o) {
  check_non_negative(who, "learning rate", o.lr());
  check_beta(who, 0, std::get<0>(o.betas()));
  check_beta(who, 1, std::get<1>(o.betas()));
  check_non_negative(who, "eps", o.eps());
  check_non_negative(who, "weight_decay", o.weight_decay());
}

// Each group's options: its own, or the defaults.
template <typename Options>
std::vector<Options> resolve(const std::vector<ParamGroup<Options>>& groups,
                             const Options& defaults) {
  std::vector<Options> out;
  for (const ParamGroup<Options>& g : groups) out.push_back(g.options ? *g.options : defaults);
  return out;
}

template <typename Options>
std::vector<std::vector<Parameter*>> parameters_of(const std::vector<ParamGroup<Options>>& groups) {
  std::vector<std::vector<Parameter*>> out;
  for (const ParamGroup<Options>& g : groups) out.push_back(g.params);
  return out;
}

template <typename Options>
std::vector<float> lrs_of(const std::vector<ParamGroup<Options>>& groups, const Options& defaults) {
  std::vector<float> out;
  for (const Options& o : resolve(groups, defaults)) out.push_back(o.lr());
  return out;
}

std::vector<SgdParams> sgd_params_of(const std::vector<ParamGroup<SGDOptions>>& groups,
                                     const SGDOptions& defaults) {
  std::vector<SgdParams> out;
  for (const SGDOptions& o : resolve(groups, defaults))
    out.push_back(SgdParams{o.momentum(), o.dampening(), o.weight_decay(), o.nesterov()});
  return out;
}

std::vector<AdamParams> adam_params_of(const std::vector<ParamGroup<AdamOptions>>& groups,
                                       const AdamOptions& defaults, bool decoupled) {
  std::vector<AdamParams> out;
  for (const AdamOptions& o : resolve(groups, defaults))
    out.push_back(AdamParams{std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(),
                             o.weight_decay(), decoupled});
  return out;
}

// AdamW's options are Adam's fields with another default weight decay.
AdamOptions as_adam(const AdamWOptions& o) {
  return AdamOptions(o.lr()).betas(o.betas()).eps(o.eps()).weight_decay(o.weight_decay());
}

std::vector<ParamGroup<AdamOptions>> as_adam(std::vector<ParamGroup<AdamWOptions>> groups) {
  std::vector<ParamGroup<AdamOptions>> out;
  for (ParamGroup<AdamWOptions>& g : groups) {
    out.emplace_back(std::move(g.params));
    if (g.options) out.back().options = as_adam(*g.options);
  }
  return out;
}

}  // namespace

WeightDecaySplit split_weight_decay(const std::vector<Parameter*>& params) {
  WeightDecaySplit split;
  for (size_t i = 0; i < params.size(); ++i) {
    CONVNET_CHECK(params[i] != nullptr, "split_weight_decay: parameter ", i, " of ", params.size(),
                  " is null");
    (params[i]->value.shape().rank() >= 2 ? split.decay : split.no_decay).push_back(params[i]);
  }
  return split;
}

void OptimizerParamGroup::set_lr(float lr) {
  check_non_negative(label_, "learning rate", lr);
  lr_ = lr;
}

Optimizer::Optimizer(std::string name, std::vector<std::vector<Parameter*>> groups,
                     std::vector<float> lrs, bool grouped)
    : name_(std::move(name)), grouped_(grouped) {
  size_t total = 0;
  for (const auto& group : groups) total += group.size();
  // PyTorch's wording, so the message is found when searched for.
  CONVNET_CHECK(total > 0, name_, ": optimizer got an empty parameter list");
  struct Place {
    size_t group, index;
  };
  std::unordered_map<const Parameter*, Place> first;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::vector<Parameter*>& list = groups[g];
    CONVNET_CHECK(!list.empty(), group_label(g), " of ", groups.size(),
                  " is empty: it would update nothing (a filter that matched no parameter?)");
    for (size_t i = 0; i < list.size(); ++i) {
      CONVNET_CHECK(list[i] != nullptr, group_label(g), ": parameter ", i, " of ", list.size(),
                    " is null");
      const auto [seen, inserted] = first.emplace(list[i], Place{g, i});
      // Updated twice a step with the same gradient, a shared parameter would
      // move twice as far (PyTorch refuses it across parameter groups).
      if (!inserted && seen->second.group == g)
        CONVNET_FAIL(group_label(g), ": parameter ", i, " (\"", list[i]->name,
                     "\") appears more than once in the ",
                     grouped_ ? "group" : "parameter list", " (first as parameter ",
                     seen->second.index, ")");
      CONVNET_CHECK(inserted, name_, ": parameter ", i, " (\"", list[i]->name,
                    "\") of parameter group ", g, " is also parameter ", seen->second.index,
                    " of parameter group ", seen->second.group,
                    ": some parameters appear in more than one parameter group");
      params_.push_back(list[i]);
      group_of_.push_back(g);
      names_.push_back(list[i]->name);
    }
    groups_.push_back(OptimizerParamGroup(list, lrs[g], group_label(g)));
  }
}

std::string Optimizer::group_label(size_t group) const {
  return grouped_ ? name_ + ": parameter group " + std::to_string(group) : name_;
}

OptimizerParamGroup& Optimizer::param_group(size_t index) {
  CONVNET_CHECK(index < groups_.size(), name_, "::param_group: there is no group ", index,
                "; the optimizer has ", groups_.size());
  return groups_[index];
}

void Optimizer::set_lr(float lr) {
  check_non_negative(name_ + "::set_lr", "learning rate", lr);
  const double reference = groups_[0].initial_lr();
  for (size_t g = 0; g < groups_.size(); ++g) {
    const double initial = groups_[g].initial_lr();
    if (initial == reference) {  // the first group, and any built with its rate
      groups_[g].lr_ = lr;
      continue;
    }
    CONVNET_CHECK(reference != 0., name_, "::set_lr: the first parameter group was built with "
                  "learning rate 0, so there is no ratio to scale parameter group ", g,
                  " (built with ", groups_[g].initial_lr(),
                  ") by; set each group's rate with param_group(i).set_lr()");
    // Exact in double up to the final rounding: lr * initial is a product of two floats.
    groups_[g].lr_ = static_cast<float>(static_cast<double>(lr) * initial / reference);
  }
}

void Optimizer::step() {
  const Device device = params_[0]->value.device();
  for (const Parameter* p : params_)
    CONVNET_CHECK(p->value.device() == device && p->grad.device() == device,
                  "Optimizer::step: parameter ", p->name, " (grad on ", p->grad.device(),
                  ") is on ", p->value.device(), " but ", params_[0]->name, " is on ", device,
                  " — one optimizer updates parameters on one device");
  Backend& be = detail::resolve_backend(backend_, device, "Optimizer::step", "the parameters");
  // Each group's {lr, step} lives on the parameters' device and advances there
  // (one tiny kernel per group on a GPU, lr passed by value): no host-to-device
  // copy, no stall. It is written from the host only when created or after
  // set_step_count().
  schedules_.resize(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    Tensor& schedule = schedules_[g];
    if (!schedule.defined() || schedule.device() != device || schedule_stale_)
      schedule = Tensor::from_vector(
          std::vector<float>{groups_[g].lr(), static_cast<float>(step_)}, {2}, device);
    ops::schedule_step(be, schedule, groups_[g].lr());
  }
  schedule_stale_ = false;
  ++step_;
  for (size_t i = 0; i < params_.size(); ++i) update(be, *params_[i], i, schedules_[group_of_[i]]);
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

SGD::SGD(std::vector<Parameter*> params, const SGDOptions& options)
    : SGD({ParamGroup<SGDOptions>(std::move(params))}, options, /*grouped=*/false) {}

SGD::SGD(std::vector<ParamGroup<SGDOptions>> groups, const SGDOptions& defaults)
    : SGD(std::move(groups), defaults, /*grouped=*/true) {}

SGD::SGD(std::vector<ParamGroup<SGDOptions>> groups, const SGDOptions& defaults, bool grouped)
    : Optimizer("SGD", parameters_of(groups), lrs_of(groups, defaults), grouped),
      group_params_(sgd_params_of(groups, defaults)),
      momentum_(Optimizer::params().size()) {
  if (grouped) check_sgd(name() + ": defaults", defaults);
  const std::vector<SGDOptions> options = resolve(groups, defaults);
  for (size_t g = 0; g < options.size(); ++g)
    if (!grouped || groups[g].options) check_sgd(group_label(g), options[g]);
}

void SGD::create_state(Backend& be, Parameter& p, size_t index) {
  // Plain SGD has none.
  if (group_params_[group_of(index)].momentum != 0.f) prepare_state(be, momentum_[index], p.value);
}

void SGD::update(Backend& be, Parameter& p, size_t index, const Tensor& schedule) {
  create_state(be, p, index);
  const SgdParams& options = group_params_[group_of(index)];
  Tensor* buffer = options.momentum != 0.f ? &momentum_[index] : nullptr;
  ops::sgd_update(be, p.value, p.grad, buffer, options, schedule);
}

std::vector<std::pair<std::string, Tensor*>> SGD::state() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (size_t i = 0; i < momentum_.size(); ++i)
    if (momentum_[i].defined())
      out.emplace_back(parameter_name(i) + ".momentum_buffer", &momentum_[i]);
  return out;
}

// ---- Adam and AdamW

Adam::Adam(std::vector<Parameter*> params, const AdamOptions& options)
    : Adam("Adam", {ParamGroup<AdamOptions>(std::move(params))}, options, /*grouped=*/false,
           /*decoupled=*/false) {}

Adam::Adam(std::vector<ParamGroup<AdamOptions>> groups, const AdamOptions& defaults)
    : Adam("Adam", std::move(groups), defaults, /*grouped=*/true, /*decoupled=*/false) {}

Adam::Adam(std::string name, std::vector<ParamGroup<AdamOptions>> groups,
           const AdamOptions& defaults, bool grouped, bool decoupled)
    : Optimizer(std::move(name), parameters_of(groups), lrs_of(groups, defaults), grouped),
      group_params_(adam_params_of(groups, defaults, decoupled)),
      exp_avg_(Optimizer::params().size()),
      exp_avg_sq_(Optimizer::params().size()) {
  if (grouped) check_adam(this->name() + ": defaults", defaults);
  const std::vector<AdamOptions> options = resolve(groups, defaults);
  for (size_t g = 0; g < options.size(); ++g)
    if (!grouped || groups[g].options) check_adam(group_label(g), options[g]);
}

void Adam::create_state(Backend& be, Parameter& p, size_t index) {
  prepare_state(be, exp_avg_[index], p.value);
  prepare_state(be, exp_avg_sq_[index], p.value);
}

void Adam::update(Backend& be, Parameter& p, size_t index, const Tensor& schedule) {
  create_state(be, p, index);
  ops::adam_update(be, p.value, p.grad, exp_avg_[index], exp_avg_sq_[index],
                   group_params_[group_of(index)], schedule);
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

AdamW::AdamW(std::vector<Parameter*> params, const AdamWOptions& options)
    : Adam("AdamW", {ParamGroup<AdamOptions>(std::move(params))}, as_adam(options),
           /*grouped=*/false, /*decoupled=*/true) {}

AdamW::AdamW(std::vector<ParamGroup<AdamWOptions>> groups, const AdamWOptions& defaults)
    : Adam("AdamW", as_adam(std::move(groups)), as_adam(defaults), /*grouped=*/true,
           /*decoupled=*/true) {}

}  // namespace convnet::nn
