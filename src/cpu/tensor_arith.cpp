// Tensor arithmetic for users: binary ops under NumPy broadcasting, unary ops
// with their scalars, and 2-D matmul. Plain float32 operations, one per
// element, so a GPU kernel doing the same operation gives the same bits
// (exp, log and sqrt aside, whose last ulp may differ).
#include <cmath>
#include <cstdint>

#include "cpu/cpu_backend.hpp"
#include "cpu/gemm.hpp"
#include "cpu/parallel.hpp"
#include "kernels/broadcast_index.hpp"

namespace convnet::cpu {
namespace {

float apply(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
  }
  return a;
}

// torch.clamp: a NaN input stays NaN (the comparisons below are false for it).
float clamp(float x, float low, float high) {
  if (x < low) x = low;
  if (x > high) x = high;
  return x;
}

float apply(UnaryOp op, float x, float s0, float s1) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Abs: return std::fabs(x);
    case UnaryOp::Clamp: return clamp(x, s0, s1);
    case UnaryOp::AddScalar: return x + s0;
    case UnaryOp::MulScalar: return x * s0;
    case UnaryOp::DivScalar: return x / s0;
    case UnaryOp::RSubScalar: return s0 - x;
    case UnaryOp::RDivScalar: return s0 / x;
  }
  return x;
}

}  // namespace

// The output may be a itself (a op= b): element i reads a[i] before writing it,
// since a's shape is the output's and its offsets are the output's own.
void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Broadcast& bc,
                        Tensor& output) {
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  float* out = output.data<float>();
  parallel_chunks(output.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const kernels::BroadcastOffsets at = kernels::broadcast_offsets(bc, i);
      out[i] = apply(op, x[at.a], y[at.b]);
    }
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& input, float s0, float s1, Tensor& output) {
  const float* x = input.data<float>();
  float* out = output.data<float>();
  parallel_chunks(output.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = apply(op, x[i], s0, s1);
  });
}

// One GEMM, as the linear layer does; gemm settles k == 0 (a zero output).
void CpuBackend::matmul(const Tensor& a, const Tensor& b, Tensor& output) {
  const int m = static_cast<int>(a.size(0));
  const int k = static_cast<int>(a.size(1));
  const int n = static_cast<int>(b.size(1));
  gemm(false, false, m, n, k, 1.f, a.data<float>(), k, b.data<float>(), n, 0.f,
       output.data<float>(), n);
}

}  // namespace convnet::cpu
