// The one place that decides which backends exist and which one runs by default.
//
// Fallback rules (printed by Sequential::summary so users can see them):
// - CPU tensors run on OneDnn when this build has it (it hands what oneDNN
//   lacks to the Cpu reference), otherwise on Cpu; a chosen cpu means Cpu.
// - CUDA tensors run on Cudnn when this build has it and a GPU is present,
//   otherwise on Cuda (our kernels). Cudnn itself hands the operations cuDNN
//   lacks (losses, optimizers, dropout, ...) to the Cuda backend.
#include <memory>
#include <mutex>

#include "convnet/backend.hpp"
#include "core/cuda_hooks.hpp"
#include "cpu/cpu_backend.hpp"
#if CONVNET_WITH_CUDNN
#include "cudnn/cudnn_hooks.hpp"
#endif
#if CONVNET_WITH_ONEDNN
#include "onednn/onednn_hooks.hpp"
#endif

namespace convnet {

const char* backend_name(Backend::Kind kind) {
  switch (kind) {
    case Backend::Kind::Cpu: return "cpu";
    case Backend::Kind::Cuda: return "cuda";
    case Backend::Kind::Cudnn: return "cudnn";
    case Backend::Kind::OneDnn: return "onednn";
  }
  return "?";
}

Backend::Kind parse_backend_kind(const std::string& name) {
  if (name == "cpu") return Backend::Kind::Cpu;
  if (name == "cuda") return Backend::Kind::Cuda;
  if (name == "cudnn") return Backend::Kind::Cudnn;
  if (name == "onednn") return Backend::Kind::OneDnn;
  CONVNET_FAIL("unknown backend \"", name, "\": expected cpu, onednn, cuda or cudnn");
}

Device backend_device(Backend::Kind kind) {
  return kind == Backend::Kind::Cpu || kind == Backend::Kind::OneDnn ? Device::cpu() : Device::cuda();
}

namespace {
// Why `kind` cannot run here, or "" when it can.
std::string unavailable_because(Backend::Kind kind) {
  if (kind == Backend::Kind::Cpu) return "";
  if (kind == Backend::Kind::OneDnn) {
#if CONVNET_WITH_ONEDNN
    return "";
#else
    return "convnet was built without the oneDNN backend (oneDNN 2.6+ was not found when it was "
           "configured; Debian: libdnnl-dev, or CONVNET_ONEDNN=OFF)";
#endif
  }
  if (!cuda_hooks::compiled()) return "convnet was built without CUDA";
  if (cuda_hooks::device_count() == 0) return cuda_hooks::unavailable_reason();
  if (kind == Backend::Kind::Cuda) return "";
#if CONVNET_WITH_CUDNN
  return cudnn::unavailable_reason();  // loads libcudnn.so.9 on first call
#elif CONVNET_CUDA_EMULATED
  return "cuDNN is not emulated: this build's CUDA device is the CPU emulator "
         "(CONVNET_CUDA=EMULATED, emu/README.md)";
#else
  return "convnet was built without the cuDNN backend (cuDNN 9 headers or the cudnn_frontend "
         "headers were not found when it was configured)";
#endif
}
}  // namespace

bool backend_available(Backend::Kind kind) { return unavailable_because(kind).empty(); }
std::string backend_unavailable_reason(Backend::Kind kind) { return unavailable_because(kind); }

std::string backend_library(Backend::Kind kind) {
#if CONVNET_WITH_CUDNN
  if (kind == Backend::Kind::Cudnn) return cudnn::library_description();
#endif
#if CONVNET_WITH_ONEDNN
  if (kind == Backend::Kind::OneDnn) return onednn::library_description();
#endif
  (void)kind;
  return "";
}

std::vector<Backend::Kind> available_backends() {
  std::vector<Backend::Kind> kinds;
  for (Backend::Kind k : {Backend::Kind::Cpu, Backend::Kind::OneDnn, Backend::Kind::Cuda,
                          Backend::Kind::Cudnn})
    if (backend_available(k)) kinds.push_back(k);
  return kinds;
}

Backend& get_backend(Backend::Kind kind) {
  if (kind == Backend::Kind::Cpu) {
    static cpu::CpuBackend cpu_backend;
    return cpu_backend;
  }
  const std::string reason = unavailable_because(kind);
  if (reason.empty() && kind == Backend::Kind::Cuda) return *cuda_hooks::cuda_backend();
#if CONVNET_WITH_CUDNN
  if (reason.empty() && kind == Backend::Kind::Cudnn) return cudnn::backend();
#endif
#if CONVNET_WITH_ONEDNN
  if (kind == Backend::Kind::OneDnn) return onednn::backend();
#endif
  CONVNET_FAIL("backend ", backend_name(kind), " is unavailable: ", reason);
}

Backend::Kind default_backend(Device device) {
  const std::optional<Backend::Kind> chosen = default_backend_choice();
  const bool for_device = chosen && backend_device(*chosen).type == device.type;
  if (for_device) return *chosen;  // unavailable: get_backend says why
  if (device.is_cpu())
    return backend_available(Backend::Kind::OneDnn) ? Backend::Kind::OneDnn : Backend::Kind::Cpu;
  return backend_available(Backend::Kind::Cudnn) ? Backend::Kind::Cudnn : Backend::Kind::Cuda;
}

int64_t conv2d_output_size(int64_t in, int kernel, int stride, int pad, int dilation) {
  return (in + 2 * pad - static_cast<int64_t>(dilation) * (kernel - 1) - 1) / stride + 1;
}

int64_t pool2d_output_size(int64_t in, int kernel, int stride, int pad, bool ceil_mode) {
  const int64_t span = in + 2 * pad - kernel;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // PyTorch: the last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

}  // namespace convnet
