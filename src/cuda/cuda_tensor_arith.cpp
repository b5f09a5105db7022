// CudaBackend: tensor arithmetic (binary, unary, reduce, matmul, transpose2d,
// copy_columns, index_select), thin calls into kernels/tensor_arith.cu,
// reduce_axis.cu and gather.cu on the output's stream; matmul is one cuBLAS SGEMM.
//
// matmul's row-major mapping is cuda_linear.cpp's: a row-major [R, C] buffer is
// a column-major [C, R] one, so Y [M,N] = A [M,K] B [K,N] is computed as the
// column-major Y^T [N,M] = B^T [N,K] x A^T [K,M], gemm(N, N) on the buffers as
// they are, with leading dimensions N, K and N. The math mode follows
// convnet::math_mode() at every call (TF32 only when the user allowed it).
#include "cuda/cublas_check.hpp"
#include "cuda/cublas_math.hpp"
#include "cuda/cuda_backend.hpp"
#include "cuda/launch_scope.hpp"

namespace convnet::cuda {
namespace {

int as_int(int64_t v, const char* what) {
  CONVNET_CHECK(v <= 0x7fffffff, "matmul (cuBLAS): ", what, " = ", v, " exceeds the int range");
  return static_cast<int>(v);
}

// Elements of one row of a tensor viewed as [size(0), rest].
int64_t row_size(const Tensor& t) {
  int64_t n = 1;
  for (int d = 1; d < t.shape().rank(); ++d) n *= t.shape()[d];
  return n;
}

}  // namespace

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Broadcast& bc,
                         Tensor& output) {
  LaunchScope on(output);
  kernels::binary_f32(op, a.data<float>(), b.data<float>(), bc, output.data<float>(), on.stream());
}

void CudaBackend::unary(UnaryOp op, const Tensor& input, float s0, float s1, Tensor& output) {
  LaunchScope on(output);
  kernels::unary_f32(op, input.data<float>(), s0, s1, output.data<float>(), output.numel(),
                     on.stream());
}

void CudaBackend::reduce(ReduceOp op, const Tensor& input, int64_t outer, int64_t extent,
                         int64_t inner, Tensor& output) {
  LaunchScope on(output);
  const bool index = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  const size_t bytes = kernels::reduce_axis_workspace(op, outer, extent, inner);
  void* workspace = bytes > 0 ? on.ctx.workspace(bytes) : nullptr;
  kernels::reduce_axis(op, input.data<float>(), outer, extent, inner,
                       index ? nullptr : output.data<float>(),
                       index ? output.data<int32_t>() : nullptr, workspace, on.stream());
}

void CudaBackend::matmul(const Tensor& a, const Tensor& b, Tensor& output) {
  LaunchScope on(output);
  const int m = as_int(a.size(0), "M"), k = as_int(a.size(1), "K"), n = as_int(b.size(1), "N");
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum; BLAS refuses a leading dimension of 0
    kernels::fill_f32(output.data<float>(), output.numel(), 0.f, on.stream());
    return;
  }
  const float alpha = 1.f, beta = 0.f;
  CONVNET_CUBLAS_CHECK(cublasSgemm(cublas_in_math_mode(on), CUBLAS_OP_N, CUBLAS_OP_N, n, m, k,
                                   &alpha, b.data<float>(), n, a.data<float>(), k, &beta,
                                   output.data<float>(), n));
}

void CudaBackend::transpose2d(const Tensor& input, Tensor& output) {
  LaunchScope on(output);
  kernels::transpose2d_words(input.raw_data(), input.size(0), input.size(1), output.raw_data(),
                             on.stream());
}

void CudaBackend::copy_columns(const Tensor& input, int64_t outer, int64_t offset, Tensor& output) {
  LaunchScope on(output);
  const int64_t in_cols = outer > 0 ? input.numel() / outer : 0;
  const int64_t out_cols = outer > 0 ? output.numel() / outer : 0;
  kernels::copy_columns_words(input.raw_data(), outer, in_cols, out_cols, offset, output.raw_data(),
                              on.stream());
}

void CudaBackend::index_select(const Tensor& input, const Tensor& indices, Tensor& output) {
  LaunchScope on(output);
  const int64_t rows = indices.numel();
  if (input.dtype() == DType::I32)
    kernels::gather_rows_i32(input.data<int32_t>(), indices.data<int32_t>(), rows, row_size(input),
                             output.data<int32_t>(), on.stream());
  else
    kernels::gather_rows_f32(input.data<float>(), indices.data<int32_t>(), rows, row_size(input),
                             output.data<float>(), on.stream());
}

}  // namespace convnet::cuda
