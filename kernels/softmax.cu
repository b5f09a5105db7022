// Softmax and log-softmax over dimension 1 of a contiguous [outer, channels, inner]
// tensor (cuDNN's CHANNEL mode; [N, C] is inner == 1), forward and backward, with
// src/cpu/softmax.cpp's formulas:
//   forward   m = max_c x (fmax: NaN ignored), s = sum_c e^(x-m)
//             softmax y = e^(x-m) / s,     log-softmax y = (x-m) - log s
//   backward  softmax dx = y * (dy - sum_c dy*y),  log-softmax dx = dy - e^y * sum_c dy
// Subtracting the max keeps logits of +-1e4 finite. Exponentials are float expf;
// the sums over channels are accumulated in double (like the CPU reference) and
// the backward formulas are evaluated in double, so the results lie within a
// few float ulp of the CPU's.
// Decomposition, by the shape of the rows:
// - inner == 1, channels <= 1024: a warp per row (8 rows per 256-thread block,
//   grid-stride over rows). Lane l holds channels l, l+32, ... in registers (at
//   most 32 each), so the row is read from memory once; max and sum are
//   butterfly shuffles, which leave the same value in every lane.
// - inner == 1, channels > 1024: a block per row (grid-stride over rows), threads
//   striding over the row; max and sum are reduced through shared memory. The
//   row is re-read for each pass (it is then in L1/L2).
// - inner > 1: a thread per (outer, inner) position looping over the channels;
//   neighbouring threads hold neighbouring inner positions, so every access of
//   a warp is coalesced.
#include <cuda_runtime.h>

#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kWarpRowMax = 1024;                 // longest row a warp handles
constexpr int kPerLane = kWarpRowMax / kWarp;     // values a lane keeps in registers
constexpr int kRowsPerBlock = kThreads / kWarp;   // warp-per-row kernels

struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct SumOp {
  __device__ __forceinline__ double operator()(double a, double b) const { return a + b; }
};

// Butterfly reduction: every lane ends with the same value (a + b == b + a).
template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v = op(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// Reduction over the whole block (blockDim.x a multiple of 32, at most 1024);
// every thread gets the result. `scratch` holds kWarp values in shared memory.
// Every thread of the block must call it.
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, T identity, Op op, T* scratch) {
  v = warp_reduce(v, op);
  const int lane = threadIdx.x % kWarp;
  const int warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
  __syncthreads();  // readers of scratch[0] from a previous call are done
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < warps ? scratch[lane] : identity;
    w = warp_reduce(w, op);
    if (lane == 0) scratch[0] = w;
  }
  __syncthreads();
  return scratch[0];
}

// ---- forward

// inner == 1, channels <= kWarpRowMax: a warp per row, the row held in registers.
__global__ void softmax_forward_warp_kernel(const float* __restrict__ input,
                                            float* __restrict__ output, int64_t rows,
                                            int channels, bool log_softmax) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps_per_block = blockDim.x / kWarp;
  const int64_t warp_stride = gridDim.x * warps_per_block;
  for (int64_t row = blockIdx.x * warps_per_block + threadIdx.x / kWarp; row < rows;
       row += warp_stride) {
    const float* x = input + row * channels;
    float* y = output + row * channels;
    float v[kPerLane];
    float max = -INFINITY;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      if (k * kWarp >= channels) break;  // warp-uniform
      const int c = lane + k * kWarp;
      v[k] = c < channels ? x[c] : -INFINITY;
      max = fmaxf(max, v[k]);
    }
    max = warp_reduce(max, MaxOp{});
    double sum = 0.0;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      if (k * kWarp >= channels) break;
      if (lane + k * kWarp < channels) {
        const float shifted = v[k] - max;
        const float e = expf(shifted);
        sum += e;
        v[k] = log_softmax ? shifted : e;
      }
    }
    sum = warp_reduce(sum, SumOp{});
    const float log_sum = static_cast<float>(log(sum));
    const float inv_sum = static_cast<float>(1.0 / sum);
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      if (k * kWarp >= channels) break;
      const int c = lane + k * kWarp;
      if (c < channels) y[c] = log_softmax ? v[k] - log_sum : v[k] * inv_sum;
    }
  }
}

// inner == 1, channels > kWarpRowMax: a block per row.
__global__ void softmax_forward_block_kernel(const float* __restrict__ input,
                                             float* __restrict__ output, int64_t rows,
                                             int64_t channels, bool log_softmax) {
  __shared__ float max_scratch[kWarp];
  __shared__ double sum_scratch[kWarp];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* x = input + row * channels;
    float* y = output + row * channels;
    float max = -INFINITY;
    for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) max = fmaxf(max, x[c]);
    max = block_reduce(max, -INFINITY, MaxOp{}, max_scratch);
    double sum = 0.0;
    for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) sum += expf(x[c] - max);
    sum = block_reduce(sum, 0.0, SumOp{}, sum_scratch);
    const float log_sum = static_cast<float>(log(sum));
    const float inv_sum = static_cast<float>(1.0 / sum);
    for (int64_t c = threadIdx.x; c < channels; c += blockDim.x) {
      const float shifted = x[c] - max;
      y[c] = log_softmax ? shifted - log_sum : expf(shifted) * inv_sum;
    }
  }
}

// inner > 1: a thread per (outer, inner) position, channels `inner` apart.
__global__ void softmax_forward_strided_kernel(const float* __restrict__ input,
                                               float* __restrict__ output, int64_t outer,
                                               int64_t channels, int64_t inner,
                                               bool log_softmax) {
  const int64_t positions = outer * inner;
  for (int64_t pos = global_thread(); pos < positions; pos += grid_threads()) {
    const int64_t o = pos / inner;
    const int64_t base = o * channels * inner + (pos - o * inner);
    const float* x = input + base;
    float* y = output + base;
    float max = -INFINITY;
    for (int64_t c = 0; c < channels; ++c) max = fmaxf(max, x[c * inner]);
    double sum = 0.0;
    for (int64_t c = 0; c < channels; ++c) sum += expf(x[c * inner] - max);
    const float log_sum = static_cast<float>(log(sum));
    const float inv_sum = static_cast<float>(1.0 / sum);
    for (int64_t c = 0; c < channels; ++c) {
      const float shifted = x[c * inner] - max;
      y[c * inner] = log_softmax ? shifted - log_sum : expf(shifted) * inv_sum;
    }
  }
}

// ---- backward: `sum` is sum_c dy*y (softmax) or sum_c dy (log-softmax)

__device__ __forceinline__ double backward_term(float y, float dy, bool log_softmax) {
  return log_softmax ? static_cast<double>(dy) : static_cast<double>(dy) * y;  // exact product
}

__device__ __forceinline__ float backward_value(float y, float dy, double sum, bool log_softmax) {
  return log_softmax ? static_cast<float>(dy - static_cast<double>(expf(y)) * sum)
                     : static_cast<float>(y * (static_cast<double>(dy) - sum));
}

__global__ void softmax_backward_warp_kernel(const float* __restrict__ output,
                                             const float* __restrict__ grad_output,
                                             float* __restrict__ grad_input, int64_t rows,
                                             int channels, bool log_softmax) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps_per_block = blockDim.x / kWarp;
  const int64_t warp_stride = gridDim.x * warps_per_block;
  for (int64_t row = blockIdx.x * warps_per_block + threadIdx.x / kWarp; row < rows;
       row += warp_stride) {
    const float* y = output + row * channels;
    const float* dy = grad_output + row * channels;
    float* dx = grad_input + row * channels;
    float yv[kPerLane], dyv[kPerLane];
    double sum = 0.0;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      if (k * kWarp >= channels) break;  // warp-uniform
      const int c = lane + k * kWarp;
      yv[k] = c < channels ? y[c] : 0.f;
      dyv[k] = c < channels ? dy[c] : 0.f;
      sum += backward_term(yv[k], dyv[k], log_softmax);  // 0 for the padding
    }
    sum = warp_reduce(sum, SumOp{});
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      if (k * kWarp >= channels) break;
      const int c = lane + k * kWarp;
      if (c < channels) dx[c] = backward_value(yv[k], dyv[k], sum, log_softmax);
    }
  }
}

__global__ void softmax_backward_block_kernel(const float* __restrict__ output,
                                              const float* __restrict__ grad_output,
                                              float* __restrict__ grad_input, int64_t rows,
                                              int64_t channels, bool log_softmax) {
  __shared__ double sum_scratch[kWarp];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* y = output + row * channels;
    const float* dy = grad_output + row * channels;
    float* dx = grad_input + row * channels;
    double sum = 0.0;
    for (int64_t c = threadIdx.x; c < channels; c += blockDim.x)
      sum += backward_term(y[c], dy[c], log_softmax);
    sum = block_reduce(sum, 0.0, SumOp{}, sum_scratch);
    for (int64_t c = threadIdx.x; c < channels; c += blockDim.x)
      dx[c] = backward_value(y[c], dy[c], sum, log_softmax);
  }
}

__global__ void softmax_backward_strided_kernel(const float* __restrict__ output,
                                                const float* __restrict__ grad_output,
                                                float* __restrict__ grad_input, int64_t outer,
                                                int64_t channels, int64_t inner,
                                                bool log_softmax) {
  const int64_t positions = outer * inner;
  for (int64_t pos = global_thread(); pos < positions; pos += grid_threads()) {
    const int64_t o = pos / inner;
    const int64_t base = o * channels * inner + (pos - o * inner);
    const float* y = output + base;
    const float* dy = grad_output + base;
    float* dx = grad_input + base;
    double sum = 0.0;
    for (int64_t c = 0; c < channels; ++c)
      sum += backward_term(y[c * inner], dy[c * inner], log_softmax);
    for (int64_t c = 0; c < channels; ++c)
      dx[c * inner] = backward_value(y[c * inner], dy[c * inner], sum, log_softmax);
  }
}

}  // namespace

void softmax_forward(const float* input, float* output, int64_t outer, int64_t channels,
                     int64_t inner, bool log, cudaStream_t stream) {
  if (outer <= 0 || channels <= 0 || inner <= 0) return;
  if (inner > 1) {
    CONVNET_LAUNCH(softmax_forward_strided_kernel, blocks_for(outer * inner), kThreads, 0, stream)(
        input, output, outer, channels, inner, log);
    check_launch("softmax_forward_strided_kernel", stream);
  } else if (channels <= kWarpRowMax) {
    CONVNET_LAUNCH(softmax_forward_warp_kernel, blocks_for(outer, kRowsPerBlock), kThreads, 0,
                   stream)(
        input, output, outer, static_cast<int>(channels), log);
    check_launch("softmax_forward_warp_kernel", stream);
  } else {
    CONVNET_LAUNCH(softmax_forward_block_kernel, blocks_for(outer, 1), kThreads, 0, stream)(
        input, output, outer, channels, log);
    check_launch("softmax_forward_block_kernel", stream);
  }
}

void softmax_backward(const float* output, const float* grad_output, float* grad_input,
                      int64_t outer, int64_t channels, int64_t inner, bool log,
                      cudaStream_t stream) {
  if (outer <= 0 || channels <= 0 || inner <= 0) return;
  if (inner > 1) {
    CONVNET_LAUNCH(softmax_backward_strided_kernel, blocks_for(outer * inner), kThreads, 0, stream)(
        output, grad_output, grad_input, outer, channels, inner, log);
    check_launch("softmax_backward_strided_kernel", stream);
  } else if (channels <= kWarpRowMax) {
    CONVNET_LAUNCH(softmax_backward_warp_kernel, blocks_for(outer, kRowsPerBlock), kThreads, 0,
                   stream)(
        output, grad_output, grad_input, outer, static_cast<int>(channels), log);
    check_launch("softmax_backward_warp_kernel", stream);
  } else {
    CONVNET_LAUNCH(softmax_backward_block_kernel, blocks_for(outer, 1), kThreads, 0, stream)(
        output, grad_output, grad_input, outer, channels, log);
    check_launch("softmax_backward_block_kernel", stream);
  }
}

}  // namespace convnet::kernels
