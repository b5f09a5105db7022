// CudaBackend: the linear layer as cuBLAS SGEMMs on the context's stream.
//
// Row-major mapping: cuBLAS is column-major, and a row-major [R, C] matrix is
// the same bytes as a column-major [C, R] one, its transpose. So each row-major
// product Y = A B is computed as the column-major Y^T = B^T A^T, whose operands
// are exactly our buffers read as column-major:
//   forward          Y^T [out,N]   = gemm(T, N): (W as [in,out])^T x (X as [in,N])
//   backward data    dX^T [in,N]  = gemm(N, N): (W as [in,out]) x (dY as [out,N])
//   backward weight  dW^T [in,out] = gemm(N, T): (X as [in,N]) x (dY as [out,N])^T
// Math follows convnet::math_mode() at every call: CUBLAS_PEDANTIC_MATH for FP32
// (no TF32, so the results hold the CPU reference's 1e-5 parity), TF32 tensor
// cores when the user allowed them.
#include "cuda/cublas_check.hpp"
#include "cuda/cublas_math.hpp"
#include "cuda/cuda_backend.hpp"
#include "cuda/launch_scope.hpp"

namespace convnet::cuda {
namespace {
int as_int(int64_t v, const char* what) {
  CONVNET_CHECK(v <= 0x7fffffff, "linear (cuBLAS): ", what, " = ", v, " exceeds the int range");
  return static_cast<int>(v);
}
}  // namespace

void CudaBackend::linear_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                 Tensor& output) {
  LaunchScope on(output);
  const int n = as_int(input.size(0), "batch"), in = as_int(input.size(1), "in_features");
  const int out = as_int(weight.size(0), "out_features");
  float beta = 0.f;
  if (bias) {  // rows start as the bias and the GEMM adds onto them
    kernels::broadcast_rows_f32(bias->data<float>(), n, out, output.data<float>(), on.stream());
    beta = 1.f;
  }
  const float alpha = 1.f;
  CONVNET_CUBLAS_CHECK(cublasSgemm(cublas_in_math_mode(on), CUBLAS_OP_T, CUBLAS_OP_N, out, n, in,
                                   &alpha, weight.data<float>(), in, input.data<float>(), in, &beta,
                                   output.data<float>(), out));
}

void CudaBackend::linear_backward_data(const Tensor& grad_output, const Tensor& weight,
                                       Tensor& grad_input) {
  LaunchScope on(grad_input);
  const int n = as_int(grad_output.size(0), "batch"), out = as_int(weight.size(0), "out_features");
  const int in = as_int(weight.size(1), "in_features");
  const float alpha = 1.f, beta = 0.f;
  CONVNET_CUBLAS_CHECK(cublasSgemm(cublas_in_math_mode(on), CUBLAS_OP_N, CUBLAS_OP_N, in, n, out,
                                   &alpha, weight.data<float>(), in, grad_output.data<float>(), out,
                                   &beta, grad_input.data<float>(), in));
}

void CudaBackend::linear_backward_weight(const Tensor& input, const Tensor& grad_output,
                                         Tensor& grad_weight, bool accumulate) {
  LaunchScope on(grad_weight);
  const int n = as_int(input.size(0), "batch"), in = as_int(input.size(1), "in_features");
  const int out = as_int(grad_output.size(1), "out_features");
  const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
  CONVNET_CUBLAS_CHECK(cublasSgemm(cublas_in_math_mode(on), CUBLAS_OP_N, CUBLAS_OP_T, in, out, n,
                                   &alpha, input.data<float>(), in, grad_output.data<float>(), out,
                                   &beta, grad_weight.data<float>(), in));
}

}  // namespace convnet::cuda
