// Softmax over dimension 1 on oneDNN (softmax_v2), forward and backward, and
// log-softmax's backward. [N, C, d2, ...] is viewed as [N, C, inner] (or [N, C]
// when inner = 1) with the axis 1, plain. oneDNN subtracts the max first, as the
// reference does; its sums are float where the reference's are double. With
// inner > 1, oneDNN 2.6 has only its reference implementation for a
// non-innermost axis ("ref:any", parallel over N * inner), which path() names.
//
// Log-softmax's forward stays on the reference: oneDNN's log is off by up to
// ~1e-5 absolute, which is all of a near-certain class's log-probability (the
// value a negative log-likelihood reads: -1e-14 came out as -7e-6). Its backward
// only exponentiates, to within an ulp or two.
//
// NaN and infinities: oneDNN's max drops NaN and its exp clamps its argument, so
// a row holding NaN or +-inf comes out finite, where the reference (and PyTorch)
// give NaN. Any non-finite operand therefore sends the call to the reference;
// the scan is one read of the operands, cheap next to the exps.
#include <cfloat>
#include <cmath>
#include <string>

#include "onednn/onednn_backend.hpp"
#include "onednn/onednn_entries.hpp"
#include "onednn/primitive_cache.hpp"

namespace convnet::onednn {
namespace {

memory::dims softmax_dims(const Tensor& t) {
  int64_t inner = 1;
  for (int d = 2; d < t.dim(); ++d) inner *= t.size(d);
  if (inner == 1) return {t.size(0), t.size(1)};
  return {t.size(0), t.size(1), inner};
}

bool all_finite(const Tensor& t) {
  const float* v = t.data<float>();
  bool finite = true;
  for (int64_t i = 0, n = t.numel(); i < n; ++i) finite &= std::fabs(v[i]) <= FLT_MAX;
  return finite;
}
constexpr const char* kNotFinite = "NaN or infinity in the operands: oneDNN's would drop it";
constexpr const char* kLogForward =
    "log-softmax forward: oneDNN's log is off by up to ~1e-5 absolute";

dnnl::algorithm algorithm_of(bool log) {
  return log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
}

dnnl::softmax_v2_forward::primitive_desc forward_pd(const memory::dims& dims, bool log) {
  const memory::desc md = plain_md(dims);
  dnnl::softmax_v2_forward::desc d(dnnl::prop_kind::forward_training, algorithm_of(log), md, md, 1);
  return dnnl::softmax_v2_forward::primitive_desc(d, user_scratchpad_attr(), engine());
}

std::shared_ptr<SoftmaxEntry> make_entry(bool backward, bool log, const memory::dims& dims) {
  return build_entry<SoftmaxEntry>([&](SoftmaxEntry& e) {
    memory::desc scratch_md;
    if (backward) {
      const memory::desc md = plain_md(dims);
      auto hint = forward_pd(dims, log);
      dnnl::softmax_v2_backward::desc d(algorithm_of(log), md, md, md, 1);
      dnnl::softmax_v2_backward::primitive_desc pd(d, user_scratchpad_attr(), engine(), hint);
      e.prim = dnnl::softmax_v2_backward(pd);
      e.impl = pd.impl_info_str();
      scratch_md = pd.scratchpad_desc();
    } else {
      auto pd = forward_pd(dims, log);
      e.prim = dnnl::softmax_v2_forward(pd);
      e.impl = pd.impl_info_str();
      scratch_md = pd.scratchpad_desc();
    }
    e.scratchpad = memory(scratch_md, engine());
  });
}

std::shared_ptr<SoftmaxEntry> entry(PrimitiveCache<SoftmaxEntry>& cache, bool backward, bool log,
                                    const memory::dims& dims) {
  const std::string key =
      std::string("softmax") + (backward ? "b" : "f") + (log ? "log" : "") + dims_key(dims);
  return cache.get(key, [&] { return make_entry(backward, log, dims); });
}

}  // namespace

void OneDnnBackend::softmax_forward(const Tensor& x, Tensor& y, bool log) {
  const memory::dims dims = softmax_dims(x);
  if (log || !all_finite(x)) {
    routes_.fell_back(Op::Softmax, log ? kLogForward : kNotFinite);
    guarded()->softmax_forward(x, y, log);
    return;
  }
  // Here log is false: log-softmax forward stays on the reference (above).
  const bool ran = execute_entry(
      routes_, Op::Softmax, x.numel() ? entry(*softmax_cache_, false, false, dims) : nullptr,
      "softmax forward", [&](SoftmaxEntry& e) {
        e.prim.execute(stream(), {{DNNL_ARG_SRC, wrap(x, dims)},
                                  {DNNL_ARG_DST, wrap(y, dims)},
                                  {DNNL_ARG_SCRATCHPAD, e.scratchpad}});
      });
  if (!ran) guarded()->softmax_forward(x, y, log);
}

void OneDnnBackend::softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx, bool log) {
  const memory::dims dims = softmax_dims(y);
  if (!all_finite(y) || !all_finite(dy)) {
    routes_.fell_back(Op::Softmax, kNotFinite);
    guarded()->softmax_backward(y, dy, dx, log);
    return;
  }
  const bool ran = execute_entry(
      routes_, Op::Softmax, y.numel() ? entry(*softmax_cache_, true, log, dims) : nullptr,
      log ? "log-softmax backward" : "softmax backward", [&](SoftmaxEntry& e) {
        e.prim.execute(stream(), {{DNNL_ARG_DST, wrap(y, dims)},
                                  {DNNL_ARG_DIFF_DST, wrap(dy, dims)},
                                  {DNNL_ARG_DIFF_SRC, wrap(dx, dims)},
                                  {DNNL_ARG_SCRATCHPAD, e.scratchpad}});
      });
  if (!ran) guarded()->softmax_backward(y, dy, dx, log);
}

}  // namespace convnet::onednn
