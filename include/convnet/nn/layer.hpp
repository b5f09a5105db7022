// Layer: the unit a network is built from.
//
// forward(x, mode) computes the output and keeps what backward needs;
// backward(dL/dy) returns dL/dx and *adds* dL/dparameter into each parameter's
// grad (so gradients of several backward passes accumulate until zero_grad()).
// backward refers to the most recent forward.
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
  // "Conv2d(1, 32, kernel=5, stride=1, padding=2)"
  virtual std::string name() const = 0;
  // Output shape for an input shape; throws convnet::Error when the input does not fit.
  virtual Shape output_shape(const Shape& input_shape) const = 0;

  // Moves parameters and their gradients to `device` and drops cached activations.
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

 protected:
  // Drop tensors kept for backward (called by to()).
  virtual void clear_cache() {}

 private:
  std::optional<Backend::Kind> backend_;
};

}  // namespace convnet::nn
