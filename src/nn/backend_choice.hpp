// How layers, losses and optimizers turn their backend choice into a Backend.
#pragma once

#include <optional>
#include <string>

#include "convnet/backend.hpp"

namespace convnet::nn::detail {

// The chosen kind, or default_backend(device) when none was chosen. Throws
// convnet::Error naming `who` when that backend is unavailable or computes on
// another device type than `device`, where `what` ("the input") lives.
Backend& resolve_backend(std::optional<Backend::Kind> choice, Device device,
                         const std::string& who, const char* what = "the input");

}  // namespace convnet::nn::detail
