// CudaBackend: losses (means reduced on the device through the context's
// workspace; bad labels raise the context's error flag, reported at the next
// synchronisation) and the optimizer updates, which read {lr, step} on the device.
#include "cuda/cuda_backend.hpp"
#include "cuda/launch_scope.hpp"

namespace convnet::cuda {

void CudaBackend::softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                                float label_smoothing, Tensor& loss,
                                                Tensor& probs) {
  LaunchScope on(loss);
  kernels::softmax_cross_entropy_forward(
      logits.data<float>(), labels.data<int32_t>(), logits.size(0), logits.size(1),
      label_smoothing, loss.data<float>(), probs.data<float>(), on.ctx.error_flag(),
      on.ctx.workspace(kernels::kLossWorkspaceBytes), on.stream());
}

void CudaBackend::softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                                 float label_smoothing, float scale,
                                                 Tensor& grad_logits) {
  LaunchScope on(grad_logits);
  kernels::softmax_cross_entropy_backward(probs.data<float>(), labels.data<int32_t>(),
                                          probs.size(0), probs.size(1), label_smoothing, scale,
                                          grad_logits.data<float>(), on.ctx.error_flag(),
                                          on.stream());
}

void CudaBackend::mse_forward(const Tensor& prediction, const Tensor& target, Tensor& loss) {
  LaunchScope on(loss);
  kernels::mse_forward(prediction.data<float>(), target.data<float>(), prediction.numel(),
                       loss.data<float>(), on.ctx.workspace(kernels::kLossWorkspaceBytes),
                       on.stream());
}

void CudaBackend::mse_backward(const Tensor& prediction, const Tensor& target, float scale,
                               Tensor& grad_prediction) {
  LaunchScope on(grad_prediction);
  kernels::mse_backward(prediction.data<float>(), target.data<float>(), prediction.numel(), scale,
                        grad_prediction.data<float>(), on.stream());
}

void CudaBackend::bce_with_logits_forward(const Tensor& logits, const Tensor& target,
                                          Tensor& loss) {
  LaunchScope on(loss);
  kernels::bce_with_logits_forward(logits.data<float>(), target.data<float>(), logits.numel(),
                                   loss.data<float>(),
                                   on.ctx.workspace(kernels::kLossWorkspaceBytes), on.stream());
}

void CudaBackend::bce_with_logits_backward(const Tensor& logits, const Tensor& target,
                                           float scale, Tensor& grad_logits) {
  LaunchScope on(grad_logits);
  kernels::bce_with_logits_backward(logits.data<float>(), target.data<float>(), logits.numel(),
                                    scale, grad_logits.data<float>(), on.stream());
}

void CudaBackend::hinge_forward(const Tensor& scores, const Tensor& target, float margin,
                                Tensor& loss) {
  LaunchScope on(loss);
  kernels::hinge_forward(scores.data<float>(), target.data<float>(), scores.numel(), margin,
                         loss.data<float>(), on.ctx.workspace(kernels::kLossWorkspaceBytes),
                         on.stream());
}

void CudaBackend::hinge_backward(const Tensor& scores, const Tensor& target, float margin,
                                 float scale, Tensor& grad_scores) {
  LaunchScope on(grad_scores);
  kernels::hinge_backward(scores.data<float>(), target.data<float>(), scores.numel(), margin,
                          scale, grad_scores.data<float>(), on.stream());
}

void CudaBackend::sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buffer,
                             const SgdParams& p, const Tensor& schedule) {
  LaunchScope on(param);
  kernels::sgd_update(param.data<float>(), grad.data<float>(),
                      momentum_buffer ? momentum_buffer->data<float>() : nullptr, param.numel(), p,
                      schedule.data<float>(), on.stream());
}

void CudaBackend::adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                              Tensor& exp_avg_sq, const AdamParams& p, const Tensor& schedule) {
  LaunchScope on(param);
  kernels::adam_update(param.data<float>(), grad.data<float>(), exp_avg.data<float>(),
                       exp_avg_sq.data<float>(), param.numel(), p, schedule.data<float>(),
                       on.stream());
}

void CudaBackend::schedule_step(Tensor& schedule, float lr) {
  LaunchScope on(schedule);
  kernels::schedule_advance(schedule.data<float>(), lr, on.stream());
}

}  // namespace convnet::cuda
