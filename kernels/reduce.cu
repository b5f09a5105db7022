// Reductions: the bias gradient, the accuracy count, and the second stage of the
// deterministic mean the losses use (reduce.cuh describes the scheme).
//
// bias_backward: grad_bias[k] (+)= sum over n and i of grad_output[n, k, i],
// layout [N, K, inner] (inner = H*W for a convolution, 1 for a linear layer).
// One block per channel (a block-stride loop over channels when K exceeds the
// grid): the block walks the channel's N*inner elements as one flat index
// j = n*inner + i, thread t taking j = t, t + B, t + 2B, ... so adjacent threads
// read adjacent addresses inside a plane, every thread has work even when inner
// is 1 or 49, and (n, i) advance by (B / inner, B % inner) without a division.
// Each thread adds into a double in index order, four loads in flight; the
// block sums the threads in a fixed tree. No atomics: the result depends on the
// shape only. Few channels (a small layer) get 1024-thread blocks so a handful
// of SMs still keep enough loads in flight.
//
// count_correct: one warp per row (grid-stride over rows). Each lane finds the
// best of its strided classes, then a butterfly picks the best of the lanes
// under torch.argmax's order (NaN above everything, then larger value, then
// smaller index): a strict total order, so the winner is unique and every lane
// agrees. Per-block counts go into correct[0] by an integer atomicAdd, which is
// exact in any order; without `accumulate` correct[0] is zeroed first in-stream.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"
#include "kernels/reduce.cuh"

namespace convnet::kernels {
namespace {

constexpr int kWarpsPerBlock = kThreads / 32;
constexpr int kBiasUnroll = 4;

// ---- bias_backward

// plane_step = B / inner, index_step = B % inner (B = blockDim.x), precomputed on
// the host; inner > 0 whenever n * inner > 0.
__global__ void __launch_bounds__(1024)
    bias_backward_kernel(const float* __restrict__ grad_output, int64_t n, int64_t k,
                         int64_t inner, int64_t plane_step, int64_t index_step,
                         float* __restrict__ grad_bias, bool accumulate) {
  __shared__ double scratch[32];
  const int64_t per_channel = n * inner;
  const int64_t block = blockDim.x;
  for (int64_t channel = blockIdx.x; channel < k; channel += gridDim.x) {
    double acc = 0.0;
    if (per_channel > 0) {
      // (sample, i) = divmod(j, inner) for this thread's current j.
      int64_t sample = threadIdx.x / inner;
      int64_t i = threadIdx.x - sample * inner;
      for (int64_t j = threadIdx.x; j < per_channel; j += kBiasUnroll * block) {
        float v[kBiasUnroll];
#pragma unroll
        for (int u = 0; u < kBiasUnroll; ++u) {
          // sample < n exactly when j + u*B < per_channel.
          v[u] = j + u * block < per_channel ? grad_output[(sample * k + channel) * inner + i] : 0.f;
          sample += plane_step;
          i += index_step;
          if (i >= inner) {
            i -= inner;
            ++sample;
          }
        }
#pragma unroll
        for (int u = 0; u < kBiasUnroll; ++u) acc += v[u];
      }
    }
    const double total = block_sum(acc, scratch);
    if (threadIdx.x == 0)
      grad_bias[channel] =
          static_cast<float>(accumulate ? static_cast<double>(grad_bias[channel]) + total : total);
    __syncthreads();  // warp 0 has read scratch before the next channel writes it
  }
}

// ---- count_correct

// True when (a, ia) ranks above (b, ib) in torch.argmax's order.
__device__ __forceinline__ bool ranks_above(float a, int64_t ia, float b, int64_t ib) {
  const bool a_nan = isnan(a), b_nan = isnan(b);
  if (a_nan || b_nan) return a_nan && (!b_nan || ia < ib);
  return a > b || (a == b && ia < ib);
}

__global__ void __launch_bounds__(kThreads)
    count_correct_kernel(const float* __restrict__ logits, const int32_t* __restrict__ labels,
                         int64_t rows, int64_t classes, int32_t* __restrict__ correct) {
  __shared__ int scratch[32];
  const int lane = threadIdx.x & 31;
  const int64_t first_row = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + (threadIdx.x >> 5);
  const int64_t row_stride = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  int count = 0;  // rows this warp got right (kept in lane 0)
  for (int64_t row = first_row; row < rows; row += row_stride) {
    const float* x = logits + row * classes;
    // Sentinel: -inf at index `classes` ranks below every real element.
    float best = -INFINITY;
    int64_t best_index = classes;
    for (int64_t c = lane; c < classes; c += 32) {
      const float v = x[c];
      if (ranks_above(v, c, best, best_index)) {
        best = v;
        best_index = c;
      }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      const float other = __shfl_xor_sync(0xffffffffu, best, offset);
      const int64_t other_index = __shfl_xor_sync(0xffffffffu, best_index, offset);
      if (ranks_above(other, other_index, best, best_index)) {
        best = other;
        best_index = other_index;
      }
    }
    if (lane == 0 && best_index == static_cast<int64_t>(labels[row])) ++count;
  }
  const int total = block_sum(count, scratch);
  if (threadIdx.x == 0 && total != 0) atomicAdd(correct, total);
}

// ---- stage 2 of the deterministic mean

__global__ void __launch_bounds__(kThreads)
    finish_mean_kernel(const double* __restrict__ partials, int partial_count, double divisor,
                       float* __restrict__ out) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < partial_count; i += blockDim.x) acc += partials[i];
  const double total = block_sum(acc, scratch);
  if (threadIdx.x == 0) out[0] = static_cast<float>(total / divisor);
}

}  // namespace

void finish_mean(const double* partials, int partial_count, double divisor, float* out,
                 cudaStream_t stream, const char* name) {
  CONVNET_LAUNCH(finish_mean_kernel, 1, kThreads, 0, stream)(partials, partial_count, divisor, out);
  check_launch(name, stream);
}

void bias_backward(const float* grad_output, int64_t n, int64_t k, int64_t inner,
                   float* grad_bias, bool accumulate, cudaStream_t stream) {
  if (k <= 0) return;
  if (n < 0) n = 0;
  if (inner < 0) inner = 0;
  // Below about one channel per SM, bigger blocks keep more loads in flight.
  const int threads = k < 128 ? 1024 : kThreads;
  const int64_t plane_step = inner > 0 ? threads / inner : 0;
  const int64_t index_step = inner > 0 ? threads % inner : 0;
  CONVNET_LAUNCH(bias_backward_kernel, blocks_for(k, 1), threads, 0, stream)(
      grad_output, n, k, inner, plane_step, index_step, grad_bias, accumulate);
  check_launch("bias_backward", stream);
}

void count_correct(const float* logits, const int32_t* labels, int64_t rows, int64_t classes,
                   int32_t* correct, bool accumulate, cudaStream_t stream) {
  if (!accumulate) {
    const cudaError_t status = cudaMemsetAsync(correct, 0, sizeof(int32_t), stream);
    if (status != cudaSuccess) {
      cudaGetLastError();  // clear it, so the next launch check does not report it again
      CONVNET_FAIL("count_correct: zeroing the count failed: ", cudaGetErrorName(status), " (",
                   cudaGetErrorString(status), ")");
    }
  }
  if (rows <= 0 || classes <= 0) return;  // no row counts (the CPU backend's rule)
  CONVNET_LAUNCH(count_correct_kernel, blocks_for(rows, kWarpsPerBlock), kThreads, 0, stream)(
      logits, labels, rows, classes, correct);
  check_launch("count_correct", stream);
}

}  // namespace convnet::kernels
