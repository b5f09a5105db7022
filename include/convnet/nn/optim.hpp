// Optimizers with PyTorch's update rules (torch.optim.SGD, Adam, AdamW), so the
// same hyperparameters give the same trajectory. Each update runs on the
// parameters' device through the backend chosen for the optimizer; the learning
// rate and step count live in a small device tensor (Backend's `schedule`).
//
// They take their options as libtorch's do (optim_options.hpp):
//   nn::SGD sgd(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
// and refuse, with a convnet::Error, what PyTorch refuses: an empty parameter
// list, a parameter given twice, and out-of-range options.
//
// Parameter groups (PyTorch's param_groups, libtorch's OptimizerParamGroup):
// a list of ParamGroup, each its parameters and, optionally, its own options;
// a group without options takes the optimizer's defaults (PyTorch's keyword
// arguments). A group's options are whole, not a difference from the defaults:
// copy the defaults and change what differs. PyTorch's
//   SGD([{'params': decay}, {'params': no_decay, 'weight_decay': 0}],
//       lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
// is
//   const auto options = nn::SGDOptions(0.1f).momentum(0.9f).nesterov(true).weight_decay(5e-4f);
//   const nn::WeightDecaySplit split = nn::split_weight_decay(net.parameters());
//   nn::SGD sgd({{split.decay}, {split.no_decay, nn::SGDOptions(options).weight_decay(0.f)}},
//               options);
// The list constructors are one group. Every group is updated exactly as an
// optimizer of its own with the same options would update it (bit for bit);
// the step count is the optimizer's, shared by all groups. Refused, naming the
// group and the parameter: no groups, an empty group (PyTorch accepts one; it
// updates nothing, and is usually a filter that matched nothing), a null
// parameter, a parameter twice in a group or in two groups, and out-of-range
// options of any group or of the defaults.
//
// The learning rate with several groups follows PyTorch's schedulers, which
// scale each group from its own initial rate (LambdaLR, StepLR, LinearLR,
// CosineAnnealingLR with eta_min 0): set_lr(lr) gives the first group lr and
// group g the rate
//   initial_lr(g) * lr / initial_lr(0)   (computed in double, rounded to float),
// initial_lr being the rate the group was built with. A schedule written for the
// first group (train::Trainer's, whose rates are absolute) thus keeps the groups'
// ratios, and groups built with equal rates all get exactly lr (which is what
// PyTorch's OneCycleLR with a single max_lr does to every group). lr() is the
// first group's rate. param_group(g).set_lr() sets one group's rate, until the
// next set_lr(). With one group set_lr(lr) is simply its rate.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "convnet/backend.hpp"
#include "convnet/nn/layer.hpp"
#include "convnet/nn/optim_options.hpp"

namespace convnet::nn {

// One parameter group as given to an optimizer: SGD takes ParamGroup<SGDOptions>,
// Adam ParamGroup<AdamOptions>, AdamW ParamGroup<AdamWOptions>. Implicit from a
// parameter list, so `{{decay}, {no_decay, options}}` lists two groups.
template <typename Options>
struct ParamGroup {
  ParamGroup(std::vector<Parameter*> parameters) : params(std::move(parameters)) {}  // NOLINT
  ParamGroup(std::vector<Parameter*> parameters, Options group_options)
      : params(std::move(parameters)), options(std::move(group_options)) {}

  std::vector<Parameter*> params;
  std::optional<Options> options;  // none: the optimizer's defaults
};

// "No weight decay on biases and normalization": PyTorch users split
// model.parameters() by rank. decay: rank >= 2 (convolution and linear
// weights); no_decay: rank <= 1 (biases, BatchNorm's weight and bias). Order is
// kept within each list. Throws convnet::Error for a null parameter.
struct WeightDecaySplit {
  std::vector<Parameter*> decay;
  std::vector<Parameter*> no_decay;
};
WeightDecaySplit split_weight_decay(const std::vector<Parameter*>& params);

// What an optimizer keeps of a group: its parameters and learning rate
// (libtorch's OptimizerParamGroup; the other options stay with the optimizer).
class OptimizerParamGroup {
 public:
  const std::vector<Parameter*>& params() const { return params_; }
  float lr() const { return lr_; }
  // Takes effect at the next step. Throws convnet::Error for lr < 0 or not finite.
  void set_lr(float lr);
  // The rate the group was built with (PyTorch's "initial_lr"), which set_lr scales.
  float initial_lr() const { return initial_lr_; }

 private:
  friend class Optimizer;
  OptimizerParamGroup(std::vector<Parameter*> params, float lr, std::string label)
      : params_(std::move(params)), lr_(lr), initial_lr_(lr), label_(std::move(label)) {}

  std::vector<Parameter*> params_;
  float lr_, initial_lr_;
  std::string label_;  // "SGD: parameter group 1", or "SGD" for the list constructors
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of every parameter from its grad.
  void step();
  void zero_grad();

  // The first group's learning rate (the only one's, without groups).
  float lr() const { return groups_[0].lr(); }
  // For schedules; takes effect at the next step. Several groups: each is scaled
  // with the first (the header's comment). Throws convnet::Error for lr < 0 or
  // not finite, and with several groups when the first group's initial rate is
  // 0 and another's is not (there is no ratio to keep).
  void set_lr(float lr);
  int64_t step_count() const { return step_; }
  void set_backend(std::optional<Backend::Kind> kind) { backend_ = kind; }

  // The groups in the order given (one for the list constructors).
  const std::vector<OptimizerParamGroup>& param_groups() const { return groups_; }
  // Group `index`, to set its rate. Throws convnet::Error when there is no such group.
  OptimizerParamGroup& param_group(size_t index);

  // The parameters it updates: every group's, in the order given; checkpoints
  // tie the optimizer state to their values (io::save_optimizer).
  const std::vector<Parameter*>& parameters() const { return params_; }

  // "SGD", "Adam", "AdamW": checkpoints refuse to load one optimizer's state into another.
  const std::string& name() const { return name_; }
  // Per-parameter state tensors, named "<param>.<state>" (e.g. "0.weight.exp_avg"),
  // for checkpoints. Created at the first step, or by ensure_state(). <param> is
  // the parameter's name when the optimizer was built: calling parameters() on a
  // part of the model later (which names from that part) does not rename it.
  // Groups do not change the names: state is per parameter.
  virtual std::vector<std::pair<std::string, Tensor*>> state() = 0;
  // Creates the zero state the first step would create, so that a checkpoint can
  // be loaded into a fresh optimizer. Zero state at step 0 updates exactly like
  // no state, so calling this never changes the trajectory.
  void ensure_state();
  // Restores the step count (the state tensors are restored through state()).
  void set_step_count(int64_t step) {
    step_ = step;
    schedule_stale_ = true;
  }

 protected:
  // `name` names the optimizer in errors and checkpoints; `groups` and `lrs` are
  // the groups' parameters and learning rates; `grouped` says whether the user
  // gave groups (errors then name the group). Throws convnet::Error for no
  // parameters, an empty group, a null parameter or one given twice. The rates
  // are checked by the derived class with the other options. Parameters a
  // model registers after this are not updated (as in PyTorch).
  Optimizer(std::string name, std::vector<std::vector<Parameter*>> groups, std::vector<float> lrs,
            bool grouped);

  virtual void update(Backend& be, Parameter& p, size_t index, const Tensor& schedule) = 0;
  // Creates (or moves to the parameter's device) the state of parameter `index`.
  virtual void create_state(Backend& be, Parameter& p, size_t index) = 0;
  const std::vector<Parameter*>& params() const { return params_; }
  const std::string& parameter_name(size_t index) const { return names_[index]; }
  // The group of parameter `index` (an index into parameters()).
  size_t group_of(size_t index) const { return group_of_[index]; }
  // How errors name group `group`: "SGD: parameter group 1", or "SGD" without groups.
  std::string group_label(size_t group) const;

 private:
  std::string name_;
  bool grouped_;
  std::vector<OptimizerParamGroup> groups_;
  std::vector<Parameter*> params_;  // every group's, in order
  std::vector<size_t> group_of_;    // per parameter
  std::vector<std::string> names_;  // as given: state() names follow them
  int64_t step_ = 0;
  std::optional<Backend::Kind> backend_;
  std::vector<Tensor> schedules_;  // per group {lr, step}, on the parameters' device
  bool schedule_stale_ = false;    // step_ was set from the host
};

class SGD : public Optimizer {
 public:
  // Throws convnet::Error for lr, momentum or weight_decay < 0, a dampening
  // that is not finite, and nesterov without momentum or with dampening.
  SGD(std::vector<Parameter*> params, const SGDOptions& options);
  // A braced list of parameters, `{&w, &b}`: without it the list would also fit
  // std::vector<ParamGroup>'s iterator-pair constructor (a Parameter* is an iterator).
  SGD(std::initializer_list<Parameter*> params, const SGDOptions& options)
      : SGD(std::vector<Parameter*>(params), options) {}
  // Groups without options take `defaults`. The checks of the list constructor,
  // for every group's options and for the defaults.
  SGD(std::vector<ParamGroup<SGDOptions>> groups, const SGDOptions& defaults);
  std::vector<std::pair<std::string, Tensor*>> state() override;

 protected:
  void update(Backend& be, Parameter& p, size_t index, const Tensor& schedule) override;
  void create_state(Backend& be, Parameter& p, size_t index) override;

 private:
  SGD(std::vector<ParamGroup<SGDOptions>> groups, const SGDOptions& defaults, bool grouped);

  std::vector<SgdParams> group_params_;  // per group
  std::vector<Tensor> momentum_;         // per parameter
};

class Adam : public Optimizer {
 public:
  // Throws convnet::Error for lr, eps or weight_decay < 0 and betas outside [0, 1).
  explicit Adam(std::vector<Parameter*> params, const AdamOptions& options = AdamOptions());
  explicit Adam(std::initializer_list<Parameter*> params, const AdamOptions& options = AdamOptions())
      : Adam(std::vector<Parameter*>(params), options) {}  // as SGD's
  // Groups without options take `defaults`; the checks of the list constructor
  // for every group's options and for the defaults.
  explicit Adam(std::vector<ParamGroup<AdamOptions>> groups,
                const AdamOptions& defaults = AdamOptions());
  std::vector<std::pair<std::string, Tensor*>> state() override;

 protected:
  // AdamW's options are Adam's with decoupled weight decay.
  Adam(std::string name, std::vector<ParamGroup<AdamOptions>> groups, const AdamOptions& defaults,
       bool grouped, bool decoupled);
  void update(Backend& be, Parameter& p, size_t index, const Tensor& schedule) override;
  void create_state(Backend& be, Parameter& p, size_t index) override;

 private:
  std::vector<AdamParams> group_params_;  // per group
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
};

class AdamW : public Adam {
 public:
  // The checks of Adam.
  explicit AdamW(std::vector<Parameter*> params, const AdamWOptions& options = AdamWOptions());
  explicit AdamW(std::initializer_list<Parameter*> params,
                 const AdamWOptions& options = AdamWOptions())
      : AdamW(std::vector<Parameter*>(params), options) {}  // as SGD's
  explicit AdamW(std::vector<ParamGroup<AdamWOptions>> groups,
                 const AdamWOptions& defaults = AdamWOptions());
};

}  // namespace convnet::nn
