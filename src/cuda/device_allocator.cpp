// Device memory for CUDA tensors. Two strategies, chosen once per process by
// CONVNET_CUDA_ALLOCATOR (a device without memory-pool support falls back to
// the caching bins by itself and says so once: allocator_choice.hpp):
//
// - "async" (the default): CUDA's stream-ordered allocator, cudaMallocAsync /
//   cudaFreeAsync on the context's stream, from the device's default pool with
//   its release threshold raised to "never", so freed memory stays in the pool
//   for the next step. It splits and coalesces blocks, orders reuse by the
//   stream, and works inside CUDA-graph capture.
// - "caching": our exact-size bins over cudaMalloc (a block is reused only for
//   a request of the same 512-byte-rounded size). Kept for comparison: the
//   allocator benchmark (bench/cuda_allocator_bench.cpp) runs both on a training
//   step's allocation pattern.
//
// Reuse is safe without events in both because every use of a block is on the
// one stream of its device: a block freed after a kernel was enqueued is only
// handed to work enqueued later on the same stream.
//
// Out of memory: the cache is released (pool trimmed) and the allocation retried
// once; then a convnet::Error names the requested and the free bytes, and the
// process can go on.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/cuda_hooks.hpp"
#include "cuda/allocator_choice.hpp"
#include "cuda/context.hpp"
#include "cuda/cuda_check.hpp"

namespace convnet::cuda_hooks {
namespace {

constexpr int kMaxDevices = 64;
std::atomic<int64_t> g_live_bytes[kMaxDevices];

// The strategy of `device`, decided at its first allocation (allocator_choice.hpp):
// the requested one, unless the device has no memory pools.
AllocatorKind device_allocator(int device) {
  static const AllocatorKind requested = requested_allocator(std::getenv("CONVNET_CUDA_ALLOCATOR"));
  static std::atomic<int> decided[kMaxDevices];  // 0: not yet, else 1 + AllocatorKind
  if (const int d = decided[device].load(std::memory_order_acquire)) return static_cast<AllocatorKind>(d - 1);
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  if (decided[device].load() == 0) {
    bool pools = true;
    if (requested == AllocatorKind::Async) {
      int supported = 0;
      CONVNET_CUDA_CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device));
      pools = supported != 0;
    }
    const std::string note = allocator_note(device, requested, pools);
    if (!note.empty()) std::fprintf(stderr, "%s\n", note.c_str());
    decided[device].store(1 + static_cast<int>(allocator_for_device(requested, pools)),
                          std::memory_order_release);
  }
  return static_cast<AllocatorKind>(decided[device].load() - 1);
}
bool use_async(int device) { return device_allocator(device) == AllocatorKind::Async; }

[[noreturn]] void out_of_memory(int device, size_t bytes, cudaError_t status) {
  (void)cudaGetLastError();
  size_t free_bytes = 0, total_bytes = 0;
  (void)cudaMemGetInfo(&free_bytes, &total_bytes);
  (void)cudaGetLastError();
  CONVNET_FAIL("allocate ", bytes, " bytes (", bytes >> 20, " MiB) on cuda:", device, ": ",
               cudaGetErrorName(status), " (", cudaGetErrorString(status), "); ", free_bytes,
               " bytes (", free_bytes >> 20, " MiB) free of ", total_bytes >> 20,
               " MiB after releasing the cache");
}

// ---- stream-ordered

cudaMemPool_t configured_pool(int device) {
  static std::mutex mutex;
  static cudaMemPool_t pools[kMaxDevices] = {};
  std::lock_guard<std::mutex> lock(mutex);
  if (pools[device] == nullptr) {
    cudaMemPool_t pool = nullptr;
    CONVNET_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    uint64_t keep_everything = UINT64_MAX;
    CONVNET_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_everything));
    pools[device] = pool;
  }
  return pools[device];
}

void* allocate_async(int device, size_t bytes) {
  cuda::Context& ctx = cuda::context(device);
  cuda::DeviceGuard guard(device);
  cudaMemPool_t pool = configured_pool(device);
  void* ptr = nullptr;
  cudaError_t status = cudaMallocAsync(&ptr, bytes, ctx.stream());
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    // Blocks freed on the stream return to the pool when the stream reaches
    // the free; wait for that, then give all unused pool memory back.
    CONVNET_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
    CONVNET_CUDA_CHECK(cudaMemPoolTrimTo(pool, 0));
    status = cudaMallocAsync(&ptr, bytes, ctx.stream());
  }
  if (status != cudaSuccess) out_of_memory(device, bytes, status);
  return ptr;
}

void release_async(int device, void* ptr) {
  // A destructor path: report nothing, but never leave the error sticky.
  cuda::Context& ctx = cuda::context(device);
  if (cudaFreeAsync(ptr, ctx.stream()) != cudaSuccess) (void)cudaGetLastError();
}

// ---- exact-size caching bins

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
    cuda::DeviceGuard guard(device);
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cache();
      status = cudaMalloc(&ptr, size);
    }
    if (status != cudaSuccess) out_of_memory(device, bytes, status);
    return ptr;
  }

  void release(int device, void* ptr, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[{device, round_up(bytes)}].push_back(ptr);
  }

  void release_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [key, blocks] : free_) {
      if (blocks.empty()) continue;
      cuda::DeviceGuard guard(key.first);
      for (void* p : blocks) (void)cudaFree(p);  // cudaFree waits for pending work
      blocks.clear();
    }
  }

 private:
  std::mutex mutex_;
  std::map<std::pair<int, size_t>, std::vector<void*>> free_;
};

CachingAllocator& caching() {
  static auto* instance = new CachingAllocator();  // leaked: see context.hpp
  return *instance;
}

}  // namespace

void* allocate(int device, size_t bytes) {
  CONVNET_CHECK(device >= 0 && device < kMaxDevices, "allocate: device index ", device,
                " out of range");
  void* ptr = use_async(device) ? allocate_async(device, bytes) : caching().allocate(device, bytes);
  g_live_bytes[device] += static_cast<int64_t>(bytes);
  return ptr;
}

void release(int device, void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  g_live_bytes[device] -= static_cast<int64_t>(bytes);
  if (use_async(device)) release_async(device, ptr);
  else caching().release(device, ptr, bytes);
}

int64_t live_bytes(int device) {
  return device >= 0 && device < kMaxDevices ? g_live_bytes[device].load() : 0;
}

// The strategy of device 0 (the one the benchmarks and tests use).
const char* allocator_name() { return allocator_kind_name(device_allocator(0)); }

void release_cache(int device) {
  if (use_async(device)) {
    cuda::Context& ctx = cuda::context(device);
    cuda::DeviceGuard guard(device);
    CONVNET_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
    CONVNET_CUDA_CHECK(cudaMemPoolTrimTo(configured_pool(device), 0));
  } else {
    caching().release_cache();
  }
}

}  // namespace convnet::cuda_hooks
