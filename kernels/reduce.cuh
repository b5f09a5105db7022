// Deterministic device-side sums, shared by reduce.cu and loss.cu.
//
// Floating-point addition is not associative, so a sum whose order depends on
// which block or warp runs first (float atomics) changes in its last bits from
// run to run. Every sum here has an order fixed by the launch shape alone:
//   - warp_sum: a butterfly over the 32 lanes (xor 16, 8, 4, 2, 1); because
//     a + b == b + a exactly, every lane ends with the bit-identical total;
//   - block_sum: each warp's total into shared memory, then warp 0 sums them;
//   - a mean over `count` items (mean_of_terms) runs in two kernels: stage 1
//     with a FIXED number of blocks (at most kMaxPartials) where each thread
//     adds its grid-stride items in index order and each block writes one
//     double partial into the caller's workspace; stage 2 (finish_mean, one
//     block) adds the partials in a fixed tree and writes (float)(sum / divisor).
// Accumulation is in double, as the CPU backend's sums are.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {

// Partials a workspace of kLossWorkspaceBytes holds: the most blocks a stage 1 may use.
constexpr int kMaxPartials = static_cast<int>(kLossWorkspaceBytes / sizeof(double));

// Blocks of a stage-1 launch over `items` work items, `items_per_block` per block
// per grid-stride round: blocks_for (which honours the test grid cap), at most kMaxPartials.
inline int partial_blocks(int64_t items, int items_per_block = kThreads) {
  const int blocks = blocks_for(items, items_per_block);
  return blocks < kMaxPartials ? blocks : kMaxPartials;
}

// Sum over the 32 lanes of a warp; all lanes must call it (full mask) and all get the total.
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ int warp_sum(int v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block; every thread calls it, blockDim.x a multiple of 32 (<= 1024).
// `scratch` is __shared__ T[32]. The total is valid in warp 0 (use thread 0).
// A caller that calls it again with the same scratch must __syncthreads() first,
// since warp 0 may still be reading scratch when the other warps run ahead.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = static_cast<int>(blockDim.x >> 5);
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = T(0);
  if (warp == 0) total = warp_sum(lane < warps ? scratch[lane] : T(0));
  return total;
}

// Stage 1 of mean_of_terms: partials[blockIdx.x] = sum of term(i) over the
// block's grid-stride indices. Term: a copyable struct with
// `__device__ double operator()(int64_t i) const`.
template <typename Term>
__global__ void __launch_bounds__(kThreads)
    sum_terms_kernel(Term term, int64_t count, double* __restrict__ partials) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int64_t i = global_thread(); i < count; i += grid_threads()) acc += term(i);
  const double total = block_sum(acc, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// Stage 2 (reduce.cu): out[0] = (float)(sum of partials[0, partial_count) / divisor),
// one block, fixed order. `name` names the operation in a launch error.
void finish_mean(const double* partials, int partial_count, double divisor, float* out,
                 cudaStream_t stream, const char* name);

// out[0] = (float)(sum over i < count of term(i) / count), deterministically,
// through `workspace` (kLossWorkspaceBytes, 8-byte aligned). count > 0.
template <typename Term>
void mean_of_terms(const Term& term, int64_t count, float* out, void* workspace,
                   cudaStream_t stream, const char* name) {
  double* partials = static_cast<double*>(workspace);
  const int blocks = partial_blocks(count);
  CONVNET_LAUNCH(sum_terms_kernel<Term>, blocks, kThreads, 0, stream)(term, count, partials);
  check_launch(name, stream);
  finish_mean(partials, blocks, static_cast<double>(count), out, stream, name);
}

}  // namespace convnet::kernels
