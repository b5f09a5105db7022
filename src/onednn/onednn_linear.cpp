// Linear layers on oneDNN's matmul. Input [N,in], weight [out,in], output [N,out];
// every operand stays where it is, the transposes are strides on plain
// descriptors (no copies):
//   forward          Y [N,out]  = X [N,in] x W^T [in,out] (+ bias [1,out] on every row)
//   backward data    dX [N,in]  = dY [N,out] x W [out,in]
//   backward weight  dW [out,in] (+)= dY^T [out,N] x X [N,in]
// accumulate is a sum post-op (dst = product + dst), the ReLU ours (relu_in_place).
#include <string>

#include "onednn/onednn_backend.hpp"
#include "onednn/onednn_entries.hpp"
#include "onednn/primitive_cache.hpp"

namespace convnet::onednn {
namespace {

enum class MatmulKind { Forward, BackwardData, BackwardWeight };

// The product [m,k] x [k,n] and how each operand is laid out.
struct MatmulProblem {
  MatmulKind kind;
  int64_t m, k, n;
  bool bias = false, accumulate = false;
};

memory::desc src_md(const MatmulProblem& pb) {
  // dY^T: dY is [N,out] = [k,m] row-major, read column by column.
  return pb.kind == MatmulKind::BackwardWeight ? strided_md({pb.m, pb.k}, {1, pb.m})
                                               : plain_md({pb.m, pb.k});
}
memory::desc weights_md(const MatmulProblem& pb) {
  // W^T: W is [out,in] = [n,k] row-major.
  return pb.kind == MatmulKind::Forward ? strided_md({pb.k, pb.n}, {1, pb.k})
                                        : plain_md({pb.k, pb.n});
}

std::shared_ptr<MatmulEntry> make_entry(const MatmulProblem& pb) {
  return build_entry<MatmulEntry>([&](MatmulEntry& e) {
    const memory::desc dst = plain_md({pb.m, pb.n});
    dnnl::matmul::desc d = pb.bias ? dnnl::matmul::desc(src_md(pb), weights_md(pb),
                                                        plain_md({1, pb.n}), dst)
                                   : dnnl::matmul::desc(src_md(pb), weights_md(pb), dst);
    dnnl::primitive_attr attr = user_scratchpad_attr();
    if (pb.accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.f);
      attr.set_post_ops(ops);
    }
    dnnl::matmul::primitive_desc pd(d, attr, engine());
    e.prim = dnnl::matmul(pd);
    e.impl = pd.impl_info_str();
    e.scratchpad = memory(pd.scratchpad_desc(), engine());
  });
}

std::shared_ptr<MatmulEntry> entry(PrimitiveCache<MatmulEntry>& cache, const MatmulProblem& pb) {
  const std::string key = "matmul" + std::to_string(int(pb.kind)) + (pb.bias ? "b" : "") +
                          (pb.accumulate ? "a" : "") + dims_key({pb.m, pb.k, pb.n});
  return cache.get(key, [&] { return make_entry(pb); });
}

// Runs the product; false when it must go to the reference (after logging why).
bool run(PrimitiveCache<MatmulEntry>& cache, RouteLog& routes, Backend::Op op,
         const MatmulProblem& pb, const Tensor& src, const Tensor& weights, const Tensor* bias,
         Tensor& dst, const char* what, const char* note = "") {
  // An empty product still writes dst (zeros, or the bias); the reference does.
  const bool empty = pb.m == 0 || pb.k == 0 || pb.n == 0;
  return execute_entry(
      routes, op, empty ? nullptr : entry(cache, pb), what,
      [&](MatmulEntry& e) {
        std::unordered_map<int, memory> args{
            {DNNL_ARG_SRC, memory(src_md(pb), engine(), src.raw_data())},
            {DNNL_ARG_WEIGHTS, memory(weights_md(pb), engine(), weights.raw_data())},
            {DNNL_ARG_DST, wrap(dst, {pb.m, pb.n})},
            {DNNL_ARG_SCRATCHPAD, e.scratchpad}};
        if (bias) args.emplace(DNNL_ARG_BIAS, wrap(*bias, {1, pb.n}));
        e.prim.execute(stream(), args);
      },
      note);
}

}  // namespace

void OneDnnBackend::linear(const Tensor& x, const Tensor& w, const Tensor* b, bool relu,
                           Tensor& y) {
  const Op op = relu ? Op::LinearBiasReLU : Op::Linear;
  const MatmulProblem pb{MatmulKind::Forward, x.size(0), x.size(1), w.size(0), b != nullptr, false};
  if (!run(*matmul_cache_, routes_, op, pb, x, w, b, y, "linear forward", relu ? kOurRelu : "")) {
    if (relu)
      guarded()->linear_bias_relu_forward(x, w, b, y);
    else
      guarded()->linear_forward(x, w, b, y);
    return;
  }
  if (relu) relu_in_place(y);
}

void OneDnnBackend::linear_forward(const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y) {
  linear(x, w, b, false, y);
}
void OneDnnBackend::linear_bias_relu_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                                             Tensor& y) {
  linear(x, w, b, true, y);
}

void OneDnnBackend::linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  const MatmulProblem pb{MatmulKind::BackwardData, dy.size(0), w.size(0), w.size(1), false, false};
  if (!run(*matmul_cache_, routes_, Op::Linear, pb, dy, w, nullptr, dx, "linear backward data"))
    guarded()->linear_backward_data(dy, w, dx);
}

void OneDnnBackend::linear_backward_weight(const Tensor& x, const Tensor& dy, Tensor& dw,
                                           bool accumulate) {
  const MatmulProblem pb{MatmulKind::BackwardWeight, dy.size(1), x.size(0), x.size(1), false,
                         accumulate};
  if (!run(*matmul_cache_, routes_, Op::Linear, pb, dy, x, nullptr, dw, "linear backward weight"))
    guarded()->linear_backward_weight(x, dy, dw, accumulate);
}

}  // namespace convnet::onednn
