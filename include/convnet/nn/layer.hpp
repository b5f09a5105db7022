// Layer: the unit a network is built from, and the base of layers made of
// layers (libtorch's torch::nn::Module; `Module` is an alias).
//
// forward(x, Mode::Train) computes the output and keeps what backward needs;
// backward(dL/dy) returns dL/dx and *adds* dL/dparameter into each parameter's
// grad (gradients accumulate until zero_grad()). backward refers to the most
// recent forward, and runs once per Train forward: a second backward would add
// the same gradients again, so it throws convnet::Error naming the layer unless
// set_retain_graph(true) asks for exactly that (PyTorch's retain_graph=True).
// A backward that threw counts as the one backward: it may have added part of
// its gradients already.
//
// forward(x, Mode::Eval) keeps nothing: no saved input, no max-pool argmax, no
// dropout mask, and it drops what an earlier Train forward kept. Evaluating a
// large batch therefore holds only the parameters and the activations in
// flight. backward after an Eval forward throws convnet::Error.
//
// Parameters and children. A layer registers its parameters
// (register_parameter) and the layers it is made of (register_module) under
// names; parameters() walks the tree and names each parameter by its dotted
// path ("weight", "0.weight", "block.conv1.bias"), PyTorch's state_dict keys.
// to(), set_backend(), zero_grad() and set_retain_graph() reach every child;
// the mode reaches them through forward(x, mode), which the composite writes.
// A composite block:
//
//   class Block : public nn::Module {
//    public:
//     Block() : conv1_(&register_module("conv1", std::make_unique<nn::Conv2d>(8, 8, 3))),
//               relu_(&register_module("relu", std::make_unique<nn::ReLU>())) {}
//     Tensor forward(const Tensor& x, nn::Mode mode) override {
//       keep_for_backward(mode);
//       return relu_->forward(conv1_->forward(x, mode), mode);
//     }
//     Tensor backward(const Tensor& dy) override {
//       check_backward();  // before any child adds to a gradient
//       return conv1_->backward(relu_->backward(dy));
//     }
//     ...
//    private:
//     nn::Conv2d* conv1_;
//     nn::ReLU* relu_;
//   };
//
// docs/custom_layers.md walks through a leaf layer and a block.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "convnet/backend.hpp"
#include "convnet/tensor.hpp"

namespace convnet::nn {

enum class Mode { Train, Eval };

struct Parameter {
  // Dotted path from the layer whose parameters() was called last: "weight" in a
  // bare layer, "0.weight" once that layer is child "0" of a Sequential.
  std::string name;
  Tensor value;
  Tensor grad;  // same shape, dtype and device as value
};

// State that is not learned (PyTorch's buffers): BatchNorm's running_mean,
// running_var and num_batches_tracked. Checkpoints save and load buffers with
// the parameters; optimizers never see them (parameters() does not list them).
struct Buffer {
  std::string name;  // dotted path, as Parameter::name
  Tensor value;
  // Stays on the CPU when the layer moves (to()): a host-side counter such as
  // num_batches_tracked, read on the host at every forward.
  bool host_only = false;
};

class Layer {
 public:
  Layer() = default;
  virtual ~Layer() = default;
  // Not copyable: a copy would share (or lose) parameters. Movable, so a
  // function can return a model it built; parameters and children live on the
  // heap, so the pointers handed out stay valid in the layer moved to, and the
  // moved-from layer must not be used.
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;
  Layer(Layer&&) = default;
  Layer& operator=(Layer&&) = default;

  virtual Tensor forward(const Tensor& input, Mode mode) = 0;
  virtual Tensor backward(const Tensor& grad_output) = 0;

  // This layer's parameters in registration order, then each child's, depth
  // first; sets each Parameter::name to its dotted path from this layer.
  // Pointers stay valid for the layer's lifetime.
  std::vector<Parameter*> parameters();
  // This layer's buffers, then each child's, depth first, named like parameters().
  std::vector<Buffer*> buffers();
  // The registered children, in registration order, with their names.
  std::vector<std::pair<std::string, Layer*>> named_children() const;
  // The layer and its options as PyTorch's repr prints them:
  // "Conv2d(1, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))".
  virtual std::string name() const = 0;
  // Output shape for an input shape; throws convnet::Error when the input does not fit.
  virtual Shape output_shape(const Shape& input_shape) const = 0;

  // Moves parameters, their gradients and every child to `device` and drops
  // what the last forward kept (backward then needs a new Train forward).
  virtual void to(Device device);
  // Which backend computes this layer and its children. nullopt (the default)
  // picks default_backend() of the input's device at each call. A choice made
  // here also covers children registered later.
  virtual void set_backend(std::optional<Backend::Kind> kind);
  std::optional<Backend::Kind> backend_choice() const { return backend_; }
  // The backend that runs on tensors on `device` under the current choice;
  // throws convnet::Error when the chosen backend cannot compute there.
  Backend& backend_for(Device device) const;

  void zero_grad();  // this layer's and its children's gradients
  int64_t parameter_count() const;

  // true: backward may run several times after one Train forward, each run
  // adding its gradients again (PyTorch's retain_graph=True). false (the
  // default): a second backward throws. For this layer, its children, and
  // children registered later.
  void set_retain_graph(bool on);
  bool retain_graph() const { return retain_graph_; }

  // Whether backward computes dL/d(input) (true, the default). A model's input
  // is data, whose gradient nobody reads: Trainer::fit turns this off for its
  // model, as PyTorch skips the gradient of an input that does not require one.
  // Off, backward may return an undefined Tensor: Conv2d and Linear skip their
  // backward-data operation, and Sequential and ResNet pass the setting to the
  // layer that reads their input at each backward.
  void set_input_grad(bool needed) { input_grad_ = needed; }
  bool input_grad() const { return input_grad_; }

  // A table of the layer's children, one row each, nested composites indented
  // under their row with dotted names ("2.conv1"): name, layer, output shape,
  // parameter count, backend, path; then totals. A layer without children is
  // one row. `device` is where the input will live (it decides the default
  // backend shown). The path column says how each layer's backend computes it
  // ("cudnn fused graph", "implicit gemm", ...); a ReLU fused into the layer
  // before it says so.
  std::string summary(const Shape& input_shape, Device device = Device::cpu()) const;

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
  // A new parameter `name` holding `value`, with a zero gradient of the same
  // shape, dtype and device. Names are non-empty, without '.', and unique among
  // this layer's parameters and children; otherwise convnet::Error.
  Parameter& register_parameter(const std::string& name, Tensor value);
  // A new buffer `name` holding `value` (names as for parameters).
  Buffer& register_buffer(const std::string& name, Tensor value, bool host_only = false);
  // Runs `child`'s forward with a following ReLU computed inside it (the child
  // must can_fuse_relu()); its backward then takes the gradient of the ReLU's
  // output. For blocks that fuse what they own, as Sequential does.
  static Tensor forward_fused_relu(Layer& child, const Tensor& input, Mode mode);
  // Takes ownership of `child` under `name` (same rules as above) and returns
  // it, typed, for the composite to keep: `conv_ = &register_module("conv", ...)`.
  template <typename L>
  L& register_module(const std::string& name, std::unique_ptr<L> child) {
    return static_cast<L&>(add_child(name, std::unique_ptr<Layer>(std::move(child))));
  }

  // Drop tensors kept for backward (a layer's own; children drop theirs).
  virtual void clear_cache() {}

  // Every forward calls this first. It drops what the previous forward kept
  // (the children's too, so a child this forward does not reach refuses
  // backward), records the mode for backward, and returns whether this forward
  // must keep tensors for backward (Mode::Train).
  bool keep_for_backward(Mode mode);
  // Every backward calls this first: throws convnet::Error naming the layer
  // unless the latest forward ran in Mode::Train, `kept` (a tensor it keeps)
  // is there (it is not when that forward threw), and no backward ran since
  // that forward (unless retain_graph()). A composite calls it before any
  // child's backward, so no gradient is added before it throws.
  void check_backward();
  void check_backward(const Tensor& kept);
  // clear_cache(), and backward needs a new forward (to() calls it).
  void drop_saved();

  // For the summary: the input shape of each child, in registration order,
  // when this layer gets `input_shape`. The default chains them (each child
  // takes the output of the one before), as a block written like a Sequential
  // does; a composite with another data flow (a residual block, whose body and
  // shortcut both take the input) overrides it. It may stop at a child that
  // refuses its input; the summary then reports that child.
  virtual std::vector<Shape> child_input_shapes(const Shape& input_shape) const;
  // For the summary: whether child `index` computes the ReLU registered after
  // it (Sequential's fusion).
  virtual bool child_fuses_next(size_t index) const {
    (void)index;
    return false;
  }

 private:
  friend class Sequential;  // fuses a layer with the ReLU after it
  // Apply ReLU after this layer in its forward (only if can_fuse_relu()); Sequential
  // sets it around one forward call and clears it after.
  virtual void set_fused_relu(bool on) { (void)on; }

  Layer& add_child(const std::string& name, std::unique_ptr<Layer> child);
  void check_new_name(const std::string& name, const char* what) const;
  void check_forward_state() const;
  void drop_saved_tree();
  void name_parameters(const std::string& prefix, std::vector<Parameter*>& out);
  void summary_rows(const std::string& prefix, int depth, const Shape& input_shape, Device device,
                    std::vector<std::vector<std::string>>& rows) const;

  struct OwnParameter {
    std::string name;
    std::unique_ptr<Parameter> parameter;  // on the heap: pointers survive later registrations
  };
  struct Child {
    std::string name;
    std::unique_ptr<Layer> layer;
  };
  struct OwnBuffer {
    std::string name;
    std::unique_ptr<Buffer> buffer;
  };
  void name_buffers(const std::string& prefix, std::vector<Buffer*>& out);
  std::vector<OwnParameter> parameters_;
  std::vector<OwnBuffer> buffers_;
  std::vector<Child> children_;

  enum class LastForward { None, Train, Eval };
  std::optional<Backend::Kind> backend_;
  LastForward last_forward_ = LastForward::None;
  bool backward_ran_ = false;  // since the last Train forward
  uint64_t forwards_ = 0;      // forwards and drops so far: Sequential sees a layer re-run alone
  bool retain_graph_ = false;
  bool input_grad_ = true;
};

// libtorch's name for the same thing.
using Module = Layer;

}  // namespace convnet::nn
