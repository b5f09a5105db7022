// The CUDA hooks of a CPU-only build: every use of a CUDA device is a clear error.
#include "core/cuda_hooks.hpp"

#include <cstdlib>

namespace convnet::cuda_hooks {
namespace {
[[noreturn]] void no_cuda(const char* what) {
  CONVNET_FAIL(what, ": convnet was built without CUDA (CONVNET_CUDA=OFF, or nvcc/cuBLAS/cuDNN "
               "not found at configure time); rebuild with CUDA to use Device::cuda()");
}
}  // namespace

bool compiled() { return false; }
Backend* cuda_backend() { return nullptr; }
int device_count() { return 0; }
std::string unavailable_reason() { return "convnet was built without CUDA"; }
void* allocate(int, size_t) { no_cuda("allocate CUDA tensor"); }
void release(int, void*, size_t) {}
int64_t live_bytes(int) { return 0; }
const char* allocator_name() { return "none"; }
void release_cache(int) {}
void synchronize(int) { no_cuda("synchronize a CUDA device"); }
// Events order GPU copies; with no GPU there is nothing to wait for.
void* create_event() { return nullptr; }
void record_event(void*, int) {}
void wait_event(void*) {}
void destroy_event(void*) {}
void copy(void*, Device, const void*, Device, size_t) { no_cuda("copy to/from CUDA tensor"); }
void fill(int, void*, DType, int64_t, float) { no_cuda("fill CUDA tensor"); }
// With no GPU to copy to, pinning buys nothing: plain aligned host memory.
void* allocate_pinned(size_t bytes) {
  void* ptr = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  CONVNET_CHECK(ptr != nullptr, "allocate_pinned: out of host memory allocating ", bytes, " bytes");
  return ptr;
}
void release_pinned(void* ptr) { std::free(ptr); }
void gather_rows(int, DType, const void*, const int32_t*, int64_t, int64_t, void*) {
  no_cuda("gather rows on a CUDA device");
}

}  // namespace convnet::cuda_hooks
