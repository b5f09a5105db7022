// Row-major single-precision GEMM, C[M,N] = alpha * op(A) op(B) + beta * C,
// handed to OpenBLAS through CBLAS.
//
// Threading: the CPU backend runs BLAS single-threaded and spreads work over the
// cores itself (parallel.hpp): convolutions give each core its own groups of
// images, and a large GEMM called outside such a loop is split into column (or
// row) blocks here. Why: OpenBLAS's own threads spin for a while after every
// call, and on a 2-core machine they then starve the loops between the GEMMs
// (max pooling ran 2x slower). The wrapper also settles the degenerate cases
// that BLAS implementations treat inconsistently (empty extents, k == 0).
#include <cblas.h>

#include <algorithm>

#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"

namespace convnet::cpu {
namespace {

void blas_single_threaded() {
#if defined(OPENBLAS_VERSION)
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
#endif
}

// Below this many multiply-adds one core finishes before a split pays off.
constexpr double kSplitWork = 4e6;

void gemm_serial(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

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
  blas_single_threaded();
  const int threads = parallel_threads();
  if (in_parallel_region() || threads == 1 || double(m) * n * k < kSplitWork) {
    gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Split the longer side of C into one block per thread.
  const bool split_columns = n >= m;
  const int extent = split_columns ? n : m;
  const int blocks = std::min(threads, extent);
  parallel_for(blocks, [&](int64_t block) {
    const int begin = static_cast<int>(int64_t{extent} * block / blocks);
    const int end = static_cast<int>(int64_t{extent} * (block + 1) / blocks);
    if (begin == end) return;
    if (split_columns) {
      const float* b_block = trans_b ? b + int64_t{begin} * ldb : b + begin;
      gemm_serial(trans_a, trans_b, m, end - begin, k, alpha, a, lda, b_block, ldb, beta, c + begin, ldc);
    } else {
      const float* a_block = trans_a ? a + begin : a + int64_t{begin} * lda;
      gemm_serial(trans_a, trans_b, end - begin, n, k, alpha, a_block, lda, b, ldb, beta,
                  c + int64_t{begin} * ldc, ldc);
    }
  });
}

}  // namespace convnet::cpu
