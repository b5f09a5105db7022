// Sequential: layers applied in order; backward runs them in reverse.
// Parameter names get the layer's index as prefix ("0.weight", "3.bias"),
// matching PyTorch's nn.Sequential state_dict keys.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "convnet/nn/layer.hpp"

namespace convnet::nn {

class Sequential : public Layer {
 public:
  template <typename L, typename... Args>
  Sequential& add(Args&&... args) {
    return add(std::make_unique<L>(std::forward<Args>(args)...));
  }
  Sequential& add(std::unique_ptr<Layer> layer);

  size_t size() const { return layers_.size(); }
  Layer& operator[](size_t i) { return *layers_.at(i); }

  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::vector<Parameter*> parameters() override;
  std::string name() const override { return "Sequential"; }
  Shape output_shape(const Shape& input_shape) const override;
  void to(Device device) override;
  void set_backend(std::optional<Backend::Kind> kind) override;  // every layer

  // A table: index, layer, output shape, parameter count, backend; then totals.
  // `device` is where the input will live (it decides the default backend shown).
  std::string summary(const Shape& input_shape, Device device = Device::cpu()) const;

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
};

}  // namespace convnet::nn
