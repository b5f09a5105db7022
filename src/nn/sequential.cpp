#include "convnet/nn/sequential.hpp"

#include <algorithm>
#include <sstream>

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
  // PyTorch's state_dict keys: "<index>.<name>", nested sequentials nest the prefix.
  const std::string prefix = std::to_string(layers_.size()) + ".";
  for (Parameter* p : layer->parameters()) p->name = prefix + p->name;
  if (backend_choice()) layer->set_backend(backend_choice());  // a model-wide choice covers later layers
  layers_.push_back(std::move(layer));
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
  return x;
}

Tensor Sequential::backward(const Tensor& grad_output) {
  check_backward();  // before any layer adds to a gradient
  Tensor grad = grad_output;
  for (size_t i = layers_.size(); i-- > 0;) {
    if (absorbed_[i]) continue;  // the layer before applies ReLU's gradient
    grad = at_layer(i, *layers_[i], [&] { return layers_[i]->backward(grad); });
  }
  return grad;
}

std::vector<Parameter*> Sequential::parameters() {
  std::vector<Parameter*> all;
  for (auto& layer : layers_) {
    std::vector<Parameter*> own = layer->parameters();
    all.insert(all.end(), own.begin(), own.end());
  }
  return all;
}

Shape Sequential::output_shape(const Shape& input_shape) const {
  Shape shape = input_shape;
  for (size_t i = 0; i < layers_.size(); ++i)
    shape = at_layer(i, *layers_[i], [&] { return layers_[i]->output_shape(shape); });
  return shape;
}

void Sequential::to(Device device) {
  // Each layer moves its own parameters and drops its own cache.
  for (auto& layer : layers_) layer->to(device);
  drop_saved();
}

void Sequential::set_backend(std::optional<Backend::Kind> kind) {
  Layer::set_backend(kind);
  for (auto& layer : layers_) layer->set_backend(kind);
}

std::string Sequential::summary(const Shape& input_shape, Device device) const {
  // Rows first, then pad every column to its widest cell.
  std::vector<std::vector<std::string>> rows{
      {"#", "layer", "output shape", "params", "backend", "path"}};
  Shape shape = input_shape;
  int64_t total = 0;
  bool absorbed = false;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = *layers_[i];
    shape = at_layer(i, layer, [&] { return layer.output_shape(shape); });
    const int64_t count = layer.parameter_count();
    total += count;
    const Backend::Kind kind = layer.backend_choice().value_or(default_backend(device));
    std::string path;
    if (absorbed) {
      path = "fused into " + std::to_string(i - 1);
    } else {
      const Backend::Op op = layer.backend_op(fuses_next(i));
      try {
        if (op != Backend::Op::Other) path = get_backend(kind).path(op);
      } catch (const Error&) {
        path = "(unavailable here)";
      }
    }
    absorbed = !absorbed && fuses_next(i);
    rows.push_back({std::to_string(i), layer.name(), shape.str(), std::to_string(count),
                    backend_name(kind), path});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());

  std::ostringstream os;
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      os << row[c];
      if (c + 1 < row.size()) os << std::string(width[c] - row[c].size() + 2, ' ');
    }
    os << "\n";
  }
  os << "input " << input_shape << " on " << device << ", total parameters: " << total << "\n";
  return os.str();
}

}  // namespace convnet::nn
