#include "convnet/nn/layers.hpp"
#include "convnet/ops.hpp"
#include "convnet/random.hpp"
#include "nn/format.hpp"

namespace convnet::nn {

Dropout::Dropout(const DropoutOptions& options)
    : options_(options), seed_(options.seed() != 0 ? options.seed() : next_seed()) {
  const float p = options.p();
  CONVNET_CHECK(p >= 0.f && p < 1.f, "Dropout: p = ", p, " must be in [0, 1)");
}

Tensor Dropout::forward(const Tensor& input, Mode mode) {
  const bool keep = keep_for_backward(mode);
  if (!keep || options_.p() == 0.f) return input;  // identity: nothing to keep
  Backend& be = backend_for(input.device());
  // A new offset per call draws a new mask; the offset is passed, not kept in
  // the backend, so a captured step could replay it.
  Tensor output = ops::dropout_forward(be, input, options_.p(), seed_, offset_, mask_);
  ++offset_;
  return output;
}

Tensor Dropout::backward(const Tensor& grad_output) {
  if (options_.p() == 0.f) {  // identity forward: identity backward
    check_backward();
    return grad_output;
  }
  check_backward(mask_);
  Backend& be = backend_for(grad_output.device());
  return ops::dropout_backward(be, grad_output, mask_);
}

// torch.nn.Dropout's repr (convnet has no in-place dropout).
std::string Dropout::name() const {
  return "Dropout(p=" + detail::python_float(options_.p()) + ", inplace=False)";
}

}  // namespace convnet::nn
