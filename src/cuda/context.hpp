// The device runtime: one Context per CUDA device, holding the non-blocking
// stream that carries every kernel, cuBLAS call and copy of the GPU backends,
// the cuBLAS handle bound to it, a growable workspace and the device-side error
// flag. Lazily created, thread-safe, never destroyed (tensors with static
// lifetime may be freed after main() returns, when CUDA is shutting down).
//
// Ordering rule: everything for device d goes on context(d).stream(), so work
// is ordered without events; the host waits only for that stream (synchronize),
// never for the whole device.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace convnet::cuda {

// Sets the current device for its lifetime and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

class Context {
 public:
  explicit Context(int device);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }

  // Scratch of at least `bytes` on this device, valid for work enqueued on
  // stream() until the next call (growth frees the old buffer in stream order).
  void* workspace(size_t bytes);
  // int32[4] {code, value, row, limit}: see kernels.hpp, LabelErrorCode.
  int32_t* error_flag() const { return error_flag_; }

  // Waits for the stream, then raises any error a kernel flagged (clearing it).
  void synchronize();
  // Raises the flagged error, if any; the caller has synchronised the stream.
  void raise_flagged_error();

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  int32_t* error_flag_ = nullptr;
  int32_t* error_host_ = nullptr;  // pinned mirror, read after a sync
  void* cublas_workspace_ = nullptr;
  std::mutex workspace_mutex_;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  friend void copy_device_to_host_checked(Context&, void*, const void*, size_t);
};

// The context of `device` (created on first use). Throws convnet::Error when
// the device does not exist or CUDA cannot be initialised.
Context& context(int device);

// A device-to-host copy on the context's stream, plus the error flag, with one
// stream synchronisation; raises a flagged error after the copy completes.
void copy_device_to_host_checked(Context& ctx, void* dst, const void* src, size_t bytes);

}  // namespace convnet::cuda
