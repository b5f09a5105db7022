// Device memory for CUDA tensors: a caching allocator over cudaMalloc.
//
// Why caching: cudaMalloc/cudaFree synchronise the device and cost tens of
// microseconds; a training step allocates the same sizes every iteration, so
// after the first step every request is served from the free lists and the step
// allocates nothing (the precondition for capturing it as a CUDA graph).
// Blocks are binned by size rounded up to 512 bytes; a block is reused only for
// a request of the same rounded size. On out-of-memory the cache is released and
// the allocation retried once before a convnet::Error is thrown.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <vector>

#include "core/cuda_hooks.hpp"
#include "cuda/cuda_check.hpp"
#include "kernels/kernels.hpp"

namespace convnet::cuda_hooks {
namespace {

size_t round_up(size_t bytes) { return (bytes + 511) / 512 * 512; }

class CachingAllocator {
 public:
  void* allocate(int device, size_t bytes) {
    const size_t size = round_up(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& bin = free_[{device, size}];
      if (!bin.empty()) {
        void* ptr = bin.back();
        bin.pop_back();
        return ptr;
      }
    }
    CONVNET_CUDA_CHECK(cudaSetDevice(device));
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // clear the sticky-free error state before retrying
      release_cache();
      status = cudaMalloc(&ptr, size);
    }
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      (void)cudaMemGetInfo(&free_bytes, &total_bytes);
      CONVNET_FAIL("allocate ", bytes, " bytes on cuda:", device, ": ", cudaGetErrorName(status),
                   " (", cudaGetErrorString(status), "); ", free_bytes >> 20, " MiB free of ",
                   total_bytes >> 20, " MiB");
    }
    return ptr;
  }

  void release(int device, void* ptr, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[{device, round_up(bytes)}].push_back(ptr);
  }

  void release_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [key, blocks] : free_) {
      (void)cudaSetDevice(key.first);
      for (void* p : blocks) (void)cudaFree(p);
      blocks.clear();
    }
  }

 private:
  std::mutex mutex_;
  std::map<std::pair<int, size_t>, std::vector<void*>> free_;
};

CachingAllocator& allocator() {
  // Leaked on purpose: tensors with static lifetime may be freed after main()
  // returns, when the CUDA runtime is already shutting down.
  static auto* instance = new CachingAllocator();
  return *instance;
}

}  // namespace

bool compiled() { return true; }

int device_count() {
  static const int count = [] {
    int n = 0;  // cudaGetDeviceCount leaves it untouched on error 35 (no driver)
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
  }();
  return count;
}

std::string unavailable_reason() {
  int n = 0;
  const cudaError_t status = cudaGetDeviceCount(&n);
  (void)cudaGetLastError();
  if (status != cudaSuccess)
    return std::string("no usable CUDA device: ") + cudaGetErrorName(status) + " (" +
           cudaGetErrorString(status) + ")";
  return n > 0 ? "" : "no CUDA device found";
}

void* allocate(int device, size_t bytes) { return allocator().allocate(device, bytes); }

void release(int device, void* ptr, size_t bytes) { allocator().release(device, ptr, bytes); }

void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  cudaMemcpyKind kind = cudaMemcpyDefault;  // unified addressing works out the direction
  if (dst_device.is_cuda()) CONVNET_CUDA_CHECK(cudaSetDevice(dst_device.index));
  else if (src_device.is_cuda()) CONVNET_CUDA_CHECK(cudaSetDevice(src_device.index));
  CONVNET_CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
}

void fill(int device, void* ptr, DType dtype, int64_t count, float value) {
  CONVNET_CUDA_CHECK(cudaSetDevice(device));
  if (dtype == DType::F32) {
    kernels::fill_f32(static_cast<float*>(ptr), count, value, nullptr);
  } else {
    kernels::fill_i32(static_cast<int32_t*>(ptr), count, static_cast<int32_t>(value), nullptr);
  }
}

}  // namespace convnet::cuda_hooks
