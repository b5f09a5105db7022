#include "convnet/nn/sequential.hpp"

#include "convnet/nn/layers.hpp"

namespace convnet::nn {
namespace {

// Runs `step` for layer i, prefixing any error with the layer's place in the
// network: op messages name the op but not which layer called it.
template <typename Step>
auto at_layer(size_t i, const Layer& layer, Step&& step) -> decltype(step()) {
  try {
    return step();
  } catch (const Error& e) {
    const std::string name = layer.name(), what = e.what();
    if (what.compare(0, name.size(), name) == 0) CONVNET_FAIL("Sequential layer ", i, " ", what);
    CONVNET_FAIL("Sequential layer ", i, " ", name, ": ", what);
  }
}

}  // namespace

Sequential& Sequential::add(std::unique_ptr<Layer> layer) {
  CONVNET_CHECK(layer != nullptr, "Sequential::add: the layer is null");
  // PyTorch's nn.Sequential names its children by index.
  layers_.push_back(&register_module(std::to_string(layers_.size()), std::move(layer)));
  drop_saved();  // a backward now would run a layer that saw no forward
  return *this;
}

bool Sequential::fuses_next(size_t i) const {
  if (!fusion_ || i + 1 >= layers_.size() || !layers_[i]->can_fuse_relu()) return false;
  const Layer& next = *layers_[i + 1];
  // Exactly ReLU (LeakyReLU is its own class), computed by the same backend.
  return dynamic_cast<const ReLU*>(&next) != nullptr &&
         next.backend_choice() == layers_[i]->backend_choice();
}

Tensor Sequential::forward(const Tensor& input, Mode mode) {
  keep_for_backward(mode);  // the layers keep (or drop) their own tensors
  absorbed_.assign(layers_.size(), false);
  Tensor x = input;
  try {
    for (size_t i = 0; i < layers_.size(); ++i) {
      const bool fuse = fuses_next(i);
      // Fused for this call only: the layer used on its own stays a plain layer.
      layers_[i]->set_fused_relu(fuse);
      try {
        x = at_layer(i, *layers_[i], [&] { return layers_[i]->forward(x, mode); });
      } catch (...) {
        layers_[i]->set_fused_relu(false);
        throw;
      }
      layers_[i]->set_fused_relu(false);
      if (fuse) {
        layers_[i + 1]->drop_saved();  // its backward would read an older pass
        absorbed_[++i] = true;
      }
    }
  } catch (...) {
    drop_saved();  // the later layers still hold an older pass: no backward through that
    throw;
  }
  forwards_seen_.clear();
  for (Layer* layer : layers_) forwards_seen_.push_back(layer->forwards_);
  return x;
}

Tensor Sequential::backward(const Tensor& grad_output) {
  check_backward();  // before any layer adds to a gradient
  // A layer run on its own since (net[i].forward) holds that pass instead of
  // this one: backward would mix the two without a word.
  for (size_t i = 0; i < layers_.size(); ++i)
    CONVNET_CHECK(absorbed_[i] || layers_[i]->forwards_ == forwards_seen_[i], "Sequential layer ", i,
                  " ", layers_[i]->name(), ": ran a forward of its own after the Sequential's "
                  "forward, so backward would combine two passes; run the Sequential's forward again");
  Tensor grad = grad_output;
  for (size_t i = layers_.size(); i-- > 0;) {
    if (absorbed_[i]) continue;  // the layer before applies ReLU's gradient
    if (i == 0) layers_[0]->set_input_grad(input_grad());  // it reads our input
    grad = at_layer(i, *layers_[i], [&] { return layers_[i]->backward(grad); });
  }
  return grad;
}

Shape Sequential::output_shape(const Shape& input_shape) const {
  Shape shape = input_shape;
  for (size_t i = 0; i < layers_.size(); ++i)
    shape = at_layer(i, *layers_[i], [&] { return layers_[i]->output_shape(shape); });
  return shape;
}

}  // namespace convnet::nn
