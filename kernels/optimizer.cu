// In-place optimizer updates, torch.optim.SGD and Adam / AdamW (foreach=False),
// with the CPU backend's arithmetic (src/cpu/optimizer.cpp) step for step.
//
// {lr, step} come from the device array `schedule` (float[2]) and never from
// the host, so a captured CUDA graph replays successive steps; schedule_advance
// moves it on, on the device. Decomposition: a grid-stride loop, one thread per
// parameter element; the scalars that depend on the schedule are formed once
// per block (Adam's bias corrections need two double pow calls) by thread 0
// into shared memory.
//
// Per-element arithmetic is float in torch's order. It is written with the
// round-to-nearest intrinsics (__fmul_rn, __fadd_rn, ...), which the compiler
// never fuses into an FMA, so each operation rounds exactly as the CPU's does.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {

// torch.lerp's two-sided form, as in the CPU backend.
__device__ __forceinline__ float lerp_two_sided(float start, float end, float weight) {
  const float diff = __fsub_rn(end, start);
  return fabsf(weight) < 0.5f ? __fadd_rn(start, __fmul_rn(weight, diff))
                              : __fsub_rn(end, __fmul_rn(diff, __fsub_rn(1.f, weight)));
}

// buffer_keep = (float)(1 - dampening); momentum_buffer is read only when momentum != 0.
__global__ void __launch_bounds__(kThreads)
    sgd_kernel(float* __restrict__ param, const float* __restrict__ grad,
               float* __restrict__ momentum_buffer, int64_t count, float weight_decay,
               float momentum, float buffer_keep, bool nesterov,
               const float* __restrict__ schedule) {
  const float neg_lr = -schedule[0];
  const bool first_step = schedule[1] <= 1.f;  // torch creates the buffer from d on step 1
  for (int64_t i = global_thread(); i < count; i += grid_threads()) {
    const float w = param[i];
    float d = grad[i];
    if (weight_decay != 0.f) d = __fadd_rn(d, __fmul_rn(weight_decay, w));
    if (momentum != 0.f) {
      const float buf =
          first_step ? d
                     : __fadd_rn(__fmul_rn(momentum_buffer[i], momentum), __fmul_rn(buffer_keep, d));
      momentum_buffer[i] = buf;
      d = nesterov ? __fadd_rn(d, __fmul_rn(momentum, buf)) : buf;
    }
    param[i] = __fadd_rn(w, __fmul_rn(neg_lr, d));
  }
}

// avg_weight = (float)(1 - beta1), sq_weight = (float)(1 - beta2), formed on the host
// as the CPU does; the rest depends on the schedule and is formed here.
__global__ void __launch_bounds__(kThreads)
    adam_kernel(float* __restrict__ param, const float* __restrict__ grad,
                float* __restrict__ exp_avg, float* __restrict__ exp_avg_sq, int64_t count,
                double beta1, double beta2, float avg_weight, float sq_weight, float eps,
                float weight_decay, bool decoupled, const float* __restrict__ schedule) {
  // {neg_step_size, bias_correction2_sqrt, decay_keep}
  __shared__ float scalars[3];
  if (threadIdx.x == 0) {
    const double lr = schedule[0], step = schedule[1];
    const double bias_correction1 = 1.0 - pow(beta1, step);
    const double bias_correction2 = 1.0 - pow(beta2, step);
    scalars[0] = static_cast<float>(-lr / bias_correction1);
    scalars[1] = static_cast<float>(sqrt(bias_correction2));
    scalars[2] = static_cast<float>(1.0 - lr * static_cast<double>(weight_decay));  // AdamW
  }
  __syncthreads();
  const float neg_step_size = scalars[0];
  const float bias_correction2_sqrt = scalars[1];
  const float decay_keep = scalars[2];
  const float b2 = static_cast<float>(beta2);

  for (int64_t i = global_thread(); i < count; i += grid_threads()) {
    float w = param[i];
    float g = grad[i];
    if (decoupled) {
      w = __fmul_rn(w, decay_keep);
    } else if (weight_decay != 0.f) {
      g = __fadd_rn(g, __fmul_rn(weight_decay, w));
    }
    const float m = lerp_two_sided(exp_avg[i], g, avg_weight);  // beta1*m + (1-beta1)*g
    const float v = __fadd_rn(__fmul_rn(exp_avg_sq[i], b2), __fmul_rn(__fmul_rn(sq_weight, g), g));
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), bias_correction2_sqrt), eps);
    param[i] = __fadd_rn(w, __fdiv_rn(__fmul_rn(neg_step_size, m), denom));
  }
}

__global__ void schedule_advance_kernel(float* schedule, float lr) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    schedule[0] = lr;
    schedule[1] += 1.f;
  }
}

}  // namespace

void sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t count,
                const SgdParams& p, const float* schedule, cudaStream_t stream) {
  if (count <= 0) return;
  CONVNET_CHECK(p.momentum == 0.f || momentum_buffer != nullptr,
                "sgd_update: momentum ", p.momentum, " needs a momentum buffer");
  const float buffer_keep = static_cast<float>(1.0 - static_cast<double>(p.dampening));
  CONVNET_LAUNCH(sgd_kernel, blocks_for(count), kThreads, 0, stream)(
      param, grad, momentum_buffer, count, p.weight_decay, p.momentum, buffer_keep, p.nesterov,
      schedule);
  check_launch("sgd_update", stream);
}

void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                 int64_t count, const AdamParams& p, const float* schedule, cudaStream_t stream) {
  if (count <= 0) return;
  const double beta1 = p.beta1, beta2 = p.beta2;
  const float avg_weight = static_cast<float>(1.0 - beta1);
  const float sq_weight = static_cast<float>(1.0 - beta2);
  CONVNET_LAUNCH(adam_kernel, blocks_for(count), kThreads, 0, stream)(
      param, grad, exp_avg, exp_avg_sq, count, beta1, beta2, avg_weight, sq_weight, p.eps,
      p.weight_decay, p.decoupled_weight_decay, schedule);
  check_launch("adam_update", stream);
}

void schedule_advance(float* schedule, float lr, cudaStream_t stream) {
  CONVNET_LAUNCH(schedule_advance_kernel, 1, 1, 0, stream)(schedule, lr);
  check_launch("schedule_advance", stream);
}

}  // namespace convnet::kernels
