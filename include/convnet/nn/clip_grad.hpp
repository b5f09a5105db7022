// Gradient clipping, as torch.nn.utils.clip_grad_norm_.
#pragma once

#include <vector>

#include "convnet/nn/layer.hpp"

namespace convnet::nn {

// Scales every gradient in place by max_norm / (total + 1e-6) when that factor
// is below 1, total being the Euclidean norm of all gradients together, and
// returns the total (before clipping). Computed on the gradients' device; reading the
// returned value synchronises with it once. A non-finite total throws
// convnet::Error (PyTorch's error_if_nonfinite=True) and leaves the gradients
// as they were. All gradients must live on one device. max_norm > 0.
float clip_grad_norm_(const std::vector<Parameter*>& parameters, float max_norm);

}  // namespace convnet::nn
