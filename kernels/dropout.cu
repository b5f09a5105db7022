// Inverted dropout over flat contiguous arrays, bit for bit the CPU backend's
// (src/cpu/dropout.cpp):
//   mask[i] = philox_uniform(seed, offset, i) >= p ? 1/(1-p) : 0,  output = input * mask
//   backward: grad_input = grad_output * mask
// keep_scale = 1.f / (1.f - p) is computed once on the host in float, as the CPU
// does, and the Philox functions are the same source (convnet/random.hpp,
// __host__ __device__ under nvcc), so every mask bit and product agrees.
// Decomposition (forward): a grid-stride loop over groups of 4 elements. One
// Philox4x32 call yields the 4 words of counter i/4, i.e. the uniforms of
// elements 4g .. 4g+3 (philox_uniform uses word i % 4 of counter i / 4), so a
// thread draws once for its 4 elements and, when every pointer is 16-byte
// aligned, moves them as float4. The last partial group and unaligned arrays go
// element by element. Backward: a grid-stride loop, float4 when aligned plus a
// scalar tail.
#include <cuda_runtime.h>

#include <cstdint>

#include "convnet/error.hpp"
#include "convnet/random.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {

__device__ __forceinline__ float keep_or_drop(uint32_t bits, float p, float keep_scale) {
  return uniform_from_bits(bits) >= p ? keep_scale : 0.f;
}

__global__ void dropout_forward_kernel(const float* __restrict__ input, float p,
                                       float keep_scale, uint64_t seed, uint64_t offset,
                                       float* __restrict__ output, float* __restrict__ mask,
                                       int64_t count, bool vectorised) {
  const int64_t groups = (count + 3) / 4;
  for (int64_t g = global_thread(); g < groups; g += grid_threads()) {
    const Philox4x32 r = philox4x32(static_cast<uint64_t>(g), offset, seed);
    const int64_t first = g * 4;
    if (vectorised && first + 4 <= count) {
      const float4 x = reinterpret_cast<const float4*>(input)[g];
      const float4 m = make_float4(keep_or_drop(r.v[0], p, keep_scale),
                                   keep_or_drop(r.v[1], p, keep_scale),
                                   keep_or_drop(r.v[2], p, keep_scale),
                                   keep_or_drop(r.v[3], p, keep_scale));
      reinterpret_cast<float4*>(mask)[g] = m;
      reinterpret_cast<float4*>(output)[g] = make_float4(x.x * m.x, x.y * m.y, x.z * m.z,
                                                         x.w * m.w);
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t i = first + j;
        if (i < count) {
          const float m = keep_or_drop(r.v[j], p, keep_scale);
          mask[i] = m;
          output[i] = input[i] * m;
        }
      }
    }
  }
}

// grad_input may alias grad_output: each thread reads its elements first.
__global__ void dropout_backward_kernel(const float* grad_output, const float* mask,
                                        float* grad_input, int64_t count, bool vectorised) {
  const int64_t start = global_thread();
  const int64_t stride = grid_threads();
  int64_t scalar_begin = 0;
  if (vectorised) {
    const int64_t count4 = count / 4;
    const float4* dy4 = reinterpret_cast<const float4*>(grad_output);
    const float4* m4 = reinterpret_cast<const float4*>(mask);
    float4* dx4 = reinterpret_cast<float4*>(grad_input);
    for (int64_t i = start; i < count4; i += stride) {
      const float4 g = dy4[i];
      const float4 m = m4[i];
      dx4[i] = make_float4(g.x * m.x, g.y * m.y, g.z * m.z, g.w * m.w);
    }
    scalar_begin = count4 * 4;
  }
  for (int64_t i = scalar_begin + start; i < count; i += stride)
    grad_input[i] = grad_output[i] * mask[i];
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace

void dropout_forward(const float* input, float p, uint64_t seed, uint64_t offset, float* output,
                     float* mask, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  const float keep_scale = 1.f / (1.f - p);  // float, as the CPU backend computes it
  const bool vectorised = aligned16(input) && aligned16(output) && aligned16(mask);
  CONVNET_LAUNCH(dropout_forward_kernel, blocks_for((count + 3) / 4), kThreads, 0, stream)(
      input, p, keep_scale, seed, offset, output, mask, count, vectorised);
  check_launch("dropout_forward_kernel", stream);
}

void dropout_backward(const float* grad_output, const float* mask, float* grad_input,
                      int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  const bool vectorised = aligned16(grad_output) && aligned16(mask) && aligned16(grad_input);
  const int64_t work = vectorised ? (count + 3) / 4 : count;
  CONVNET_LAUNCH(dropout_backward_kernel, blocks_for(work), kThreads, 0, stream)(
      grad_output, mask, grad_input, count, vectorised);
  check_launch("dropout_backward_kernel", stream);
}

}  // namespace convnet::kernels
