// The cached pieces of each operation: a primitive, the reorders that stage its
// operands, and its scratch buffers. One entry per problem (PrimitiveCache); its
// mutex is held while it runs, because the scratch buffers are shared.
#pragma once

#include <mutex>
#include <string>

#include "onednn/dnnl_util.hpp"

namespace convnet::onednn {

// Sets the calling thread's OpenMP team to the reference's thread count
// (omp_set_num_threads is per thread): call at the top of every operation.
void use_our_thread_count();

struct ConvEntry {
  std::mutex mutex;
  bool ok = false;     // false: oneDNN has no primitive for this problem (reason says why)
  std::string reason;  // oneDNN's message when !ok
  std::string impl;    // the implementation oneDNN chose ("jit:avx512_core")
  dnnl::primitive prim;
  // Forward: src, wei in, dst out. Backward data: dst (diff_dst), wei in, src
  // (diff_src) out. Backward weights: src, dst (diff_dst) in, wei (diff_weights) out.
  Staged src, wei, dst;
  memory scratchpad;
  memory acc;  // backward weights with accumulate: the plain result before it is added
};

}  // namespace convnet::onednn
