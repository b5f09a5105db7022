#include "convnet/nn/clip_grad.hpp"

#include <cmath>

#include "convnet/error.hpp"
#include "convnet/tensor_ops.hpp"

namespace convnet::nn {

float clip_grad_norm_(const std::vector<Parameter*>& parameters, float max_norm) {
  CONVNET_CHECK(std::isfinite(max_norm) && max_norm > 0.f,
                "clip_grad_norm_: max_norm must be positive and finite, got ", max_norm);
  CONVNET_CHECK(!parameters.empty(), "clip_grad_norm_: got an empty parameter list");
  std::vector<Tensor> norms;
  norms.reserve(parameters.size());
  for (const Parameter* p : parameters) {
    CONVNET_CHECK(p != nullptr && p->grad.defined(), "clip_grad_norm_: parameter ",
                  p ? p->name : std::string("(null)"), " has no gradient");
    // One [1] norm per gradient, joined by cat: the total is their norm.
    norms.push_back(reshape(norm(p->grad), Shape{1}));
  }
  const Tensor total = norm(cat(norms, 0));
  const float total_host = total.item();
  CONVNET_CHECK(std::isfinite(total_host), "clip_grad_norm_: the total norm of the gradients is ",
                total_host, "; the gradients were left as they are");
  // PyTorch's factor, clamped at 1: a total just under max_norm + 1e-6 is scaled too.
  const float coef = max_norm / (total_host + 1e-6f);
  if (coef < 1.f)
    for (Parameter* p : parameters) p->grad *= coef;
  return total_host;
}

}  // namespace convnet::nn
