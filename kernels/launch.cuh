// Launch helpers shared by every kernel family: the grid size of a grid-stride
// loop and the launch-error check DESIGN.md asks after every launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"

namespace convnet::kernels {

constexpr int kThreads = 256;

// Every kernel launch is CONVNET_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...):
// `<<<>>>` under nvcc; in the emulated build (emu/, no GPU) a call into the
// emulator's launch, which gets the kernel's name and this call site for its messages.
#if defined(__CUDACC__)
#define CONVNET_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  kernel<<<grid, block, shared_bytes, stream>>>
#elif defined(CONVNET_EMU_LAUNCH)
#define CONVNET_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  CONVNET_EMU_LAUNCH(kernel, grid, block, shared_bytes, stream)
#else
#error "kernels/*.cu compile with nvcc, or as C++ against emu/include (emu/CMakeLists.txt)"
#endif

// One thread per element up to 65535 blocks (or the test cap, launch.cu);
// grid-stride loops cover the rest.
inline int blocks_for(int64_t count, int threads = kThreads) {
  int64_t blocks = (count + threads - 1) / threads;
  const int64_t cap = grid_cap() > 0 ? grid_cap() : 65535;
  if (blocks > cap) blocks = cap;
  return static_cast<int>(blocks > 0 ? blocks : 1);
}

// Grid-stride loop index helpers (64-bit: tensors may pass 2^31 elements).
__device__ __forceinline__ int64_t global_thread() {
  return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// True when CONVNET_CUDA_SYNC=1: every launch is followed by a stream sync (launch.cu).
bool sync_after_launch();

// Checks the launch of `kernel` on `stream`; with CONVNET_CUDA_SYNC=1 also waits
// for it, so an asynchronous fault is reported against the kernel that caused it.
inline void check_launch(const char* kernel, cudaStream_t stream) {
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess && sync_after_launch()) {
    status = cudaStreamSynchronize(stream);
    if (status == cudaSuccess) status = cudaGetLastError();
  }
  if (status != cudaSuccess)
    CONVNET_FAIL("launch of ", kernel, " failed: ", cudaGetErrorName(status), " (",
                 cudaGetErrorString(status), ")",
                 sync_after_launch() ? "" : "; rerun with CONVNET_CUDA_SYNC=1 to find the kernel "
                                            "that faulted");
}

}  // namespace convnet::kernels
