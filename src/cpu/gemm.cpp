// Row-major single-precision GEMM, C[M,N] = alpha * op(A) op(B) + beta * C,
// handed to OpenBLAS through CBLAS. The wrapper only adds the degenerate cases
// that BLAS implementations treat inconsistently (empty extents, k == 0).
#include <cblas.h>

#include <algorithm>

#include "cpu/cpu_backend.hpp"

namespace convnet::cpu {

void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    // The product is empty, so C = beta * C. beta == 0 must overwrite, not scale:
    // C may hold NaN (outputs are poisoned in tests) and 0 * NaN is NaN.
    for (int i = 0; i < m; ++i) {
      float* row = c + static_cast<int64_t>(i) * ldc;
      if (beta == 0.f) {
        std::fill(row, row + n, 0.f);
      } else if (beta != 1.f) {
        for (int j = 0; j < n; ++j) row[j] *= beta;
      }
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace convnet::cpu
