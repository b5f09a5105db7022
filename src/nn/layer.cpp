#include "convnet/nn/layer.hpp"

#include "convnet/ops.hpp"
#include "nn/backend_choice.hpp"

namespace convnet::nn {

void Layer::to(Device device) {
  for (Parameter* p : parameters()) {
    p->value = p->value.to(device);
    p->grad = p->grad.to(device);
  }
  drop_saved();
}

bool Layer::keep_for_backward(Mode mode) {
  // Drop the previous forward's tensors before computing: an Eval pass never
  // holds a Train pass's activations, and a Train pass frees the old ones as
  // it goes instead of after it has made the new ones.
  clear_cache();
  last_forward_ = mode == Mode::Train ? LastForward::Train : LastForward::Eval;
  return mode == Mode::Train;
}

void Layer::check_backward() const {
  CONVNET_CHECK(last_forward_ != LastForward::None, name(),
                ": backward called without a finished forward in Mode::Train");
  CONVNET_CHECK(last_forward_ == LastForward::Train, name(),
                ": backward needs a forward in Mode::Train; the latest forward ran in "
                "Mode::Eval, which keeps nothing for backward");
}

void Layer::check_backward(const Tensor& kept) const {
  check_backward();
  CONVNET_CHECK(kept.defined(), name(),
                ": backward needs a forward in Mode::Train that finished; the latest one threw");
}

void Layer::drop_saved() {
  clear_cache();
  last_forward_ = LastForward::None;
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
