// Row-major single-precision GEMM, C[M,N] = alpha * op(A) op(B) + beta * C,
// handed to OpenBLAS through CBLAS.
//
// Threading: the CPU backend runs BLAS single-threaded and spreads work over the
// cores itself (parallel.hpp): convolutions give each core its own groups of
// images (gemm_serial), and a large GEMM that has the cores to itself is split
// into blocks of rows or columns of C here (gemm). Why: OpenBLAS's own threads
// spin for a while after every call, and on a 2-core machine they then starve
// the loops between the GEMMs (max pooling ran 2x slower).
//
// Determinism: the blocks depend on the shape alone, never on the thread count.
// OpenBLAS does not give an element of C the same bits in every block size: a
// block under ~1M multiply-adds takes its small-matrix kernel, which orders the
// sums over k differently (OpenBLAS 0.3.21 here). Blocks sized by the thread
// count therefore made the weights depend on CONVNET_NUM_THREADS.
//
// The wrapper also settles the degenerate cases that BLAS implementations treat
// inconsistently (empty extents, k == 0).
#include "cpu/gemm.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstdint>

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
// Every block re-packs the operand it shares with the others: on one core a
// large GEMM (256x4096x4096) loses ~1% in 4 blocks, ~4-7% in 8, more in 16,
// while small ones (the MNIST CNN's linear layer) get faster in 8. Eight
// blocks keep up to eight cores busy.
constexpr int kMaxBlocks = 8;
// Narrower blocks would leave the kernels' 16-wide tiles mostly empty.
constexpr int kMinBlockExtent = 16;

}  // namespace

void gemm_serial(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc) {
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
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc) {
  // Split the side whose blocks share the smaller operand: row blocks each
  // re-pack B (k x n), column blocks each re-pack A (m x k).
  const bool split_rows = m >= n;
  const int extent = split_rows ? m : n;
  const int blocks =
      double(m) * n * k < kSplitWork ? 1 : std::clamp(extent / kMinBlockExtent, 1, kMaxBlocks);
  if (blocks == 1) {
    gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Inside another parallel_for (or on one thread) the blocks run in turn, with
  // the same bits.
  parallel_for(blocks, [&](int64_t block) {
    const int begin = static_cast<int>(int64_t{extent} * block / blocks);
    const int end = static_cast<int>(int64_t{extent} * (block + 1) / blocks);
    if (split_rows) {
      const float* a_block = trans_a ? a + begin : a + int64_t{begin} * lda;
      gemm_serial(trans_a, trans_b, end - begin, n, k, alpha, a_block, lda, b, ldb, beta,
                  c + int64_t{begin} * ldc, ldc);
    } else {
      const float* b_block = trans_b ? b + int64_t{begin} * ldb : b + begin;
      gemm_serial(trans_a, trans_b, m, end - begin, k, alpha, a, lda, b_block, ldb, beta, c + begin,
                  ldc);
    }
  });
}

}  // namespace convnet::cpu
