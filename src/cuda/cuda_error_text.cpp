// A CUDA runtime status in words, for every message that reports one.
//
// One status needs more than CUDA's own text. cudaErrorInsufficientDriver
// ("CUDA driver version is insufficient for CUDA runtime version") is what the
// runtime returns both when the driver is older than the runtime and when there
// is no driver at all (libcuda.so.1 absent: a machine without a GPU, or a
// container started without the NVIDIA runtime). The second is far more common
// and the text misleads there, so we ask the dynamic loader which one it is.
#include <dlfcn.h>

#include <string>

#include "cuda/cuda_check.hpp"

namespace convnet::cuda {
namespace {

#if !CONVNET_CUDA_EMULATED
// 13000 -> "13.0", as cudaDriverGetVersion and cudaRuntimeGetVersion encode them.
std::string cuda_version(int encoded) {
  return std::to_string(encoded / 1000) + "." + std::to_string(encoded % 1000 / 10);
}

std::string driver_problem() {
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (driver == nullptr) {
    const char* why = dlerror();
    return std::string("no NVIDIA driver is installed or loaded (libcuda.so.1 cannot be loaded") +
           (why != nullptr ? std::string(": ") + why : std::string()) + ")";
  }
  dlclose(driver);
  int driver_version = 0, runtime_version = 0;
  (void)cudaDriverGetVersion(&driver_version);
  (void)cudaRuntimeGetVersion(&runtime_version);
  (void)cudaGetLastError();
  return "the NVIDIA driver is too old for this CUDA runtime: the driver supports CUDA " +
         (driver_version > 0 ? cuda_version(driver_version) : std::string("(unknown)")) +
         ", convnet was built with CUDA " + cuda_version(runtime_version) +
         "; update the driver";
}
#endif

}  // namespace

std::string cuda_error_text(cudaError_t status) {
  std::string text =
      std::string(cudaGetErrorName(status)) + " (" + cudaGetErrorString(status) + ")";
#if !CONVNET_CUDA_EMULATED
  if (status == cudaErrorInsufficientDriver)
    return driver_problem() + "; the CUDA runtime reported " + text;
#endif
  return text;
}

}  // namespace convnet::cuda
