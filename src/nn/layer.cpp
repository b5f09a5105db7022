#include "convnet/nn/layer.hpp"

#include "convnet/ops.hpp"
#include "nn/backend_choice.hpp"

namespace convnet::nn {

void Layer::to(Device device) {
  for (Parameter* p : parameters()) {
    p->value = p->value.to(device);
    p->grad = p->grad.to(device);
  }
  clear_cache();
}

Backend& Layer::backend_for(Device device) const {
  return detail::resolve_backend(backend_, device, name());
}

void Layer::zero_grad() {
  for (Parameter* p : parameters()) ops::fill(backend_for(p->grad.device()), p->grad, 0.f);
}

int64_t Layer::parameter_count() {
  int64_t count = 0;
  for (Parameter* p : parameters()) count += p->value.numel();
  return count;
}

}  // namespace convnet::nn
