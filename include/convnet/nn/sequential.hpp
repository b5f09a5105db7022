// Sequential: layers applied in order; backward runs them in reverse.
// The layers are its children "0", "1", ... (Layer::register_module), so
// parameter names get the layer's index as prefix ("0.weight", "3.bias"),
// matching PyTorch's nn.Sequential state_dict keys; a nested Sequential or
// block nests the prefix ("2.conv1.weight").
//
// Fusion (on by default): a Conv2d or Linear followed by a ReLU with the same
// backend choice runs as one fused forward (Backend::conv2d_bias_relu_forward,
// one cuDNN graph), and the pair keeps only the fused output for backward, not
// the pre-activation. Results are the same as unfused, within the backend's
// rounding. The summary (Layer::summary) shows which pairs fused.
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
  std::string name() const override { return "Sequential"; }
  Shape output_shape(const Shape& input_shape) const override;
  // Fuse Conv2d/Linear + ReLU pairs from the next forward on (default true).
  void set_fusion(bool on) { fusion_ = on; }
  bool fusion() const { return fusion_; }

 protected:
  bool child_fuses_next(size_t index) const override { return fuses_next(index); }

 private:
  // Whether layer i takes the ReLU at i + 1 into its forward.
  bool fuses_next(size_t i) const;
  std::vector<Layer*> layers_;  // the children, owned by Layer
  std::vector<bool> absorbed_;  // absorbed_[i]: layer i (a ReLU) ran inside layer i - 1
  std::vector<uint64_t> forwards_seen_;  // each layer's forward count after the last forward
  bool fusion_ = true;
};

}  // namespace convnet::nn
