#include <sstream>

#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"

namespace convnet::nn {

Tensor ActivationLayer::forward(const Tensor& input, Mode) {
  Backend& be = backend_for(input.device());
  Tensor output = ops::activation_forward(be, activation_, alpha_, input);
  // Backward reads the input (ReLU family) or the output (Sigmoid, Tanh).
  input_ = input;
  output_ = output;
  return output;
}

Tensor ActivationLayer::backward(const Tensor& grad_output) {
  CONVNET_CHECK(input_.defined(), name(), ": backward called without a preceding forward");
  Backend& be = backend_for(grad_output.device());
  return ops::activation_backward(be, activation_, alpha_, input_, output_, grad_output);
}

std::string ActivationLayer::name() const {
  switch (activation_) {
    case Activation::ReLU: return "ReLU()";
    case Activation::Sigmoid: return "Sigmoid()";
    case Activation::Tanh: return "Tanh()";
    case Activation::LeakyReLU: {
      std::ostringstream os;
      os << "LeakyReLU(" << alpha_ << ")";
      return os.str();
    }
  }
  return "Activation()";
}

}  // namespace convnet::nn
