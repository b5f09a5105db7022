// In-place optimizer updates: torch.optim.SGD and torch.optim.Adam / AdamW with
// foreach=False. `schedule` = {learning rate, step} (step = 1 on the first
// update) lives in a tensor so a captured CUDA graph can replay steps; here it
// is simply read. Scalar factors are formed in double, as Python does for torch,
// then rounded to float; per-element arithmetic is float in torch's order.
#include <cmath>
#include <cstdint>

#include "cpu/cpu_backend.hpp"

namespace convnet::cpu {
namespace {

// torch.lerp's two-sided form: exact at both ends and the one Adam's exp_avg uses.
float lerp(float start, float end, float weight) {
  return std::fabs(weight) < 0.5f ? start + weight * (end - start)
                                  : end - (end - start) * (1.f - weight);
}

}  // namespace

void CpuBackend::sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buffer,
                            const SgdParams& p, const Tensor& schedule) {
  const float* sched = schedule.data<float>();
  const float lr = sched[0];
  const bool first_step = sched[1] <= 1.f;  // torch creates the buffer from d on the first step
  const float weight_decay = p.weight_decay, momentum = p.momentum;
  const float buffer_keep = static_cast<float>(1.0 - double(p.dampening));
  float* w = param.data<float>();
  const float* g = grad.data<float>();
  float* buf = momentum != 0.f ? momentum_buffer->data<float>() : nullptr;
  const int64_t n = param.numel();
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i];
    if (weight_decay != 0.f) d = d + weight_decay * w[i];
    if (momentum != 0.f) {
      buf[i] = first_step ? d : buf[i] * momentum + buffer_keep * d;
      d = p.nesterov ? d + momentum * buf[i] : buf[i];
    }
    w[i] = w[i] + (-lr) * d;
  }
}

void CpuBackend::adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                             Tensor& exp_avg_sq, const AdamParams& p, const Tensor& schedule) {
  const float* sched = schedule.data<float>();
  const double lr = sched[0], step = sched[1];
  const double beta1 = p.beta1, beta2 = p.beta2;
  const float decay_keep = static_cast<float>(1.0 - lr * p.weight_decay);  // AdamW
  const float avg_weight = static_cast<float>(1.0 - beta1);
  const float sq_weight = static_cast<float>(1.0 - beta2);
  const double bias_correction1 = 1.0 - std::pow(beta1, step);
  const double bias_correction2 = 1.0 - std::pow(beta2, step);
  const float neg_step_size = static_cast<float>(-lr / bias_correction1);
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float b2 = p.beta2, eps = p.eps, weight_decay = p.weight_decay;
  const bool decoupled = p.decoupled_weight_decay;

  float* w = param.data<float>();
  const float* g_all = grad.data<float>();
  float* m = exp_avg.data<float>();
  float* v = exp_avg_sq.data<float>();
  const int64_t n = param.numel();
  for (int64_t i = 0; i < n; ++i) {
    float g = g_all[i];
    if (decoupled) {
      w[i] = w[i] * decay_keep;
    } else if (weight_decay != 0.f) {
      g = g + weight_decay * w[i];
    }
    m[i] = lerp(m[i], g, avg_weight);  // = beta1*m + (1-beta1)*g
    v[i] = v[i] * b2 + sq_weight * g * g;
    const float denom = std::sqrt(v[i]) / bias_correction2_sqrt + eps;
    w[i] = w[i] + neg_step_size * m[i] / denom;
  }
}

void CpuBackend::schedule_step(Tensor& schedule, float lr) {
  float* sched = schedule.data<float>();
  sched[0] = lr;
  sched[1] += 1.f;
}

}  // namespace convnet::cpu
