// Tensor arithmetic for users: metrics, custom layers, gradient inspection.
//
// Each function computes on its inputs' device with that device's default
// backend (default_backend(), set_default_backend), through convnet::ops and
// a Backend operation, so it runs on the CPU reference and on our CUDA
// kernels alike. Nothing here records a graph: write the backward of a custom
// layer with these same functions (docs/custom_layers.md).
//
// Semantics follow libtorch: NumPy broadcasting for the binary ops, NaN
// propagation for max/min, argmax's first maximum (a NaN wins), a 0-d result
// (shape []) for a reduction over all elements. Arithmetic is float32 only;
// data movement (reshape, view, transpose, cat, index_select) takes int32 too.
// Reductions are deterministic. What libtorch has and this does not:
// docs/tensor_ops.md.
#pragma once

#include <initializer_list>
#include <limits>
#include <optional>
#include <ostream>
#include <vector>

#include "convnet/tensor.hpp"

namespace convnet {

// ---- elementwise, tensor-tensor with broadcasting
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
// ---- elementwise, tensor-scalar
Tensor add(const Tensor& a, float s);
Tensor sub(const Tensor& a, float s);
Tensor mul(const Tensor& a, float s);
Tensor div(const Tensor& a, float s);

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
// libtorch's clamp(x, min, max); either bound may be left out (nullopt).
Tensor clamp(const Tensor& x, std::optional<float> min, std::optional<float> max);

// ---- reductions: over all elements (a 0-d tensor) or along dim (negative
// counts from the end); keepdim keeps that dimension with extent 1.
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, int dim, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int dim, bool keepdim = false);
Tensor max(const Tensor& x);
Tensor max(const Tensor& x, int dim, bool keepdim = false);
Tensor min(const Tensor& x);
Tensor min(const Tensor& x, int dim, bool keepdim = false);
Tensor norm(const Tensor& x);  // Euclidean (p = 2)
Tensor norm(const Tensor& x, int dim, bool keepdim = false);
// int32 indices; without dim, the index into the flattened tensor.
Tensor argmax(const Tensor& x);
Tensor argmax(const Tensor& x, int dim, bool keepdim = false);
Tensor argmin(const Tensor& x);
Tensor argmin(const Tensor& x, int dim, bool keepdim = false);

// ---- linear algebra and shapes
Tensor matmul(const Tensor& a, const Tensor& b);  // 2-D: [M,K] x [K,N]
Tensor transpose(const Tensor& x);                // 2-D: libtorch's x.t()
Tensor reshape(const Tensor& x, const Shape& shape);  // a view (tensors are contiguous)
Tensor view(const Tensor& x, const Shape& shape);     // the same as reshape
Tensor cat(const std::vector<Tensor>& tensors, int dim = 0);
// dim must be 0: rows of x in the order of int32 indices.
Tensor index_select(const Tensor& x, int dim, const Tensor& indices);

// ---- operators (a new tensor; the compound forms write into a's storage,
// which every handle sharing it sees, as in libtorch)
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, float s);
Tensor operator-(const Tensor& a, float s);
Tensor operator*(const Tensor& a, float s);
Tensor operator/(const Tensor& a, float s);
Tensor operator+(float s, const Tensor& a);
Tensor operator-(float s, const Tensor& a);
Tensor operator*(float s, const Tensor& a);
Tensor operator/(float s, const Tensor& a);
Tensor& operator+=(Tensor& a, const Tensor& b);  // b must broadcast to a's shape
Tensor& operator-=(Tensor& a, const Tensor& b);
Tensor& operator*=(Tensor& a, const Tensor& b);
Tensor& operator/=(Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, float s);
Tensor& operator-=(Tensor& a, float s);
Tensor& operator*=(Tensor& a, float s);
Tensor& operator/=(Tensor& a, float s);

// Prints the values as libtorch does: nested rows, at most 6 values per
// dimension shown (first 3, "...", last 3) once the tensor has over 1000
// elements, then the shape, dtype and device. Copies a GPU tensor to the host.
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace convnet
