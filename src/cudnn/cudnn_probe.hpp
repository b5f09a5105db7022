// Read-outs of the process-wide CudnnBackend for tests, as plain C++ (no cuDNN
// or CUDA types: the tests are compiled without their headers). Call only once
// backend_available(Backend::Kind::Cudnn) is true.
//
// Weak declarations: a CUDA build without the cuDNN backend (no frontend
// headers) has no definitions, yet its tests must link. There each function's
// address is null, and the tests that use them skip.
#pragma once

#include <cstddef>

#include "cudnn/conv_graphs.hpp"
#include "cudnn/conv_route.hpp"

namespace convnet::cudnn {

// Which route each conv call took so far (conv_route.hpp).
[[gnu::weak]] ConvRouteCounts probe_conv_routes();
// The plan cache, with the engine name of every cached plan.
[[gnu::weak]] ConvGraphStats probe_conv_stats();
// Sets the plan LRU's bound; returns the previous one.
[[gnu::weak]] size_t probe_set_plan_capacity(size_t capacity);
// Treats every fused conv graph as refused (the epilogue route); returns the previous setting.
[[gnu::weak]] bool probe_refuse_fused_graphs(bool refuse);

}  // namespace convnet::cudnn
