// Layer: the unit a network is built from.
//
// forward(x, Mode::Train) computes the output and keeps what backward needs;
// backward(dL/dy) returns dL/dx and *adds* dL/dparameter into each parameter's
// grad (so gradients of several backward passes accumulate until zero_grad()).
// backward refers to the most recent forward.
//
// forward(x, Mode::Eval) keeps nothing: no saved input, no max-pool argmax, no
// dropout mask, and it drops what an earlier Train forward kept. Evaluating a
// large batch therefore holds only the parameters and the activations in
// flight. backward after an Eval forward throws convnet::Error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "convnet/backend.hpp"
#include "convnet/tensor.hpp"

namespace convnet::nn {

enum class Mode { Train, Eval };

struct Parameter {
  std::string name;  // "weight" in a bare layer, "0.weight" once added to a Sequential
  Tensor value;
  Tensor grad;       // same shape and device as value
};

class Layer {
 public:
  virtual ~Layer() = default;

  virtual Tensor forward(const Tensor& input, Mode mode) = 0;
  virtual Tensor backward(const Tensor& grad_output) = 0;

  // Pointers stay valid for the layer's lifetime.
  virtual std::vector<Parameter*> parameters() { return {}; }
  // The layer and its options as PyTorch's repr prints them:
  // "Conv2d(1, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))".
  virtual std::string name() const = 0;
  // Output shape for an input shape; throws convnet::Error when the input does not fit.
  virtual Shape output_shape(const Shape& input_shape) const = 0;

  // Moves parameters and their gradients to `device` and drops what the last
  // forward kept (backward then needs a new Train forward).
  virtual void to(Device device);
  // Which backend computes this layer. nullopt (the default) picks
  // default_backend() of the input's device at each call.
  virtual void set_backend(std::optional<Backend::Kind> kind) { backend_ = kind; }
  std::optional<Backend::Kind> backend_choice() const { return backend_; }
  // The backend that runs on tensors on `device` under the current choice;
  // throws convnet::Error when the chosen backend cannot compute there.
  Backend& backend_for(Device device) const;

  void zero_grad();
  int64_t parameter_count();

  // Which Backend operation this layer runs; the model summary names the path
  // the backend takes for it. `fused_relu`: with a following ReLU fused in.
  virtual Backend::Op backend_op(bool fused_relu) const {
    (void)fused_relu;
    return Backend::Op::Other;
  }
  // Whether this layer can compute a following ReLU itself (Conv2d, Linear:
  // Backend's fused forwards). Sequential decides when it does (set_fusion).
  virtual bool can_fuse_relu() const { return false; }

 protected:
  // Drop tensors kept for backward.
  virtual void clear_cache() {}

  // Every forward calls this first. It drops what the previous forward kept,
  // records the mode for backward, and returns whether this forward must keep
  // tensors for backward (Mode::Train).
  bool keep_for_backward(Mode mode);
  // Every backward calls this first: throws convnet::Error naming the layer
  // unless the latest forward ran in Mode::Train and `kept` (a tensor it keeps)
  // is there, which it is not when that forward threw.
  void check_backward() const;
  void check_backward(const Tensor& kept) const;
  // clear_cache(), and backward needs a new forward (to() calls it).
  void drop_saved();

 private:
  friend class Sequential;  // fuses a layer with the ReLU after it
  // Apply ReLU after this layer in its forward (only if can_fuse_relu()); Sequential
  // sets it around one forward call and clears it after.
  virtual void set_fused_relu(bool on) { (void)on; }

  enum class LastForward { None, Train, Eval };
  std::optional<Backend::Kind> backend_;
  LastForward last_forward_ = LastForward::None;
};

}  // namespace convnet::nn
