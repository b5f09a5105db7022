#include "nn/backend_choice.hpp"

namespace convnet::nn::detail {

Backend& resolve_backend(std::optional<Backend::Kind> choice, Device device,
                         const std::string& who, const char* what) {
  const Backend::Kind kind = choice.value_or(default_backend(device));
  Backend* be = nullptr;
  try {
    be = &get_backend(kind);
  } catch (const Error& e) {
    CONVNET_FAIL(who, ": ", e.what());  // say which layer asked for it
  }
  CONVNET_CHECK(be->device_type() == device.type, who, ": backend ", backend_name(kind),
                " computes on ", be->device_type() == Device::Type::Cpu ? "CPU" : "CUDA",
                " tensors but ", what, " is on ", device,
                " — move it with .to() or choose another backend with set_backend()");
  return *be;
}

}  // namespace convnet::nn::detail
