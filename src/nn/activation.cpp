#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"
#include "nn/format.hpp"

namespace convnet::nn {

Tensor ActivationLayer::forward(const Tensor& input, Mode mode) {
  const bool keep = keep_for_backward(mode);
  Backend& be = backend_for(input.device());
  Tensor output = ops::activation_forward(be, activation_, alpha_, input);
  if (keep) {
    // Backward reads the input (ReLU family) or the output (Sigmoid, Tanh).
    input_ = input;
    output_ = output;
  }
  return output;
}

Tensor ActivationLayer::backward(const Tensor& grad_output) {
  check_backward(input_);
  Backend& be = backend_for(grad_output.device());
  return ops::activation_backward(be, activation_, alpha_, input_, output_, grad_output);
}

// PyTorch's reprs: "ReLU()", "LeakyReLU(negative_slope=0.01)".
std::string ActivationLayer::name() const {
  switch (activation_) {
    case Activation::ReLU: return "ReLU()";
    case Activation::Sigmoid: return "Sigmoid()";
    case Activation::Tanh: return "Tanh()";
    case Activation::LeakyReLU: return "LeakyReLU(negative_slope=" + detail::python_float(alpha_) + ")";
  }
  return "Activation()";
}

}  // namespace convnet::nn
