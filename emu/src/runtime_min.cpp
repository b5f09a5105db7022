// The runtime subset the kernel tests (emu_kernel_tests) need: launches run at
// once on host memory, so there is nothing to wait for, and faults are thrown
// by the launch itself, so none is left behind for cudaGetLastError. The
// emulated build of the library links runtime.cpp instead.
#include <cstring>

#include "cuda_runtime.h"

namespace convnet::emu {
void launch(const LaunchConfig& config, std::function<void()> thread_body) {
  run_grid(config, thread_body);
}
}  // namespace convnet::emu

cudaError_t cudaGetLastError() { return cudaSuccess; }
cudaError_t cudaPeekAtLastError() { return cudaSuccess; }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    default: return "unknown error";
  }
}

cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t) {
  if (pointer == nullptr && bytes > 0) return cudaErrorInvalidValue;
  std::memset(pointer, value, bytes);
  return cudaSuccess;
}
