// Where a CudaBackend call runs: the context of the output's device, with that
// device current for the duration of the call.
#pragma once

#include "convnet/tensor.hpp"
#include "cuda/context.hpp"

namespace convnet::cuda {

struct LaunchScope {
  explicit LaunchScope(const Tensor& output)
      : ctx(context(output.device().index)), guard(output.device().index) {}
  cudaStream_t stream() const { return ctx.stream(); }
  Context& ctx;
  DeviceGuard guard;
};

}  // namespace convnet::cuda
