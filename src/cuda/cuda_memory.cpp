// The device runtime's data movement, as core sees it (core/cuda_hooks.hpp):
// copies, fills, row gathers, pinned host memory and events. Everything goes on
// the context stream of the device involved (context.hpp); a read back to the
// host waits for that stream only.
//
// fill and gather_rows are runtime primitives rather than Backend operations:
// Tensor::fill_ and the DataLoader's device-resident batches need them below the
// Backend layer, and the CUDA backend's own fill calls the same kernel.
#include <cuda_runtime.h>

#include <cstdlib>

#include "core/cuda_hooks.hpp"
#include "cuda/context.hpp"
#include "cuda/cuda_check.hpp"
#include "kernels/kernels.hpp"

namespace convnet::cuda_hooks {

bool compiled() { return true; }

int device_count() {
  static const int count = [] {
    int n = 0;  // cudaGetDeviceCount leaves it untouched on error 35 (no driver)
    const bool ok = cudaGetDeviceCount(&n) == cudaSuccess;
    (void)cudaGetLastError();
    return ok ? n : 0;
  }();
  return count;
}

std::string unavailable_reason() {
  int n = 0;
  const cudaError_t status = cudaGetDeviceCount(&n);
  (void)cudaGetLastError();
  if (status != cudaSuccess)
    return "no usable CUDA device: cudaGetDeviceCount failed: " + cuda::cuda_error_text(status);
  return n > 0 ? "" : "no CUDA device found";
}

void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu()) {
    // Device to host: the only direction the host must wait for.
    cuda::copy_device_to_host_checked(cuda::context(src_device.index), dst, src, bytes);
    return;
  }
  cuda::Context& dst_ctx = cuda::context(dst_device.index);
  cuda::DeviceGuard guard(dst_device.index);
  if (src_device.is_cpu()) {
    // From pageable memory this returns once the source is staged; from pinned
    // memory it is asynchronous and the source must stay unchanged until the
    // stream reaches the copy (the DataLoader guards its slots with events).
    CONVNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, dst_ctx.stream()));
  } else if (src_device.index == dst_device.index) {
    CONVNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, dst_ctx.stream()));
  } else {
    // Across devices: both streams must have reached this point. Rare, so simply
    // wait for the destination's pending work, copy on the source's stream, wait.
    cuda::Context& src_ctx = cuda::context(src_device.index);
    dst_ctx.synchronize();
    CONVNET_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device.index, src, src_device.index, bytes,
                                           src_ctx.stream()));
    src_ctx.synchronize();
  }
}

void synchronize(int device) { cuda::context(device).synchronize(); }

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
  if (device_count() == 0) {
    std::free(ptr);
    return;
  }
  // An asynchronous copy may still read it; cudaFreeHost waits for the device.
  if (cudaFreeHost(ptr) != cudaSuccess) (void)cudaGetLastError();
}

void gather_rows(int device, DType dtype, const void* source, const int32_t* indices, int64_t rows,
                 int64_t row_size, void* out) {
  cuda::Context& ctx = cuda::context(device);
  cuda::DeviceGuard guard(device);
  if (dtype == DType::F32) {
    kernels::gather_rows_f32(static_cast<const float*>(source), indices, rows, row_size,
                             static_cast<float*>(out), ctx.stream());
  } else {
    kernels::gather_rows_i32(static_cast<const int32_t*>(source), indices, rows, row_size,
                             static_cast<int32_t*>(out), ctx.stream());
  }
}

void fill(int device, void* ptr, DType dtype, int64_t count, float value) {
  cuda::Context& ctx = cuda::context(device);
  cuda::DeviceGuard guard(device);
  if (dtype == DType::F32) {
    kernels::fill_f32(static_cast<float*>(ptr), count, value, ctx.stream());
  } else {
    kernels::fill_i32(static_cast<int32_t*>(ptr), count, static_cast<int32_t>(value), ctx.stream());
  }
}

// ---- events: mark a point in a device's stream and wait for it from the host.

void* create_event() {
  cudaEvent_t event = nullptr;
  CONVNET_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return event;
}

void record_event(void* event, int device) {
  cuda::Context& ctx = cuda::context(device);
  cuda::DeviceGuard guard(device);
  CONVNET_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), ctx.stream()));
}

void wait_event(void* event) {
  CONVNET_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event)));
}

void destroy_event(void* event) {
  if (event && cudaEventDestroy(static_cast<cudaEvent_t>(event)) != cudaSuccess)
    (void)cudaGetLastError();
}

}  // namespace convnet::cuda_hooks
