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

#include <cstdlib>
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

// cudaHostAlloc needs a driver; without a usable GPU pinning buys nothing, so
// fall back to plain host memory. device_count() is fixed for the process, so
// release_pinned makes the same choice as the allocation did.
void* allocate_pinned(size_t bytes) {
  if (device_count() == 0) {
    void* ptr = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    CONVNET_CHECK(ptr != nullptr, "allocate_pinned: out of host memory allocating ", bytes, " bytes");
    return ptr;
  }
  void* ptr = nullptr;
  const cudaError_t status = cudaHostAlloc(&ptr, bytes, cudaHostAllocPortable);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    CONVNET_FAIL("allocate_pinned: cudaHostAlloc of ", bytes, " bytes failed: ",
                 cudaGetErrorName(status), " (", cudaGetErrorString(status), ")");
  }
  return ptr;
}

void release_pinned(void* ptr) {
  if (device_count() == 0) std::free(ptr);
  else (void)cudaFreeHost(ptr);  // a destructor path: nothing useful to do with an error
}

void gather_rows(int device, DType dtype, const void* source, const int32_t* indices, int64_t rows,
                 int64_t row_size, void* out) {
  CONVNET_CUDA_CHECK(cudaSetDevice(device));
  if (dtype == DType::F32) {
    kernels::gather_rows_f32(static_cast<const float*>(source), indices, rows, row_size,
                             static_cast<float*>(out), nullptr);
  } else {
    kernels::gather_rows_i32(static_cast<const int32_t*>(source), indices, rows, row_size,
                             static_cast<int32_t*>(out), nullptr);
  }
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
