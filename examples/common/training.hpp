// What the training examples (mnist_cnn, resnet_fashion) share: the backend
// --backend names and where a model's optimizer state is saved.
#pragma once

#include <optional>
#include <string>

#include "convnet/backend.hpp"

namespace examples {

// "auto": CONVNET_BACKEND when set (set_default_backend), else the best backend
// this build and machine have: the GPU (cuDNN, else our kernels), else oneDNN,
// else the CPU reference.
inline convnet::Backend::Kind pick_backend(const std::string& name) {
  using convnet::Backend;
  if (name != "auto") return convnet::parse_backend_kind(name);
  if (const std::optional<Backend::Kind> chosen = convnet::default_backend_choice()) return *chosen;
  for (Backend::Kind k : {Backend::Kind::Cudnn, Backend::Kind::Cuda, Backend::Kind::OneDnn})
    if (convnet::backend_available(k)) return k;
  return Backend::Kind::Cpu;
}

// "model.safetensors" -> "model.optimizer.safetensors": the optimizer's state
// lives beside the model so the model file alone loads into PyTorch.
inline std::string optimizer_path(const std::string& model_path) {
  const auto dot = model_path.rfind(".safetensors");
  return (dot == std::string::npos ? model_path : model_path.substr(0, dot)) + ".optimizer.safetensors";
}

}  // namespace examples
