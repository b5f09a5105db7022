// Read-outs of the process-wide CudnnBackend's batch norm for tests, as plain
// C++ (no cuDNN or CUDA types). Call only once backend_available(Cudnn) is true.
// Weak declarations, as in cudnn_probe.hpp: null in a build without the cuDNN
// backend, where the tests that use them skip.
#pragma once

#include "cudnn/batch_norm_graphs.hpp"
#include "cudnn/batch_norm_route.hpp"

namespace convnet::cudnn {

// Which route each batch-norm call took so far, and why (batch_norm_route.hpp).
[[gnu::weak]] BnRouteCounts probe_bn_routes();
// The batch-norm plan cache, with the engine name of every cached plan.
[[gnu::weak]] BnGraphStats probe_bn_stats();

}  // namespace convnet::cudnn
