// Optimizers with PyTorch's update rules (torch.optim.SGD, Adam, AdamW), so the
// same hyperparameters give the same trajectory. Each update runs on the
// parameters' device through the backend chosen for the optimizer; the learning
// rate and step count live in a small device tensor (Backend's `schedule`).
//
// They take their options as libtorch's do (optim_options.hpp):
//   nn::SGD sgd(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f));
// and refuse, with a convnet::Error, what PyTorch refuses: an empty parameter
// list, a parameter given twice, and out-of-range options.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "convnet/backend.hpp"
#include "convnet/nn/layer.hpp"
#include "convnet/nn/optim_options.hpp"

namespace convnet::nn {

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // One update of every parameter from its grad.
  void step();
  void zero_grad();

  float lr() const { return lr_; }
  void set_lr(float lr) { lr_ = lr; }  // for schedules; takes effect at the next step
  int64_t step_count() const { return step_; }
  void set_backend(std::optional<Backend::Kind> kind) { backend_ = kind; }

  // The parameters it updates, in the order given; checkpoints tie the optimizer
  // state to their values (io::save_optimizer).
  const std::vector<Parameter*>& parameters() const { return params_; }

  // "SGD", "Adam", "AdamW": checkpoints refuse to load one optimizer's state into another.
  const std::string& name() const { return name_; }
  // Per-parameter state tensors, named "<param>.<state>" (e.g. "0.weight.exp_avg"),
  // for checkpoints. Created at the first step, or by ensure_state(). <param> is
  // the parameter's name when the optimizer was built: calling parameters() on a
  // part of the model later (which names from that part) does not rename it.
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
  // `name` names the optimizer in errors and checkpoints. Throws convnet::Error
  // for an empty list, a null parameter, one given twice, or lr < 0 (or not finite).
  // Parameters a model registers after this are not updated (as in PyTorch).
  Optimizer(std::string name, std::vector<Parameter*> params, float lr);

  virtual void update(Backend& be, Parameter& p, size_t index, const Tensor& schedule) = 0;
  // Creates (or moves to the parameter's device) the state of parameter `index`.
  virtual void create_state(Backend& be, Parameter& p, size_t index) = 0;
  const std::vector<Parameter*>& params() const { return params_; }
  const std::string& parameter_name(size_t index) const { return names_[index]; }

 private:
  std::string name_;
  std::vector<Parameter*> params_;
  std::vector<std::string> names_;  // as given: state() names follow them
  float lr_;
  int64_t step_ = 0;
  std::optional<Backend::Kind> backend_;
  Tensor schedule_;  // {lr, step} on the parameters' device
  bool schedule_stale_ = false;  // step_ was set from the host
};

class SGD : public Optimizer {
 public:
  // Throws convnet::Error for lr, momentum or weight_decay < 0, a dampening
  // that is not finite, and nesterov without momentum or with dampening.
  SGD(std::vector<Parameter*> params, const SGDOptions& options);
  std::vector<std::pair<std::string, Tensor*>> state() override;

 protected:
  void update(Backend& be, Parameter& p, size_t index, const Tensor& schedule) override;
  void create_state(Backend& be, Parameter& p, size_t index) override;

 private:
  SgdParams params_;
  std::vector<Tensor> momentum_;
};

class Adam : public Optimizer {
 public:
  // Throws convnet::Error for lr, eps or weight_decay < 0 and betas outside [0, 1).
  explicit Adam(std::vector<Parameter*> params, const AdamOptions& options = AdamOptions());
  std::vector<std::pair<std::string, Tensor*>> state() override;

 protected:
  Adam(std::string name, std::vector<Parameter*> params, float lr, AdamParams p);
  void update(Backend& be, Parameter& p, size_t index, const Tensor& schedule) override;
  void create_state(Backend& be, Parameter& p, size_t index) override;

 private:
  AdamParams params_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
};

class AdamW : public Adam {
 public:
  // The checks of Adam.
  explicit AdamW(std::vector<Parameter*> params, const AdamWOptions& options = AdamWOptions());
};

}  // namespace convnet::nn
