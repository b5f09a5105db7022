// Convolutions as cuDNN graphs (the graph API through NVIDIA's cudnn_frontend),
// behind an interface with no frontend types: conv_graphs.cpp is the only file
// that includes cudnn_frontend.h (about a minute of compile time by itself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cudnn/plan_cache.hpp"

// Declared as cudnn.h and cuda_runtime.h do, so this header (and the tests that
// read ConvGraphStats) needs neither.
struct cudnnContext;
using cudnnHandle_t = cudnnContext*;
struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace convnet::cudnn {

// Device pointers, NCHW float32. Forward*: reads x, w (and b [K]), writes y.
// BackwardData: reads y (dy) and w, writes x (dx). BackwardFilter: reads x and
// y (dy), writes w (dw). Outputs are overwritten (cuDNN graphs have no beta).
struct ConvOperands {
  void* x = nullptr;
  void* w = nullptr;
  void* b = nullptr;
  void* y = nullptr;
};

struct ConvGraphStats {
  size_t built = 0;        // plans built (cache misses that found a plan)
  size_t unsupported = 0;  // problems cuDNN offered no plan for (the caller fell back)
  size_t cached = 0;       // entries held now
  size_t hits = 0, evictions = 0;
  size_t retiring = 0;  // evicted plans kept until their stream passes their last use
  std::string last_unsupported;  // the key and cuDNN's reason, for the summary and errors
  // "describe(key) -> engine name" of every cached plan, most recent first.
  std::vector<std::string> plans;
};

class ConvGraphs {
 public:
  // `capacity`: plans kept (LRU); `workspace_cap`: bytes a plan may need (larger
  // plans are dropped when choosing, not failed).
  ConvGraphs(size_t capacity, int64_t workspace_cap);
  ~ConvGraphs();

  // Runs the problem on `stream`, the stream `handle` is bound to. Returns
  // false, having run nothing, when cuDNN has no plan for it within the
  // settings (the caller falls back); the answer is cached. Throws
  // convnet::Error when a plan fails to execute. `workspace(bytes)` returns
  // device scratch. With CONVNET_CUDNN_LOG=1 each plan built (and each
  // refusal) is one line on stderr naming the engine.
  bool run(cudnnHandle_t handle, cudaStream_t stream, const ConvKey& key,
           const ConvOperands& operands, const std::function<void*(size_t)>& workspace);

  // A new LRU bound (tests use a tiny one); returns the previous bound.
  size_t set_capacity(size_t capacity);
  ConvGraphStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "forward_bias_relu n128 c32 28x28 k64 5x5 stride 1x1 pad 2x2 dil 1x1 fp32"
std::string describe(const ConvKey& key);

}  // namespace convnet::cudnn
