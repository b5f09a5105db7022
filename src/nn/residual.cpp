#include "convnet/nn/residual.hpp"

#include <sstream>

#include "convnet/nn/init.hpp"
#include "convnet/ops.hpp"

namespace convnet::nn {
namespace {

void check_same_shape(const std::string& who, const Shape& body, const Shape& shortcut,
                      const Shape& input, const char* shortcut_name) {
  CONVNET_CHECK(body == shortcut, who, ": for input ", input, " the body gives ", body,
                " but the shortcut (", shortcut_name, ") gives ", shortcut,
                "; both paths must give the same shape to be summed");
}

// y = max(a + b, 0) through the backend; the output is what ReLU's backward reads.
Tensor add_relu(Backend& be, const Tensor& a, const Tensor& b) {
  return ops::activation_forward(be, Activation::ReLU, 0.f, ops::add(be, a, b));
}

}  // namespace

// ---- Residual

Residual::Residual(std::unique_ptr<Layer> body, std::unique_ptr<Layer> shortcut, bool relu_after)
    : relu_after_(relu_after) {
  CONVNET_CHECK(body != nullptr, "Residual: the body is null");
  body_ = &register_module("body", std::move(body));
  if (shortcut) shortcut_ = &register_module("shortcut", std::move(shortcut));
}

Shape Residual::output_shape(const Shape& input_shape) const {
  const Shape body = body_->output_shape(input_shape);
  const Shape shortcut = shortcut_ ? shortcut_->output_shape(input_shape) : input_shape;
  check_same_shape(name(), body, shortcut, input_shape, shortcut_ ? "a layer" : "identity");
  return body;
}

std::vector<Shape> Residual::child_input_shapes(const Shape& input_shape) const {
  return shortcut_ ? std::vector<Shape>{input_shape, input_shape} : std::vector<Shape>{input_shape};
}

Tensor Residual::forward(const Tensor& input, Mode mode) {
  const bool keep = keep_for_backward(mode);
  const Tensor body = body_->forward(input, mode);
  const Tensor shortcut = shortcut_ ? shortcut_->forward(input, mode) : input;
  check_same_shape(name(), body.shape(), shortcut.shape(), input.shape(),
                   shortcut_ ? "a layer" : "identity");
  Backend& be = backend_for(input.device());
  if (!relu_after_) return ops::add(be, body, shortcut);
  Tensor output = add_relu(be, body, shortcut);
  if (keep) output_ = output;
  return output;
}

Tensor Residual::backward(const Tensor& grad_output) {
  if (relu_after_) {
    check_backward(output_);
  } else {
    check_backward();
  }
  Backend& be = backend_for(grad_output.device());
  const Tensor g = relu_after_
      ? ops::activation_backward(be, Activation::ReLU, 0.f, output_, output_, grad_output)
      : grad_output;
  const Tensor body = body_->backward(g);
  const Tensor shortcut = shortcut_ ? shortcut_->backward(g) : g;
  return ops::add(be, body, shortcut);
}

// ---- BasicBlock

std::unique_ptr<Sequential> BasicBlock::make_downsample(int64_t inplanes, int64_t planes,
                                                        int stride) {
  auto downsample = std::make_unique<Sequential>();
  auto& conv = downsample->add<Conv2d>(
      Conv2dOptions(static_cast<int>(inplanes), static_cast<int>(planes), 1)
          .stride(stride)
          .bias(false));
  (void)conv;
  downsample->add<BatchNorm2d>(planes);
  init::kaiming_normal_(static_cast<Conv2d&>((*downsample)[0]).weight().value,
                        init::FanMode::FanOut);
  return downsample;
}

BasicBlock::BasicBlock(int64_t inplanes, int64_t planes, int stride,
                       std::unique_ptr<Layer> downsample, bool zero_init_residual) {
  CONVNET_CHECK(inplanes > 0 && planes > 0 && stride > 0, "BasicBlock(", inplanes, ", ", planes,
                ", stride=", stride, "): channels and stride must be positive");
  const int in = static_cast<int>(inplanes), out = static_cast<int>(planes);
  conv1_ = &register_module("conv1", std::make_unique<Conv2d>(
                                         Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
  bn1_ = &register_module("bn1", std::make_unique<BatchNorm2d>(planes));
  register_module("relu", std::make_unique<ReLU>());
  conv2_ = &register_module("conv2", std::make_unique<Conv2d>(
                                         Conv2dOptions(out, out, 3).padding(1).bias(false)));
  bn2_ = &register_module("bn2", std::make_unique<BatchNorm2d>(planes));
  if (downsample) downsample_ = &register_module("downsample", std::move(downsample));
  init::kaiming_normal_(conv1_->weight().value, init::FanMode::FanOut);
  init::kaiming_normal_(conv2_->weight().value, init::FanMode::FanOut);
  if (zero_init_residual) bn2_->weight()->value.fill_(0.f);
  // Refuse a block whose paths cannot be summed now, not at its first batch:
  // probe with an input of this block's channels.
  const Shape probe{1, inplanes, 8 * stride, 8 * stride};
  const Shape body = conv2_->output_shape(conv1_->output_shape(probe));
  const Shape shortcut = downsample_ ? downsample_->output_shape(probe) : probe;
  CONVNET_CHECK(body == shortcut, "BasicBlock(", inplanes, ", ", planes, ", stride=", stride,
                "): the body maps ", probe, " to ", body, " but the shortcut (",
                downsample_ ? downsample_->name() : std::string("identity"), ") gives ", shortcut,
                downsample_ ? "" : "; pass BasicBlock::make_downsample(inplanes, planes, stride)",
                " — both paths must give the same shape to be summed");
}

Shape BasicBlock::output_shape(const Shape& input_shape) const {
  const Shape body = bn2_->output_shape(
      conv2_->output_shape(bn1_->output_shape(conv1_->output_shape(input_shape))));
  const Shape shortcut = downsample_ ? downsample_->output_shape(input_shape) : input_shape;
  check_same_shape(name(), body, shortcut, input_shape, downsample_ ? "downsample" : "identity");
  return body;
}

std::vector<Shape> BasicBlock::child_input_shapes(const Shape& input_shape) const {
  std::vector<Shape> shapes{input_shape};
  try {
    const Shape a = conv1_->output_shape(input_shape);
    shapes.push_back(a);  // bn1
    shapes.push_back(a);  // relu
    shapes.push_back(a);  // conv2
    shapes.push_back(conv2_->output_shape(a));  // bn2
    if (downsample_) shapes.push_back(input_shape);
  } catch (const Error&) {
  }
  return shapes;
}

// torchvision's BasicBlock.forward, line by line.
Tensor BasicBlock::forward(const Tensor& x, Mode mode) {
  const bool keep = keep_for_backward(mode);
  Tensor out = conv1_->forward(x, mode);
  out = forward_fused_relu(*bn1_, out, mode);  // out = relu(bn1(out)), one pass
  out = conv2_->forward(out, mode);
  out = bn2_->forward(out, mode);
  const Tensor identity = downsample_ ? downsample_->forward(x, mode) : x;
  check_same_shape(name(), out.shape(), identity.shape(), x.shape(),
                   downsample_ ? "downsample" : "identity");
  out = add_relu(backend_for(x.device()), out, identity);  // out += identity; out = relu(out)
  if (keep) output_ = out;
  return out;
}

Tensor BasicBlock::backward(const Tensor& grad_output) {
  check_backward(output_);
  Backend& be = backend_for(grad_output.device());
  const Tensor g = ops::activation_backward(be, Activation::ReLU, 0.f, output_, output_, grad_output);
  Tensor body = bn2_->backward(g);
  body = conv2_->backward(body);
  body = bn1_->backward(body);  // through the fused ReLU too
  body = conv1_->backward(body);
  const Tensor shortcut = downsample_ ? downsample_->backward(g) : g;
  return ops::add(be, body, shortcut);
}

}  // namespace convnet::nn
