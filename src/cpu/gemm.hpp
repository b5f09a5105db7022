// Row-major single-precision GEMM through CBLAS (OpenBLAS, run single-threaded):
// C[M,N] = alpha * op(A) op(B) + beta * C, op = transpose when the flag is set.
//
// Both forms give results that depend on the arguments alone, never on the
// number of threads (docs/determinism.md): gemm splits C into blocks fixed by
// the shape, and gemm_serial is one BLAS call.
#pragma once

namespace convnet::cpu {

// For a GEMM that has the cores to itself (linear layers, a batch that forms
// one convolution group): large products are split into blocks of rows or
// columns of C, chosen by the shape, and the blocks spread over the pool.
void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc);

// One BLAS call on the calling thread, for loops that already spread their
// iterations over the cores (convolution's groups of images).
void gemm_serial(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc);

}  // namespace convnet::cpu
