#include "cuda/context.hpp"

#include <array>
#include <memory>
#include <vector>

#include "core/cuda_hooks.hpp"
#include "cuda/cublas_check.hpp"
#include "cuda/cuda_check.hpp"
#include "kernels/kernels.hpp"

namespace convnet::cuda {

DeviceGuard::DeviceGuard(int device) {
  CONVNET_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) CONVNET_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current != previous_) (void)cudaSetDevice(previous_);
}

namespace {
// cuBLAS's recommended workspace on Hopper; given explicitly so cuBLAS never
// allocates behind our back (and a captured graph can replay its calls).
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

const char* label_error_op(int32_t code) {
  switch (code) {
    case kernels::kCrossEntropyForwardLabel: return "softmax_cross_entropy_forward";
    case kernels::kCrossEntropyBackwardLabel: return "softmax_cross_entropy_backward";
  }
  return "a CUDA kernel";
}
}  // namespace

Context::Context(int device) : device_(device) {
  DeviceGuard guard(device);
  CONVNET_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CONVNET_CUBLAS_CHECK(cublasCreate(&cublas_));
  CONVNET_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  // FP32 as written: no TF32 tensor cores, so the CUDA backend holds 1e-5 parity.
  CONVNET_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_PEDANTIC_MATH));
  CONVNET_CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
  CONVNET_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
  CONVNET_CUDA_CHECK(cudaMalloc(&error_flag_, 4 * sizeof(int32_t)));
  CONVNET_CUDA_CHECK(cudaMemsetAsync(error_flag_, 0, 4 * sizeof(int32_t), stream_));
  CONVNET_CUDA_CHECK(cudaHostAlloc(&error_host_, 4 * sizeof(int32_t), cudaHostAllocPortable));
  CONVNET_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void* Context::workspace(size_t bytes) {
  std::lock_guard<std::mutex> lock(workspace_mutex_);
  if (bytes <= workspace_bytes_) return workspace_;
  // Grow geometrically so a few calls settle on the largest size; the old
  // buffer is released in stream order, after the work that still uses it.
  const size_t grown = std::max(bytes, workspace_bytes_ + workspace_bytes_ / 2);
  void* fresh = cuda_hooks::allocate(device_, grown);
  if (workspace_) cuda_hooks::release(device_, workspace_, workspace_bytes_);
  workspace_ = fresh;
  workspace_bytes_ = grown;
  return workspace_;
}

void Context::raise_flagged_error() {
  if (error_host_[0] == kernels::kNoError) return;
  const std::array<int32_t, 4> flag{error_host_[0], error_host_[1], error_host_[2], error_host_[3]};
  error_host_[0] = kernels::kNoError;
  {
    DeviceGuard guard(device_);
    CONVNET_CUDA_CHECK(cudaMemsetAsync(error_flag_, 0, 4 * sizeof(int32_t), stream_));
  }
  CONVNET_FAIL(label_error_op(flag[0]), ": label ", flag[1], " at row ", flag[2],
               " is outside [0, ", flag[3], ") (found on cuda:", device_,
               " by a kernel, reported at the next synchronisation)");
}

void Context::synchronize() {
  DeviceGuard guard(device_);
  CONVNET_CUDA_CHECK(cudaMemcpyAsync(error_host_, error_flag_, 4 * sizeof(int32_t),
                                     cudaMemcpyDeviceToHost, stream_));
  CONVNET_CUDA_CHECK(cudaStreamSynchronize(stream_));
  raise_flagged_error();
}

void copy_device_to_host_checked(Context& ctx, void* dst, const void* src, size_t bytes) {
  DeviceGuard guard(ctx.device());
  CONVNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx.stream()));
  CONVNET_CUDA_CHECK(cudaMemcpyAsync(ctx.error_host_, ctx.error_flag_, 4 * sizeof(int32_t),
                                     cudaMemcpyDeviceToHost, ctx.stream()));
  CONVNET_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
  ctx.raise_flagged_error();
}

Context& context(int device) {
  const int count = cuda_hooks::device_count();
  CONVNET_CHECK(device >= 0 && device < count, "cuda:", device, ": no such CUDA device (", count,
                " visible", count == 0 ? "; " + cuda_hooks::unavailable_reason() : std::string(),
                ")");
  static std::mutex mutex;
  // Leaked on purpose (see the header); one slot per device, filled on first use.
  static auto* contexts = new std::vector<std::unique_ptr<Context>>(static_cast<size_t>(count));
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = (*contexts)[static_cast<size_t>(device)];
  if (!slot) slot = std::make_unique<Context>(device);
  return *slot;
}

}  // namespace convnet::cuda
