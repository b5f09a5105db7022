#include "convnet/nn/layer.hpp"

#include "convnet/ops.hpp"
#include "nn/backend_choice.hpp"

namespace convnet::nn {

// ---- parameters and children

void Layer::check_new_name(const std::string& name, const char* what) const {
  CONVNET_CHECK(!name.empty() && name.find('.') == std::string::npos, this->name(), ": ", what,
                " name \"", name, "\" must be non-empty and contain no '.' (dots separate ",
                "the levels of a dotted name such as \"block.conv1.weight\")");
  for (const OwnParameter& p : parameters_)
    CONVNET_CHECK(p.name != name, this->name(), ": ", what, " name \"", name,
                  "\" is taken by a parameter of this layer");
  for (const OwnBuffer& b : buffers_)
    CONVNET_CHECK(b.name != name, this->name(), ": ", what, " name \"", name,
                  "\" is taken by a buffer of this layer");
  for (const Child& c : children_)
    CONVNET_CHECK(c.name != name, this->name(), ": ", what, " name \"", name,
                  "\" is taken by the child ", c.layer->name());
}

Buffer& Layer::register_buffer(const std::string& name, Tensor value, bool host_only) {
  check_new_name(name, "register_buffer:");
  CONVNET_CHECK(value.defined(), this->name(), ": register_buffer: \"", name,
                "\" has an undefined tensor");
  CONVNET_CHECK(!host_only || value.device().is_cpu(), this->name(), ": register_buffer: \"",
                name, "\" is host-only but lives on ", value.device());
  buffers_.push_back({name, std::make_unique<Buffer>(Buffer{name, std::move(value), host_only})});
  return *buffers_.back().buffer;
}

Tensor Layer::forward_fused_relu(Layer& child, const Tensor& input, Mode mode) {
  CONVNET_CHECK(child.can_fuse_relu(), child.name(), ": cannot compute a following ReLU itself");
  child.set_fused_relu(true);
  try {
    Tensor out = child.forward(input, mode);
    child.set_fused_relu(false);
    return out;
  } catch (...) {
    child.set_fused_relu(false);
    throw;
  }
}

Parameter& Layer::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name, "register_parameter:");
  CONVNET_CHECK(value.defined(), this->name(), ": register_parameter: \"", name,
                "\" has an undefined tensor");
  Tensor grad = Tensor::zeros(value.shape(), value.device(), value.dtype());
  auto p = std::make_unique<Parameter>(Parameter{name, std::move(value), std::move(grad)});
  parameters_.push_back({name, std::move(p)});
  return *parameters_.back().parameter;
}

Layer& Layer::add_child(const std::string& name, std::unique_ptr<Layer> child) {
  CONVNET_CHECK(child != nullptr, this->name(), ": register_module: the child \"", name,
                "\" is null");
  CONVNET_CHECK(child.get() != this, this->name(), ": register_module: a layer cannot be its own child");
  check_new_name(name, "register_module:");
  // Model-wide settings made before cover children added after.
  if (backend_) child->set_backend(backend_);
  if (retain_graph_) child->set_retain_graph(true);
  children_.push_back({name, std::move(child)});
  return *children_.back().layer;
}

std::vector<Parameter*> Layer::parameters() {
  std::vector<Parameter*> out;
  name_parameters("", out);
  return out;
}

void Layer::name_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  for (OwnParameter& p : parameters_) {
    p.parameter->name = prefix + p.name;
    out.push_back(p.parameter.get());
  }
  for (Child& c : children_) c.layer->name_parameters(prefix + c.name + ".", out);
}

std::vector<Buffer*> Layer::buffers() {
  std::vector<Buffer*> out;
  name_buffers("", out);
  return out;
}

void Layer::name_buffers(const std::string& prefix, std::vector<Buffer*>& out) {
  for (OwnBuffer& b : buffers_) {
    b.buffer->name = prefix + b.name;
    out.push_back(b.buffer.get());
  }
  for (Child& c : children_) c.layer->name_buffers(prefix + c.name + ".", out);
}

std::vector<std::pair<std::string, Layer*>> Layer::named_children() const {
  std::vector<std::pair<std::string, Layer*>> out;
  for (const Child& c : children_) out.emplace_back(c.name, c.layer.get());
  return out;
}

int64_t Layer::parameter_count() const {
  int64_t count = 0;
  for (const OwnParameter& p : parameters_) count += p.parameter->value.numel();
  for (const Child& c : children_) count += c.layer->parameter_count();
  return count;
}

// ---- settings passed down the tree

void Layer::to(Device device) {
  for (OwnParameter& own : parameters_) {
    Parameter& p = *own.parameter;
    p.value = p.value.to(device);
    p.grad = p.grad.to(device);
  }
  for (OwnBuffer& own : buffers_)
    if (!own.buffer->host_only) own.buffer->value = own.buffer->value.to(device);
  for (Child& c : children_) c.layer->to(device);
  drop_saved();
}

void Layer::set_backend(std::optional<Backend::Kind> kind) {
  backend_ = kind;
  for (Child& c : children_) c.layer->set_backend(kind);
}

void Layer::set_retain_graph(bool on) {
  retain_graph_ = on;
  for (Child& c : children_) c.layer->set_retain_graph(on);
}

void Layer::zero_grad() {
  for (OwnParameter& own : parameters_) {
    Parameter& p = *own.parameter;
    ops::fill(backend_for(p.grad.device()), p.grad, 0.f);
  }
  for (Child& c : children_) c.layer->zero_grad();
}

Backend& Layer::backend_for(Device device) const {
  return detail::resolve_backend(backend_, device, name());
}

// ---- forward/backward bookkeeping

bool Layer::keep_for_backward(Mode mode) {
  // Drop the previous forward's tensors before computing: an Eval pass never
  // holds a Train pass's activations, and a Train pass frees the old ones as
  // it goes instead of after it has made the new ones.
  clear_cache();
  // Children start this pass with nothing kept: one this forward does not
  // reach (it threw first) refuses backward instead of adding an older pass.
  for (Child& c : children_) c.layer->drop_saved_tree();
  last_forward_ = mode == Mode::Train ? LastForward::Train : LastForward::Eval;
  backward_ran_ = false;
  ++forwards_;
  return mode == Mode::Train;
}

void Layer::check_forward_state() const {
  CONVNET_CHECK(last_forward_ != LastForward::None, name(),
                ": backward called without a finished forward in Mode::Train");
  CONVNET_CHECK(last_forward_ == LastForward::Train, name(),
                ": backward needs a forward in Mode::Train; the latest forward ran in "
                "Mode::Eval, which keeps nothing for backward");
}

void Layer::check_backward() {
  check_forward_state();
  // Each backward adds its parameter gradients: a second one over the same
  // forward would double them without a word.
  CONVNET_CHECK(!backward_ran_ || retain_graph_, name(),
                ": backward called twice after one forward; run a new forward in Mode::Train, "
                "or call set_retain_graph(true) to accumulate the gradients of several backward "
                "passes (PyTorch's retain_graph=True)");
  backward_ran_ = true;
}

void Layer::check_backward(const Tensor& kept) {
  check_forward_state();
  CONVNET_CHECK(kept.defined(), name(),
                ": backward needs a forward in Mode::Train that finished; the latest one threw");
  check_backward();
}

void Layer::drop_saved_tree() {
  drop_saved();
  for (Child& c : children_) c.layer->drop_saved_tree();
}

void Layer::drop_saved() {
  clear_cache();
  last_forward_ = LastForward::None;
  backward_ran_ = false;
  ++forwards_;
}

std::vector<Shape> Layer::child_input_shapes(const Shape& input_shape) const {
  std::vector<Shape> shapes;
  Shape shape = input_shape;
  for (const Child& c : children_) {
    shapes.push_back(shape);
    try {
      shape = c.layer->output_shape(shape);
    } catch (const Error&) {
      break;  // the summary asks this child again and reports it with its path
    }
  }
  return shapes;
}

}  // namespace convnet::nn
