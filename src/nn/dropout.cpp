#include <sstream>

#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"
#include "convnet/random.hpp"

namespace convnet::nn {

Dropout::Dropout(float p, uint64_t seed) : p_(p), seed_(seed != 0 ? seed : next_seed()) {
  CONVNET_CHECK(p >= 0.f && p < 1.f, "Dropout: p = ", p, " must be in [0, 1)");
}

Tensor Dropout::forward(const Tensor& input, Mode mode) {
  if (mode == Mode::Eval || p_ == 0.f) {
    last_ = Last::Identity;
    mask_ = Tensor();
    return input;
  }
  Backend& be = backend_for(input.device());
  // A new offset per call draws a new mask; the offset is passed, not kept in
  // the backend, so a captured step could replay it.
  Tensor output = ops::dropout_forward(be, input, p_, seed_, offset_, mask_);
  ++offset_;
  last_ = Last::Masked;
  return output;
}

Tensor Dropout::backward(const Tensor& grad_output) {
  CONVNET_CHECK(last_ != Last::None, name(), ": backward called without a preceding forward");
  if (last_ == Last::Identity) return grad_output;  // identity forward: identity backward
  Backend& be = backend_for(grad_output.device());
  return ops::dropout_backward(be, grad_output, mask_);
}

std::string Dropout::name() const {
  std::ostringstream os;
  os << "Dropout(p=" << p_ << ")";
  return os.str();
}

}  // namespace convnet::nn
