// The user's tensor arithmetic (convnet/tensor_ops.hpp): each function runs
// convnet::ops on the default backend of its first tensor's device. ops checks
// that every other tensor is on that device too.
#include "convnet/tensor_ops.hpp"

#include <cmath>
#include <limits>

#include "convnet/ops.hpp"

namespace convnet {
namespace {

Backend& backend_for(const Tensor& t) { return get_backend(default_backend(t.device())); }

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  return ops::binary(backend_for(a), op, a, b);
}
Tensor unary(UnaryOp op, const Tensor& x, float s0 = 0.f, float s1 = 0.f) {
  return ops::unary(backend_for(x), op, x, s0, s1);
}
Tensor reduce(ReduceOp op, const Tensor& x, std::optional<int> dim, bool keepdim) {
  return ops::reduce(backend_for(x), op, x, dim, keepdim);
}
Tensor& binary_(BinaryOp op, Tensor& a, const Tensor& b) {
  ops::binary_(backend_for(a), op, a, b);
  return a;
}
Tensor& unary_(UnaryOp op, Tensor& a, float s) {
  ops::unary_(backend_for(a), op, a, s);
  return a;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor add(const Tensor& a, float s) { return unary(UnaryOp::AddScalar, a, s); }
// x - s is x + (-s): the same IEEE result, one op fewer for the backends.
Tensor sub(const Tensor& a, float s) { return unary(UnaryOp::AddScalar, a, -s); }
Tensor mul(const Tensor& a, float s) { return unary(UnaryOp::MulScalar, a, s); }
Tensor div(const Tensor& a, float s) { return unary(UnaryOp::DivScalar, a, s); }

Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, x); }
Tensor abs(const Tensor& x) { return unary(UnaryOp::Abs, x); }
Tensor clamp(const Tensor& x, std::optional<float> min, std::optional<float> max) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  return unary(UnaryOp::Clamp, x, min.value_or(-inf), max.value_or(inf));
}

Tensor sum(const Tensor& x) { return reduce(ReduceOp::Sum, x, std::nullopt, false); }
Tensor sum(const Tensor& x, int dim, bool keepdim) { return reduce(ReduceOp::Sum, x, dim, keepdim); }
Tensor mean(const Tensor& x) { return reduce(ReduceOp::Mean, x, std::nullopt, false); }
Tensor mean(const Tensor& x, int dim, bool keepdim) {
  return reduce(ReduceOp::Mean, x, dim, keepdim);
}
Tensor max(const Tensor& x) { return reduce(ReduceOp::Max, x, std::nullopt, false); }
Tensor max(const Tensor& x, int dim, bool keepdim) { return reduce(ReduceOp::Max, x, dim, keepdim); }
Tensor min(const Tensor& x) { return reduce(ReduceOp::Min, x, std::nullopt, false); }
Tensor min(const Tensor& x, int dim, bool keepdim) { return reduce(ReduceOp::Min, x, dim, keepdim); }
Tensor norm(const Tensor& x) { return reduce(ReduceOp::Norm, x, std::nullopt, false); }
Tensor norm(const Tensor& x, int dim, bool keepdim) {
  return reduce(ReduceOp::Norm, x, dim, keepdim);
}
Tensor argmax(const Tensor& x) { return reduce(ReduceOp::ArgMax, x, std::nullopt, false); }
Tensor argmax(const Tensor& x, int dim, bool keepdim) {
  return reduce(ReduceOp::ArgMax, x, dim, keepdim);
}
Tensor argmin(const Tensor& x) { return reduce(ReduceOp::ArgMin, x, std::nullopt, false); }
Tensor argmin(const Tensor& x, int dim, bool keepdim) {
  return reduce(ReduceOp::ArgMin, x, dim, keepdim);
}

Tensor matmul(const Tensor& a, const Tensor& b) { return ops::matmul(backend_for(a), a, b); }

// libtorch's t(): a 0-d or 1-D tensor is its own transpose. A copy here as for
// 2-D (our tensors have no strided views), so the result never shares storage.
Tensor transpose(const Tensor& x) {
  CONVNET_CHECK(x.defined(), "transpose: the tensor is undefined");
  CONVNET_CHECK(x.dim() <= 2, "transpose: input ", x.shape(), " has rank ", x.dim(),
                "; transpose (libtorch's t()) takes tensors of rank <= 2");
  if (x.dim() < 2) return x.clone();
  return ops::transpose2d(backend_for(x), x);
}

Tensor reshape(const Tensor& x, const Shape& shape) { return x.reshape(shape); }
Tensor view(const Tensor& x, const Shape& shape) { return x.reshape(shape); }

Tensor cat(const std::vector<Tensor>& tensors, int dim) {
  CONVNET_CHECK(!tensors.empty(), "cat: needs at least one tensor, got an empty list");
  return ops::cat(backend_for(tensors[0]), tensors, dim);
}

Tensor index_select(const Tensor& x, int dim, const Tensor& indices) {
  CONVNET_CHECK(x.defined(), "index_select: input is undefined");
  CONVNET_CHECK(dim == 0 || (x.dim() > 0 && dim == -x.dim()), "index_select: dim ", dim,
                " on input ", x.shape(), " is not supported; only dim 0 (rows) is "
                "(transpose a 2-D tensor to select columns)");
  return ops::index_select(backend_for(x), x, indices);
}

Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, float s) { return add(a, s); }
Tensor operator-(const Tensor& a, float s) { return sub(a, s); }
Tensor operator*(const Tensor& a, float s) { return mul(a, s); }
Tensor operator/(const Tensor& a, float s) { return div(a, s); }
Tensor operator+(float s, const Tensor& a) { return add(a, s); }
Tensor operator-(float s, const Tensor& a) { return unary(UnaryOp::RSubScalar, a, s); }
Tensor operator*(float s, const Tensor& a) { return mul(a, s); }
Tensor operator/(float s, const Tensor& a) { return unary(UnaryOp::RDivScalar, a, s); }
Tensor& operator+=(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Add, a, b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Sub, a, b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Mul, a, b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return binary_(BinaryOp::Div, a, b); }
Tensor& operator+=(Tensor& a, float s) { return unary_(UnaryOp::AddScalar, a, s); }
Tensor& operator-=(Tensor& a, float s) { return unary_(UnaryOp::AddScalar, a, -s); }
Tensor& operator*=(Tensor& a, float s) { return unary_(UnaryOp::MulScalar, a, s); }
Tensor& operator/=(Tensor& a, float s) { return unary_(UnaryOp::DivScalar, a, s); }

}  // namespace convnet
