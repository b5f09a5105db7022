// Batch normalization over channel c of x [N, C, HW] (HW = H*W, 1 for [N, C]):
// channel c's count = N*HW values sit at n*C*HW + c*HW + i. Semantics: Backend
// (include/convnet/backend.hpp).
//
// Statistics (training forward) are Welford's, combined by Chan's formula, in
// an order fixed by the shape alone (never by the grid, the test cap or timing;
// no atomics), so they are bit-identical from run to run:
//   - stage 1: channel c's flat index j = n*HW + i in [0, count) is cut into
//     `segments` runs of `segment` values (channel_plan, a function of count).
//     Task t = c*segments + s is one block: thread k folds j = begin + k,
//     begin + k + B, ... into its own (n, mean, M2) in float, one pass over x;
//     the block combines its threads in a fixed tree (shuffle-down within each
//     warp, then warp 0 over the warps) and writes one partial per task.
//   - stage 2 (bn_finalize_stats_kernel, one warp per channel): lane l folds
//     partials l, l + 32, ... in order, then the same warp tree; lane 0 writes
//     save_mean, save_invstd = 1/sqrt(var + eps) (biased var = M2/count) and
//     updates the running statistics (unbiased var = M2/(count - 1)). All on
//     the device: the host never waits.
//   - the fused normalize + affine + ReLU pass: one thread per element.
// Welford's running mean avoids the cancellation of sum(x^2) - count*mean^2
// when |mean| >> std; each thread folds at most count / (blocks*B) values.
//
// Backward: the same two stages give per-channel sum(dy) and sum(dy*xhat)
// (accumulated in double: plain sums, no cancellation concern), stage 2 writes
// grad_weight / grad_bias ((+)=) and three per-channel coefficients into the
// workspace, and an elementwise pass writes
//   grad_input = weight*invstd * (dy - sum(dy)/count - xhat * sum(dy*xhat)/count).
//
// The elementwise passes walk a grid-stride flat index; each thread finds its
// channel once by division and then advances (channel, i) by the fixed stride's
// quotient and remainder (computed on the host), so the loop has no division.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"
#include "kernels/reduce.cuh"

namespace convnet::kernels {
namespace {

// ---- the plan: a function of the shape alone

constexpr int64_t kMinSegment = 4096;  // values per stage-1 task, at least
constexpr int64_t kMaxSegments = 256;  // partials per channel, at most (stage 2: 8 per lane)

struct ChannelPlan {
  int threads;       // stage-1 block size
  int64_t segment;   // values of a channel per task
  int64_t segments;  // tasks per channel
};

ChannelPlan channel_plan(int64_t count) {
  const int threads = count >= 2048 ? kThreads : count >= 256 ? 128 : 32;
  if (count < 2 * kMinSegment) return {threads, count > 0 ? count : 1, 1};
  int64_t segment = (count + kMaxSegments - 1) / kMaxSegments;
  if (segment < kMinSegment) segment = kMinSegment;
  return {threads, segment, (count + segment - 1) / segment};
}

// ---- Welford / Chan

struct Moments {
  int64_t n;
  float mean, m2;
};

// b folded into a. n = 0 on either side is exact (the weight is 0 or 1).
__device__ __forceinline__ void combine(Moments& a, const Moments& b) {
  const int64_t n = a.n + b.n;
  if (n == 0) return;
  const float delta = b.mean - a.mean;
  const float wb = static_cast<float>(b.n) / static_cast<float>(n);
  a.mean = a.mean + delta * wb;
  a.m2 = a.m2 + b.m2 + delta * delta * static_cast<float>(a.n) * wb;
  a.n = n;
}

// Lane 0 ends with lane 0 + lane 16, ... : a fixed tree. All 32 lanes call it.
__device__ __forceinline__ Moments warp_combine(Moments m) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    Moments other;
    other.n = __shfl_down_sync(0xffffffffu, m.n, offset);
    other.mean = __shfl_down_sync(0xffffffffu, m.mean, offset);
    other.m2 = __shfl_down_sync(0xffffffffu, m.m2, offset);
    combine(m, other);
  }
  return m;
}

// Channel c's flat value j = n*HW + i, tracked as its offset n*C*HW + c*HW + i in
// x while j advances by a fixed step (the block size): one division to start,
// none a step. `Step` holds the step's whole planes and remainder.
struct Step {
  int64_t planes, rest, plane_stride;  // step / hw, step % hw, C*hw
};

__device__ __forceinline__ Step block_step(int64_t channels, int64_t hw) {
  return {blockDim.x / hw, blockDim.x % hw, channels * hw};
}

struct SegmentCursor {
  int64_t i, offset, hw;
  __device__ __forceinline__ SegmentCursor(int64_t j, int64_t c, int64_t channels, int64_t hw_)
      : hw(hw_) {
    const int64_t sample = j / hw;
    i = j - sample * hw;
    offset = (sample * channels + c) * hw + i;
  }
  __device__ __forceinline__ void advance(const Step& step) {
    i += step.rest;
    offset += step.planes * step.plane_stride + step.rest;
    if (i >= hw) {  // one more plane: skip the other channels' values
      i -= hw;
      offset += step.plane_stride - hw;
    }
  }
};

// ---- training statistics

// Stage 1: partial_*[t] for task t = c*segments + s.
__global__ void __launch_bounds__(kThreads)
    bn_partial_stats_kernel(const float* __restrict__ x, int64_t channels, int64_t hw,
                            int64_t count, int64_t segment, int64_t segments,
                            float* __restrict__ partial_mean, float* __restrict__ partial_m2) {
  __shared__ int64_t n_scratch[32];
  __shared__ float mean_scratch[32];
  __shared__ float m2_scratch[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = static_cast<int>(blockDim.x >> 5);
  const Step step = block_step(channels, hw);
  const int64_t tasks = channels * segments;
  for (int64_t t = blockIdx.x; t < tasks; t += gridDim.x) {
    const int64_t c = t / segments;
    const int64_t begin = (t - c * segments) * segment;
    const int64_t end = begin + segment < count ? begin + segment : count;
    Moments m{0, 0.f, 0.f};
    SegmentCursor at(begin + threadIdx.x, c, channels, hw);
    for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x, at.advance(step)) {
      const float v = x[at.offset];
      ++m.n;
      const float delta = v - m.mean;
      m.mean += delta / static_cast<float>(m.n);
      m.m2 += delta * (v - m.mean);
    }
    m = warp_combine(m);
    if (lane == 0) {
      n_scratch[warp] = m.n;
      mean_scratch[warp] = m.mean;
      m2_scratch[warp] = m.m2;
    }
    __syncthreads();
    if (warp == 0) {
      Moments w{0, 0.f, 0.f};
      if (lane < warps) w = {n_scratch[lane], mean_scratch[lane], m2_scratch[lane]};
      w = warp_combine(w);
      if (lane == 0) {
        partial_mean[t] = w.mean;
        partial_m2[t] = w.m2;
      }
    }
    __syncthreads();  // warp 0 has read the scratch before the next task writes it
  }
}

// Stage 2: one warp per channel (a grid-stride loop over channels, warps of a block apart).
__global__ void __launch_bounds__(kThreads)
    bn_finalize_stats_kernel(const float* __restrict__ partial_mean,
                             const float* __restrict__ partial_m2, int64_t channels,
                             int64_t count, int64_t segment, int64_t segments, float momentum,
                             float eps, float* __restrict__ save_mean,
                             float* __restrict__ save_invstd, float* __restrict__ running_mean,
                             float* __restrict__ running_var) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_per_block = blockDim.x >> 5;
  const int64_t first = blockIdx.x * warps_per_block + (threadIdx.x >> 5);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * warps_per_block;
  for (int64_t c = first; c < channels; c += stride) {
    Moments m{0, 0.f, 0.f};
    for (int64_t s = lane; s < segments; s += 32) {
      const int64_t begin = s * segment;
      const int64_t n = begin + segment < count ? segment : count - begin;
      combine(m, Moments{n, partial_mean[c * segments + s], partial_m2[c * segments + s]});
    }
    m = warp_combine(m);
    if (lane == 0) {
      const float var = m.m2 / static_cast<float>(count);  // biased
      save_mean[c] = m.mean;
      save_invstd[c] = 1.f / sqrtf(var + eps);
      if (running_mean) {
        const float unbiased =
            static_cast<float>(static_cast<double>(m.m2) / static_cast<double>(count - 1));
        running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * m.mean;
        running_var[c] = (1.f - momentum) * running_var[c] + momentum * unbiased;
      }
    }
  }
}

// ---- the elementwise passes

// A grid-stride walk over x [N, C, HW] that knows each element's channel:
// `stride` elements a step = stride_planes whole planes and stride_rest more.
struct ChannelWalk {
  int64_t channels, hw, total;
  int64_t stride_planes_mod_c, stride_rest;  // (stride / hw) % C and stride % hw
};

ChannelWalk channel_walk(int64_t n, int64_t channels, int64_t hw, int blocks, int threads) {
  const int64_t stride = static_cast<int64_t>(blocks) * threads;
  return {channels, hw, n * channels * hw, (stride / hw) % channels, stride % hw};
}

// Calls body(j, c) for this thread's elements j (in increasing order) with channel c.
template <typename Body>
__device__ __forceinline__ void walk_channels(const ChannelWalk& w, Body body) {
  int64_t j = global_thread();
  if (j >= w.total) return;
  const int64_t plane = j / w.hw;
  int64_t i = j - plane * w.hw;
  int64_t c = plane % w.channels;
  const int64_t stride = grid_threads();
  for (; j < w.total; j += stride) {
    body(j, c);
    i += w.stride_rest;
    int64_t carry = 0;
    if (i >= w.hw) {
      i -= w.hw;
      carry = 1;
    }
    c += w.stride_planes_mod_c + carry;
    if (c >= w.channels) c -= w.channels;
  }
}

// y = (x - mean) * invstd * weight + bias, then ReLU (NaN propagates, as activation.cu's).
// invstd is read directly (training), or computed from var and eps (inference: `from_var`).
__global__ void __launch_bounds__(kThreads)
    bn_normalize_kernel(ChannelWalk w, const float* __restrict__ x,
                        const float* __restrict__ mean, const float* __restrict__ invstd_or_var,
                        bool from_var, float eps, const float* __restrict__ weight,
                        const float* __restrict__ bias, bool relu, float* __restrict__ y) {
  walk_channels(w, [&](int64_t j, int64_t c) {
    const float s = from_var ? 1.f / sqrtf(invstd_or_var[c] + eps) : invstd_or_var[c];
    float v = (x[j] - mean[c]) * s;
    if (weight) v *= weight[c];
    if (bias) v += bias[c];
    if (relu) v = v < 0.f ? 0.f : v;
    y[j] = v;
  });
}

// ---- backward

// Stage 1: partial sums of dy and dy*xhat for task t = c*segments + s.
__global__ void __launch_bounds__(kThreads)
    bn_partial_grad_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                           const float* __restrict__ mean, const float* __restrict__ invstd,
                           int64_t channels, int64_t hw, int64_t count, int64_t segment,
                           int64_t segments, double* __restrict__ partial_dy,
                           double* __restrict__ partial_dy_xhat) {
  __shared__ double dy_scratch[32];
  __shared__ double dy_xhat_scratch[32];
  const Step step = block_step(channels, hw);
  const int64_t tasks = channels * segments;
  for (int64_t t = blockIdx.x; t < tasks; t += gridDim.x) {
    const int64_t c = t / segments;
    const int64_t begin = (t - c * segments) * segment;
    const int64_t end = begin + segment < count ? begin + segment : count;
    const float m = mean[c], s = invstd[c];
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    SegmentCursor at(begin + threadIdx.x, c, channels, hw);
    for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x, at.advance(step)) {
      const float g = dy[at.offset];
      sum_dy += g;
      sum_dy_xhat += static_cast<double>(g) * static_cast<double>((x[at.offset] - m) * s);
    }
    sum_dy = block_sum(sum_dy, dy_scratch);  // two scratch arrays: no barrier between
    sum_dy_xhat = block_sum(sum_dy_xhat, dy_xhat_scratch);
    if (threadIdx.x == 0) {
      partial_dy[t] = sum_dy;
      partial_dy_xhat[t] = sum_dy_xhat;
    }
    __syncthreads();  // warp 0 has read both scratches before the next task writes them
  }
}

// Stage 2, one warp per channel: the channel's sums in a fixed tree; grad_weight
// and grad_bias (+)=; coefficients for the elementwise pass:
//   scale[c] = weight*invstd, mean_dy[c] = sum(dy)/count, mean_dy_xhat[c] = sum(dy*xhat)/count.
__global__ void __launch_bounds__(kThreads)
    bn_finalize_grad_kernel(const double* __restrict__ partial_dy,
                            const double* __restrict__ partial_dy_xhat, int64_t channels,
                            int64_t count, int64_t segments, const float* __restrict__ weight,
                            const float* __restrict__ invstd, float* __restrict__ grad_weight,
                            float* __restrict__ grad_bias, bool accumulate,
                            float* __restrict__ scale, float* __restrict__ mean_dy,
                            float* __restrict__ mean_dy_xhat) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_per_block = blockDim.x >> 5;
  const int64_t first = blockIdx.x * warps_per_block + (threadIdx.x >> 5);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * warps_per_block;
  for (int64_t c = first; c < channels; c += stride) {
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t s = lane; s < segments; s += 32) {
      sum_dy += partial_dy[c * segments + s];
      sum_dy_xhat += partial_dy_xhat[c * segments + s];
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      sum_dy += __shfl_down_sync(0xffffffffu, sum_dy, offset);
      sum_dy_xhat += __shfl_down_sync(0xffffffffu, sum_dy_xhat, offset);
    }
    if (lane == 0) {
      if (grad_weight) {
        grad_weight[c] = static_cast<float>(
            accumulate ? static_cast<double>(grad_weight[c]) + sum_dy_xhat : sum_dy_xhat);
        grad_bias[c] =
            static_cast<float>(accumulate ? static_cast<double>(grad_bias[c]) + sum_dy : sum_dy);
      }
      scale[c] = (weight ? weight[c] : 1.f) * invstd[c];
      mean_dy[c] = static_cast<float>(sum_dy / static_cast<double>(count));
      mean_dy_xhat[c] = static_cast<float>(sum_dy_xhat / static_cast<double>(count));
    }
  }
}

__global__ void __launch_bounds__(kThreads)
    bn_grad_input_kernel(ChannelWalk w, const float* __restrict__ x, const float* __restrict__ dy,
                         const float* __restrict__ mean, const float* __restrict__ invstd,
                         const float* __restrict__ scale, const float* __restrict__ mean_dy,
                         const float* __restrict__ mean_dy_xhat, float* __restrict__ dx) {
  walk_channels(w, [&](int64_t j, int64_t c) {
    const float xhat = (x[j] - mean[c]) * invstd[c];
    dx[j] = scale[c] * (dy[j] - mean_dy[c] - xhat * mean_dy_xhat[c]);
  });
}

// ---- workspace layout: the partials (8-byte slots: doubles in backward, two
// floats' arrays in forward), then 3*C floats of coefficients (backward).
struct Workspace {
  double* partial_a;
  double* partial_b;
  float* coefficients;
};

Workspace carve(void* workspace, int64_t channels, int64_t segments) {
  double* base = static_cast<double*>(workspace);
  const int64_t tasks = channels * segments;
  return {base, base + tasks, reinterpret_cast<float*>(base + 2 * tasks)};
}

void launch_normalize(const BatchNormShape& s, const float* x, const float* mean,
                      const float* invstd_or_var, bool from_var, float eps, const float* weight,
                      const float* bias, bool relu, float* y, cudaStream_t stream,
                      const char* name) {
  const int64_t total = s.n * s.channels * s.hw;
  const int blocks = blocks_for(total);
  CONVNET_LAUNCH(bn_normalize_kernel, blocks, kThreads, 0, stream)(
      channel_walk(s.n, s.channels, s.hw, blocks, kThreads), x, mean, invstd_or_var, from_var, eps,
      weight, bias, relu, y);
  check_launch(name, stream);
}

int warp_blocks(int64_t channels) { return blocks_for(channels, kThreads / 32); }

}  // namespace

size_t batch_norm_workspace(const BatchNormShape& s) {
  if (s.channels <= 0) return 0;
  const ChannelPlan plan = channel_plan(s.n * s.hw);
  return static_cast<size_t>(2 * s.channels * plan.segments) * sizeof(double) +
         static_cast<size_t>(3 * s.channels) * sizeof(float);
}

void batch_norm_forward_train(const BatchNormShape& s, const float* input, const float* weight,
                              const float* bias, float* running_mean, float* running_var,
                              float momentum, float eps, bool relu, float* output,
                              float* save_mean, float* save_invstd, void* workspace,
                              cudaStream_t stream) {
  const int64_t count = s.n * s.hw;
  if (s.channels <= 0 || count <= 0) return;
  const ChannelPlan plan = channel_plan(count);
  const Workspace ws = carve(workspace, s.channels, plan.segments);
  // The forward's partials are floats: two float arrays in the double slots.
  float* partial_mean = reinterpret_cast<float*>(ws.partial_a);
  float* partial_m2 = reinterpret_cast<float*>(ws.partial_b);
  const int64_t tasks = s.channels * plan.segments;
  CONVNET_LAUNCH(bn_partial_stats_kernel, blocks_for(tasks, 1), plan.threads, 0, stream)(
      input, s.channels, s.hw, count, plan.segment, plan.segments, partial_mean, partial_m2);
  check_launch("batch_norm_forward_train (partial statistics)", stream);
  CONVNET_LAUNCH(bn_finalize_stats_kernel, warp_blocks(s.channels), kThreads, 0, stream)(
      partial_mean, partial_m2, s.channels, count, plan.segment, plan.segments, momentum, eps,
      save_mean, save_invstd, running_mean, running_var);
  check_launch("batch_norm_forward_train (statistics)", stream);
  launch_normalize(s, input, save_mean, save_invstd, false, eps, weight, bias, relu, output,
                   stream, "batch_norm_forward_train (normalize)");
}

void batch_norm_forward_inference(const BatchNormShape& s, const float* input,
                                  const float* weight, const float* bias, const float* mean,
                                  const float* var, float eps, bool relu, float* output,
                                  cudaStream_t stream) {
  if (s.n <= 0 || s.channels <= 0 || s.hw <= 0) return;
  launch_normalize(s, input, mean, var, true, eps, weight, bias, relu, output, stream,
                   "batch_norm_forward_inference");
}

void batch_norm_backward(const BatchNormShape& s, const float* input, const float* grad_output,
                         const float* weight, const float* save_mean, const float* save_invstd,
                         float* grad_input, float* grad_weight, float* grad_bias, bool accumulate,
                         void* workspace, cudaStream_t stream) {
  const int64_t count = s.n * s.hw;
  if (s.channels <= 0 || count <= 0) return;
  const ChannelPlan plan = channel_plan(count);
  const Workspace ws = carve(workspace, s.channels, plan.segments);
  float* scale = ws.coefficients;
  float* mean_dy = scale + s.channels;
  float* mean_dy_xhat = mean_dy + s.channels;
  const int64_t tasks = s.channels * plan.segments;
  CONVNET_LAUNCH(bn_partial_grad_kernel, blocks_for(tasks, 1), plan.threads, 0, stream)(
      input, grad_output, save_mean, save_invstd, s.channels, s.hw, count, plan.segment,
      plan.segments, ws.partial_a, ws.partial_b);
  check_launch("batch_norm_backward (partial sums)", stream);
  CONVNET_LAUNCH(bn_finalize_grad_kernel, warp_blocks(s.channels), kThreads, 0, stream)(
      ws.partial_a, ws.partial_b, s.channels, count, plan.segments, weight, save_invstd,
      grad_weight, grad_bias, accumulate, scale, mean_dy, mean_dy_xhat);
  check_launch("batch_norm_backward (sums)", stream);
  const int64_t total = count * s.channels;
  const int blocks = blocks_for(total);
  CONVNET_LAUNCH(bn_grad_input_kernel, blocks, kThreads, 0, stream)(
      channel_walk(s.n, s.channels, s.hw, blocks, kThreads), input, grad_output, save_mean,
      save_invstd, scale, mean_dy, mean_dy_xhat, grad_input);
  check_launch("batch_norm_backward (grad_input)", stream);
}

}  // namespace convnet::kernels
