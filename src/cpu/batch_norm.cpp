// Placeholder until the reference lands (same session): throws.
#include "cpu/cpu_backend.hpp"

namespace convnet::cpu {

void CpuBackend::adaptive_avg_pool2d_forward(const Tensor&, Tensor&) {
  throw Error("adaptive_avg_pool2d_forward: CPU reference not written yet");
}
void CpuBackend::adaptive_avg_pool2d_backward(const Tensor&, Tensor&) {
  throw Error("adaptive_avg_pool2d_backward: CPU reference not written yet");
}
void CpuBackend::batch_norm_forward_train(const Tensor&, const Tensor*, const Tensor*, Tensor*,
                                          Tensor*, float, float, bool, Tensor&, Tensor&,
                                          Tensor&) {
  throw Error("batch_norm_forward_train: CPU reference not written yet");
}
void CpuBackend::batch_norm_forward_inference(const Tensor&, const Tensor*, const Tensor*,
                                              const Tensor&, const Tensor&, float, bool,
                                              Tensor&) {
  throw Error("batch_norm_forward_inference: CPU reference not written yet");
}
void CpuBackend::batch_norm_backward(const Tensor&, const Tensor&, const Tensor*, const Tensor&,
                                     const Tensor&, Tensor&, Tensor*, Tensor*, bool) {
  throw Error("batch_norm_backward: CPU reference not written yet");
}

}  // namespace convnet::cpu
