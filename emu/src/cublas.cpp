// cuBLAS on the emulated device: a handle is its stream, workspace and math
// mode; cublasSgemm checks its arguments as cuBLAS does, checks that A, B and
// C are device memory large enough for their extents (a GPU would fault), and
// queues OpenBLAS's column-major cblas_sgemm on the handle's stream. The math
// is FP32 in every mode (TF32 is not emulated).
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "cublas_v2.h"
#include "runtime_state.hpp"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {
thread_local cublasStatus_t t_detail_status = CUBLAS_STATUS_SUCCESS;
thread_local std::string t_detail, t_text;

cublasStatus_t fail(cublasStatus_t status, const std::string& detail) {
  t_detail_status = status;
  t_detail = detail;
  return status;
}

bool valid(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }

// Bytes spanned by a column-major rows x cols matrix with leading dimension ld.
size_t extent(int rows, int cols, int ld) {
  return rows == 0 || cols == 0 ? 0 : (size_t(cols - 1) * size_t(ld) + size_t(rows)) * sizeof(float);
}
}  // namespace

using convnet::emu::rt::device_range_problem;

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext();  // src/ keeps its handles for the process (context.cpp)
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes > 0) {
    const std::string problem = device_range_problem(workspace, bytes);
    if (!problem.empty()) return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasSetWorkspace: " + problem);
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                           int m, int n, int k, const float* alpha, const float* A, int lda,
                           const float* B, int ldb, const float* beta, float* C, int ldc) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  const int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
  const int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
  const std::string dims = "cublasSgemm(m=" + std::to_string(m) + ", n=" + std::to_string(n) +
                           ", k=" + std::to_string(k) + ", lda=" + std::to_string(lda) + ", ldb=" +
                           std::to_string(ldb) + ", ldc=" + std::to_string(ldc) + ")";
  if (!valid(transa) || !valid(transb) || m < 0 || n < 0 || k < 0 || lda < std::max(1, a_rows) ||
      ldb < std::max(1, b_rows) || ldc < std::max(1, m) || alpha == nullptr || beta == nullptr)
    return fail(CUBLAS_STATUS_INVALID_VALUE, dims);
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const float a = *alpha, b = *beta;  // host pointer mode: read at the call
  struct Operand { const char* name; const void* p; size_t bytes; };
  for (const Operand& o : {Operand{"A", A, k > 0 ? extent(a_rows, a_cols, lda) : 0},
                           Operand{"B", B, k > 0 ? extent(b_rows, b_cols, ldb) : 0},
                           Operand{"C", C, extent(m, n, ldc)}}) {
    if (o.bytes == 0) continue;
    const std::string problem = device_range_problem(o.p, o.bytes);
    if (!problem.empty())
      return fail(CUBLAS_STATUS_EXECUTION_FAILED, dims + ", operand " + o.name + ": " + problem);
  }
  const auto op = [](cublasOperation_t t) { return t == CUBLAS_OP_N ? CblasNoTrans : CblasTrans; };
  convnet::emu::rt::enqueue(handle->stream, [=] {
    if (b == 0.f)  // cuBLAS does not read C when beta is 0: NaN there must not survive
      for (int j = 0; j < n; ++j) std::memset(C + size_t(j) * ldc, 0, size_t(m) * sizeof(float));
    cblas_sgemm(CblasColMajor, op(transa), op(transb), m, n, k, a, A, lda, B, ldb, b, C, ldc);
  });
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
  const char* text = "unknown error";
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: text = "success"; break;
    case CUBLAS_STATUS_NOT_INITIALIZED: text = "the library was not initialized"; break;
    case CUBLAS_STATUS_ALLOC_FAILED: text = "the resource allocation failed"; break;
    case CUBLAS_STATUS_INVALID_VALUE: text = "an invalid numeric value was used as an argument"; break;
    case CUBLAS_STATUS_EXECUTION_FAILED: text = "the GPU program failed to execute"; break;
    case CUBLAS_STATUS_INTERNAL_ERROR: text = "an internal operation failed"; break;
    case CUBLAS_STATUS_NOT_SUPPORTED: text = "the functionality requested is not supported"; break;
  }
  if (status != t_detail_status || t_detail.empty()) return text;
  t_text = std::string(text) + "; emulated device: " + t_detail;
  return t_text.c_str();
}
