// Sequential: layers applied in order; backward runs them in reverse.
// Parameter names get the layer's index as prefix ("0.weight", "3.bias"),
// matching PyTorch's nn.Sequential state_dict keys.
//
// Fusion (on by default): a Conv2d or Linear followed by a ReLU with the same
// backend choice runs as one fused forward (Backend::conv2d_bias_relu_forward,
// one cuDNN graph), and the pair keeps only the fused output for backward, not
// the pre-activation. Results are the same as unfused, within the backend's
// rounding. The summary shows which pairs fused.
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
  // Fuse Conv2d/Linear + ReLU pairs from the next forward on (default true).
  void set_fusion(bool on) { fusion_ = on; }
  bool fusion() const { return fusion_; }

  // A table: index, layer, output shape, parameter count, backend; then totals.
  // `device` is where the input will live (it decides the default backend shown).
  // The path column says how each layer's backend computes it ("cudnn fused
  // graph", "implicit gemm", ...); a ReLU fused into the layer before it says so.
  std::string summary(const Shape& input_shape, Device device = Device::cpu()) const;

 private:
  // Whether layer i takes the ReLU at i + 1 into its forward.
  bool fuses_next(size_t i) const;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<bool> absorbed_;  // absorbed_[i]: layer i (a ReLU) ran inside layer i - 1
  bool fusion_ = true;
};

}  // namespace convnet::nn
