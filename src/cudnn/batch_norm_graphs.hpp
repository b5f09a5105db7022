// Batch normalization as cuDNN graphs (the frontend's batchnorm,
// batchnorm_inference and batchnorm_backward nodes), behind an interface with no
// frontend types: batch_norm_graphs.cpp is the second translation unit that
// includes cudnn_frontend.h (conv_graphs.cpp is the first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cudnn/batch_norm_route.hpp"
#include "cudnn/conv_graphs.hpp"  // ConvGraphStats; cudnnHandle_t, cudaStream_t declared

namespace convnet::cudnn {

// Device pointers, float32; data tensors NCHW ([N,C,H,W] or [N,C] as [N,C,1,1]),
// channel tensors [C]. What each graph reads and writes:
//   Train*:     x, scale, bias (+ prev_mean, prev_var) -> y, mean, invstd
//               (+ next_mean, next_var: the updated running stats)
//   Inference*: x, mean, invstd, scale, bias -> y
//   Backward:   dy, x, scale, mean, invstd -> dx, dscale, dbias
// Outputs are overwritten (cuDNN graphs have no beta).
struct BnOperands {
  void* x = nullptr;
  void* y = nullptr;
  void* scale = nullptr;
  void* bias = nullptr;
  void* mean = nullptr;
  void* invstd = nullptr;
  void* prev_mean = nullptr;
  void* prev_var = nullptr;
  void* next_mean = nullptr;
  void* next_var = nullptr;
  void* dy = nullptr;
  void* dx = nullptr;
  void* dscale = nullptr;
  void* dbias = nullptr;
};

// The same read-out as the conv graphs' (plans "describe(key) -> engine").
using BnGraphStats = ConvGraphStats;

class BnGraphs {
 public:
  // `capacity`: plans kept (LRU); `workspace_cap`: bytes a plan may need.
  BnGraphs(size_t capacity, int64_t workspace_cap);
  ~BnGraphs();

  // Looks the plan up, building it on a miss (the answer, yes or no, is cached).
  // False when cuDNN has no plan for `key` within the settings; then `reason`
  // says why (the step that refused and cuDNN's message). Never throws for a
  // refusal: the frontend's exceptions become refusals too.
  bool prepare(cudnnHandle_t handle, const BnKey& key, std::string& reason);
  // prepare(), then runs the plan on `stream` (the stream `handle` is bound to).
  // Returns false, having run nothing, when prepare() does. Throws
  // convnet::Error when a built plan fails to execute. `workspace(bytes)`
  // returns device scratch.
  bool run(cudnnHandle_t handle, cudaStream_t stream, const BnKey& key,
           const BnOperands& operands, const std::function<void*(size_t)>& workspace,
           std::string& reason);

  size_t set_capacity(size_t capacity);
  BnGraphStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace convnet::cudnn
