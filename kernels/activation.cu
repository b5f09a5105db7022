// Pointwise activations (ReLU, LeakyReLU, Sigmoid, Tanh) and their gradients over
// flat contiguous arrays; the formulas are src/cpu/activation.cpp's:
//   ReLU       y = x < 0 ? 0 : x (NaN propagates)   dx = x > 0 ? dy : 0
//   LeakyReLU  y = x > 0 ? x : x*alpha               dx = x > 0 ? dy : dy*alpha
//   Sigmoid    y = 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0 (never forms
//              e^+large)                            dx = dy*(1-y)*y
//   Tanh       y = tanh(x)                           dx = dy*(1-y*y)
// Backward reads the input (ReLU, LeakyReLU) or the output (Sigmoid, Tanh), as
// cuDNN does. ReLU, LeakyReLU and both backward formulas are exact float
// arithmetic and match the CPU bit for bit (the _rn intrinsics forbid FMA
// contraction, which the CPU build does not do either); Sigmoid and Tanh use
// float expf/tanhf, within a few ulp of the CPU's correctly rounded double.
// Decomposition: a grid-stride loop, one thread per float4 when every pointer is
// 16-byte aligned (then a scalar tail of count % 4), else one per element. One
// kernel per activation (a template), so the switch is not in the loop. Output
// may alias input: each thread reads its elements before writing them.
#include <cuda_runtime.h>

#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {

template <Activation A>
__device__ __forceinline__ float forward_one(float x, float alpha) {
  if constexpr (A == Activation::ReLU) {
    return x < 0.f ? 0.f : x;
  } else if constexpr (A == Activation::LeakyReLU) {
    return x > 0.f ? x : x * alpha;
  } else if constexpr (A == Activation::Sigmoid) {
    if (x >= 0.f) return 1.f / (1.f + expf(-x));
    const float e = expf(x);
    return e / (1.f + e);
  } else {
    return tanhf(x);
  }
}

// `saved` is the input for ReLU/LeakyReLU and the output for Sigmoid/Tanh.
template <Activation A>
__device__ __forceinline__ float backward_one(float saved, float dy, float alpha) {
  if constexpr (A == Activation::ReLU) {
    return saved > 0.f ? dy : 0.f;
  } else if constexpr (A == Activation::LeakyReLU) {
    return saved > 0.f ? dy : dy * alpha;
  } else if constexpr (A == Activation::Sigmoid) {
    return __fmul_rn(__fmul_rn(dy, __fsub_rn(1.f, saved)), saved);  // torch's order
  } else {
    return __fmul_rn(dy, __fsub_rn(1.f, __fmul_rn(saved, saved)));
  }
}

template <Activation A>
__global__ void activation_forward_kernel(const float* input, float* output, int64_t count,
                                          float alpha, bool vectorised) {
  const int64_t start = global_thread();
  const int64_t stride = grid_threads();
  int64_t scalar_begin = 0;
  if (vectorised) {
    const int64_t count4 = count / 4;
    const float4* in4 = reinterpret_cast<const float4*>(input);
    float4* out4 = reinterpret_cast<float4*>(output);
    for (int64_t i = start; i < count4; i += stride) {
      const float4 v = in4[i];
      out4[i] = make_float4(forward_one<A>(v.x, alpha), forward_one<A>(v.y, alpha),
                            forward_one<A>(v.z, alpha), forward_one<A>(v.w, alpha));
    }
    scalar_begin = count4 * 4;
  }
  for (int64_t i = scalar_begin + start; i < count; i += stride)
    output[i] = forward_one<A>(input[i], alpha);
}

template <Activation A>
__global__ void activation_backward_kernel(const float* saved, const float* grad_output,
                                           float* grad_input, int64_t count, float alpha,
                                           bool vectorised) {
  const int64_t start = global_thread();
  const int64_t stride = grid_threads();
  int64_t scalar_begin = 0;
  if (vectorised) {
    const int64_t count4 = count / 4;
    const float4* s4 = reinterpret_cast<const float4*>(saved);
    const float4* dy4 = reinterpret_cast<const float4*>(grad_output);
    float4* dx4 = reinterpret_cast<float4*>(grad_input);
    for (int64_t i = start; i < count4; i += stride) {
      const float4 s = s4[i];
      const float4 g = dy4[i];
      dx4[i] = make_float4(backward_one<A>(s.x, g.x, alpha), backward_one<A>(s.y, g.y, alpha),
                           backward_one<A>(s.z, g.z, alpha), backward_one<A>(s.w, g.w, alpha));
    }
    scalar_begin = count4 * 4;
  }
  for (int64_t i = scalar_begin + start; i < count; i += stride)
    grad_input[i] = backward_one<A>(saved[i], grad_output[i], alpha);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <Activation A>
void launch_forward(const float* input, float* output, int64_t count, float alpha,
                    cudaStream_t stream, const char* name) {
  const bool vectorised = aligned16(input) && aligned16(output);
  const int64_t work = vectorised ? (count + 3) / 4 : count;
  CONVNET_LAUNCH(activation_forward_kernel<A>, blocks_for(work), kThreads, 0, stream)(
      input, output, count, alpha, vectorised);
  check_launch(name, stream);
}

template <Activation A>
void launch_backward(const float* saved, const float* grad_output, float* grad_input,
                     int64_t count, float alpha, cudaStream_t stream, const char* name) {
  const bool vectorised = aligned16(saved) && aligned16(grad_output) && aligned16(grad_input);
  const int64_t work = vectorised ? (count + 3) / 4 : count;
  CONVNET_LAUNCH(activation_backward_kernel<A>, blocks_for(work), kThreads, 0, stream)(
      saved, grad_output, grad_input, count, alpha, vectorised);
  check_launch(name, stream);
}

}  // namespace

void activation_forward(Activation a, float alpha, const float* input, float* output,
                        int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  switch (a) {
    case Activation::ReLU:
      return launch_forward<Activation::ReLU>(input, output, count, alpha, stream,
                                              "activation_forward_kernel<ReLU>");
    case Activation::LeakyReLU:
      return launch_forward<Activation::LeakyReLU>(input, output, count, alpha, stream,
                                                   "activation_forward_kernel<LeakyReLU>");
    case Activation::Sigmoid:
      return launch_forward<Activation::Sigmoid>(input, output, count, alpha, stream,
                                                 "activation_forward_kernel<Sigmoid>");
    case Activation::Tanh:
      return launch_forward<Activation::Tanh>(input, output, count, alpha, stream,
                                              "activation_forward_kernel<Tanh>");
  }
  CONVNET_FAIL("activation_forward: unknown activation ", static_cast<int>(a));
}

void activation_backward(Activation a, float alpha, const float* input, const float* output,
                         const float* grad_output, float* grad_input, int64_t count,
                         cudaStream_t stream) {
  if (count <= 0) return;
  switch (a) {
    case Activation::ReLU:
      return launch_backward<Activation::ReLU>(input, grad_output, grad_input, count, alpha,
                                               stream, "activation_backward_kernel<ReLU>");
    case Activation::LeakyReLU:
      return launch_backward<Activation::LeakyReLU>(input, grad_output, grad_input, count,
                                                    alpha, stream,
                                                    "activation_backward_kernel<LeakyReLU>");
    case Activation::Sigmoid:
      return launch_backward<Activation::Sigmoid>(output, grad_output, grad_input, count, alpha,
                                                  stream, "activation_backward_kernel<Sigmoid>");
    case Activation::Tanh:
      return launch_backward<Activation::Tanh>(output, grad_output, grad_input, count, alpha,
                                               stream, "activation_backward_kernel<Tanh>");
  }
  CONVNET_FAIL("activation_backward: unknown activation ", static_cast<int>(a));
}

}  // namespace convnet::kernels
