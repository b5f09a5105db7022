// The cached pieces of each operation: a primitive, the reorders that stage its
// operands, and its scratch buffers. One entry per problem (PrimitiveCache); its
// mutex is held while it runs, because the scratch buffers are shared.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "onednn/dnnl_util.hpp"
#include "onednn/primitive_cache.hpp"
#include "onednn/route_log.hpp"

namespace convnet::onednn {

// Sets the calling thread's OpenMP team to the reference's thread count
// (omp_set_num_threads is per thread): call at the top of every operation.
void use_our_thread_count();

// What every entry holds, whatever the operation.
struct PrimitiveEntry {
  std::mutex mutex;
  bool ok = false;     // false: oneDNN has no primitive for this problem (reason says why)
  std::string reason;  // oneDNN's message when !ok
  std::string impl;    // the implementation oneDNN chose ("jit:avx512_core")
  dnnl::primitive prim;
  memory scratchpad;
};

// Builds an entry with build(entry); a oneDNN refusal (dnnl::error) is kept as
// !ok with its reason, so the problem goes to the reference from then on
// without asking oneDNN again.
template <typename Entry, typename Build>
std::shared_ptr<Entry> build_entry(Build build) {
  auto e = std::make_shared<Entry>();
  try {
    if (refuse_all_for_tests())
      throw dnnl::error(dnnl_unimplemented, "could not create a primitive (refused by the test hook)");
    build(*e);
    e->ok = true;
  } catch (const dnnl::error& err) {
    e->ok = false;
    e->reason = std::string("oneDNN refused: ") + err.what();
  }
  return e;
}

// Every operation's frame. With no primitive (`e` null for an empty problem, or
// !ok where oneDNN refused), the path records why and it returns false: the
// caller hands the call to the reference. Otherwise, under the entry's lock,
// run(*e) executes, the stream is waited on, finish(*e) does the host-side
// rest (it may read the entry's buffers), and the path names oneDNN's
// implementation with `note` after it. A oneDNN error becomes ours naming `what`.
template <typename Entry, typename Run, typename Finish>
bool execute_entry(RouteLog& routes, Backend::Op op, const std::shared_ptr<Entry>& e,
                   const char* what, Run run, Finish finish, const char* note = "") {
  if (!e || !e->ok) {
    routes.fell_back(op, e ? e->reason : kEmpty);
    return false;
  }
  use_our_thread_count();
  std::lock_guard<std::mutex> lock(e->mutex);
  checked(what, [&] {
    run(*e);
    stream().wait();
  });
  finish(*e);
  routes.ran(op, e->impl + note);
  return true;
}
template <typename Entry, typename Run>
bool execute_entry(RouteLog& routes, Backend::Op op, const std::shared_ptr<Entry>& e,
                   const char* what, Run run, const char* note = "") {
  return execute_entry(routes, op, e, what, run, [](Entry&) {}, note);
}

struct ConvEntry : PrimitiveEntry {
  // Forward: src, wei in, dst out. Backward data: dst (diff_dst), wei in, src
  // (diff_src) out. Backward weights: src, dst (diff_dst) in, wei (diff_weights) out.
  Staged src, wei, dst;
  memory acc;  // backward weights with accumulate: the plain result before it is added
};

// Batch normalization (onednn_norm.cpp). Operands are plain: oneDNN's ncsp
// implementation reads NCHW as it is, so nothing is staged.
struct NormEntry : PrimitiveEntry {
  memory variance;                 // [C]: training's output; backward's input (from invstd)
  memory diff_scale, diff_shift;   // [C]: backward's results before they are added (accumulate)
  memory shift;  // [C] zeros: oneDNN 2.6's backward takes the shift, which the gradient ignores
};

// Average pooling (onednn_pool.cpp).
struct PoolEntry : PrimitiveEntry {
  // Per output row / column: PyTorch's divisor over oneDNN's, which differ only
  // where a ceil_mode window reaches past the right padding (AvgIncludePad).
  std::vector<float> rescale_h, rescale_w;
  bool rescale = false;
  memory scaled_grad;  // backward with rescale: grad_output times the factors
};

// Linear layers on matmul (onednn_linear.cpp): plain layouts, the transposes as strides.
struct MatmulEntry : PrimitiveEntry {};

// Softmax and log-softmax (onednn_softmax.cpp).
struct SoftmaxEntry : PrimitiveEntry {};

}  // namespace convnet::onednn
