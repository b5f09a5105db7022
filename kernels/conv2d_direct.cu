// Direct convolution: the readable GPU reference the implicit GEMM
// (conv2d_gemm.cu) is tested against on the device. Each pass is the plain sum
// of its definition, the address math of conv2d_index.hpp, and nothing clever.
//
// Decomposition:
//   forward          one thread per output element [n,k,p,q]: sum over (c,r,s), + bias
//   backward data    one thread per input element [n,c,h,w]: gather over (k,r,s),
//                    so no two threads write one element (no atomics)
//   backward filter  one block per weight element [k,c,r,s]: each thread sums a
//                    strided share of the N*P*Q pixels, then a fixed-order tree
//                    in shared memory (the reduction is long: 100k pixels for
//                    the MNIST CNN at batch 128, too long for one thread)
// Grid-stride loops (launch.cuh) cover any size with one launch. Every sum runs
// in a fixed order, so results are bitwise reproducible.
#include <cuda_runtime.h>

#include "convnet/error.hpp"
#include "kernels/conv2d_index.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {

__global__ void conv2d_forward_direct_kernel(ConvGeometry g, const float* __restrict__ input,
                                             const float* __restrict__ weight,
                                             const float* __restrict__ bias,
                                             float* __restrict__ output) {
  const int64_t count = g.n * g.k * g.p * g.q;
  const int64_t crs = g.c * g.r * g.s;
  for (int64_t e = global_thread(); e < count; e += grid_threads()) {
    // e = (n*K + k)*PQ + (p*Q + q): the plane index holds n and k.
    const int64_t plane = div_nonneg(e, g.p * g.q);
    const int64_t n = div_nonneg(plane, g.k);
    const int64_t k = plane - n * g.k;
    const Pixel o = forward_row(g, n * g.p * g.q + (e - plane * g.p * g.q));
    float sum = 0.f;
    for (int64_t kk = 0; kk < crs; ++kk) {
      const int64_t offset = forward_input_offset(g, o, forward_tap(g, kk));
      if (offset >= 0) sum = fmaf(input[offset], weight[forward_weight_offset(g, k, kk)], sum);
    }
    output[e] = bias != nullptr ? sum + bias[k] : sum;
  }
}

__global__ void conv2d_backward_data_direct_kernel(ConvGeometry g,
                                                   const float* __restrict__ grad_output,
                                                   const float* __restrict__ weight,
                                                   float* __restrict__ grad_input) {
  const int64_t count = g.n * g.c * g.h * g.w;
  const int64_t krs = g.k * g.r * g.s;
  for (int64_t e = global_thread(); e < count; e += grid_threads()) {
    const int64_t plane = div_nonneg(e, g.h * g.w);  // n*C + c
    const int64_t n = div_nonneg(plane, g.c);
    const int64_t c = plane - n * g.c;
    const Pixel i = backward_data_row(g, n * g.h * g.w + (e - plane * g.h * g.w));
    float sum = 0.f;
    for (int64_t kk = 0; kk < krs; ++kk) {
      const Tap t = backward_data_tap(g, kk);
      const int64_t offset = backward_data_grad_output_offset(g, i, t);
      if (offset >= 0)
        sum = fmaf(grad_output[offset], weight[backward_data_weight_offset(g, t, c)], sum);
    }
    grad_input[e] = sum;
  }
}

constexpr int kFilterThreads = 256;

// Launched with kFilterThreads threads; blocks stride over the weight elements.
__global__ void conv2d_backward_filter_direct_kernel(ConvGeometry g,
                                                     const float* __restrict__ input,
                                                     const float* __restrict__ grad_output,
                                                     float* __restrict__ grad_weight,
                                                     bool accumulate) {
  __shared__ float partial[kFilterThreads];
  const int64_t crs = g.c * g.r * g.s;
  const int64_t count = g.k * crs;
  const int64_t npq = g.n * g.p * g.q;
  // The loop bound depends on blockIdx only, so every thread of a block takes
  // the same trips and reaches every __syncthreads.
  for (int64_t e = blockIdx.x; e < count; e += gridDim.x) {
    const int64_t k = div_nonneg(e, crs);
    const Tap t = backward_filter_column(g, e - k * crs);
    float sum = 0.f;
    for (int64_t kk = threadIdx.x; kk < npq; kk += kFilterThreads) {
      const Pixel o = backward_filter_reduction(g, kk);
      const int64_t offset = backward_filter_input_offset(g, o, t);
      if (offset >= 0)
        sum = fmaf(grad_output[backward_filter_grad_output_offset(g, k, o)], input[offset], sum);
    }
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int half = kFilterThreads / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
      __syncthreads();
    }
    if (threadIdx.x == 0) grad_weight[e] = accumulate ? grad_weight[e] + partial[0] : partial[0];
    __syncthreads();  // partial[0] is read before the next element overwrites it
  }
}

}  // namespace

// Called by the launchers in conv2d_gemm.cu, which check for empty tensors first.
namespace detail {

void conv2d_forward_direct(const ConvGeometry& g, const float* input, const float* weight,
                           const float* bias, float* output, cudaStream_t stream) {
  const int64_t count = g.n * g.k * g.p * g.q;
  CONVNET_LAUNCH(conv2d_forward_direct_kernel, blocks_for(count), kThreads, 0, stream)(
      g, input, weight, bias, output);
  check_launch("conv2d_forward_direct", stream);
}

void conv2d_backward_data_direct(const ConvGeometry& g, const float* grad_output,
                                 const float* weight, float* grad_input, cudaStream_t stream) {
  const int64_t count = g.n * g.c * g.h * g.w;
  CONVNET_LAUNCH(conv2d_backward_data_direct_kernel, blocks_for(count), kThreads, 0, stream)(
      g, grad_output, weight, grad_input);
  check_launch("conv2d_backward_data_direct", stream);
}

void conv2d_backward_filter_direct(const ConvGeometry& g, const float* input,
                                   const float* grad_output, float* grad_weight, bool accumulate,
                                   cudaStream_t stream) {
  const int64_t count = g.k * g.c * g.r * g.s;
  // One block per weight element: blocks_for with one "thread" per element.
  CONVNET_LAUNCH(conv2d_backward_filter_direct_kernel, blocks_for(count, 1), kFilterThreads, 0,
                 stream)(
      g, input, grad_output, grad_weight, accumulate);
  check_launch("conv2d_backward_filter_direct", stream);
}

}  // namespace detail
}  // namespace convnet::kernels
