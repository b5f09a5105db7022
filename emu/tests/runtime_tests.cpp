// The host-backed runtime's own rules (CONVNET_CUDA=EMULATED): queued work
// runs only when the host synchronises, copies check where their pointers
// live, the pool reuses in stream order, and Sgemm honours its transposes.
#include <gtest/gtest.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <vector>

namespace {

struct DeviceBuffer {
  explicit DeviceBuffer(size_t bytes) { EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess); }
  ~DeviceBuffer() { (void)cudaFree(p); }
  void* p = nullptr;
};

cudaStream_t new_stream() {
  cudaStream_t s = nullptr;
  EXPECT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  return s;
}

TEST(EmuRuntime, WorkRunsWhenTheHostSynchronisesNotBefore) {
  cudaStream_t s = new_stream();
  DeviceBuffer d(16);
  auto* bytes = static_cast<unsigned char*>(d.p);  // emulated device memory is host memory
  ASSERT_EQ(cudaMemsetAsync(d.p, 0, 16, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(d.p, 7, 16, s), cudaSuccess);
  EXPECT_EQ(bytes[0], 0) << "a read without a synchronisation sees the old value";
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(bytes[0], 7);
}

TEST(EmuRuntime, AnEventRunsItsStreamUpToTheRecordOnly) {
  cudaStream_t s = new_stream();
  DeviceBuffer d(4);
  auto* bytes = static_cast<unsigned char*>(d.p);
  cudaEvent_t e = nullptr;
  ASSERT_EQ(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(d.p, 1, 4, s), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(e, s), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(d.p, 2, 4, s), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(e), cudaSuccess);
  EXPECT_EQ(bytes[0], 1);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(bytes[0], 2);
  EXPECT_EQ(cudaEventDestroy(e), cudaSuccess);
}

TEST(EmuRuntime, PinnedCopiesWaitForTheStreamPageableOnesDoNot) {
  cudaStream_t s = new_stream();
  DeviceBuffer d(sizeof(int));
  int* pinned = nullptr;
  ASSERT_EQ(cudaHostAlloc(&pinned, sizeof(int), cudaHostAllocPortable), cudaSuccess);
  int pageable = 5;
  ASSERT_EQ(cudaMemcpyAsync(d.p, &pageable, sizeof(int), cudaMemcpyHostToDevice, s), cudaSuccess);
  pageable = 6;  // staged at the call: the copy still writes 5
  *pinned = -1;
  ASSERT_EQ(cudaMemcpyAsync(pinned, d.p, sizeof(int), cudaMemcpyDeviceToHost, s), cudaSuccess);
  EXPECT_EQ(*pinned, -1) << "a pinned destination is written when the stream runs";
  int back = 0;
  ASSERT_EQ(cudaMemcpyAsync(&back, d.p, sizeof(int), cudaMemcpyDeviceToHost, s), cudaSuccess);
  EXPECT_EQ(back, 5) << "a pageable destination is written before the call returns";
  EXPECT_EQ(*pinned, 5);
  EXPECT_EQ(cudaFreeHost(pinned), cudaSuccess);
}

TEST(EmuRuntime, ACopyInTheWrongDirectionNamesBothPointers) {
  DeviceBuffer d(64);
  float host[16] = {};
  const cudaError_t e = cudaMemcpyAsync(d.p, host, sizeof host, cudaMemcpyDeviceToHost, nullptr);
  ASSERT_EQ(e, cudaErrorInvalidValue);
  const std::string text = cudaGetErrorString(e);
  EXPECT_NE(text.find("cudaMemcpyDeviceToHost"), std::string::npos) << text;
  EXPECT_NE(text.find("dst is device memory"), std::string::npos) << text;
  EXPECT_NE(text.find("src is host memory"), std::string::npos) << text;
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(EmuRuntime, ACopyPastTheEndOfAnAllocationIsAnError) {
  DeviceBuffer d(64);
  float host[32] = {};
  const cudaError_t e = cudaMemcpyAsync(d.p, host, sizeof host, cudaMemcpyHostToDevice, nullptr);
  ASSERT_EQ(e, cudaErrorInvalidValue);
  EXPECT_NE(std::string(cudaGetErrorString(e)).find("64 bytes past its end"), std::string::npos)
      << cudaGetErrorString(e);
  (void)cudaGetLastError();
}

TEST(EmuRuntime, ThePoolReusesInStreamOrder) {
  cudaStream_t a = new_stream(), b = new_stream();
  void* first = nullptr;
  ASSERT_EQ(cudaMallocAsync(&first, 1000, a), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(first, 0, 1000, a), cudaSuccess);
  ASSERT_EQ(cudaFreeAsync(first, a), cudaSuccess);
  void* other = nullptr;
  ASSERT_EQ(cudaMallocAsync(&other, 1000, b), cudaSuccess);
  EXPECT_NE(other, first) << "stream b may not take a block stream a has not freed yet";
  void* same = nullptr;
  ASSERT_EQ(cudaMallocAsync(&same, 1000, a), cudaSuccess);
  EXPECT_EQ(same, first) << "stream a reuses its own freed block at once";
  EXPECT_EQ(cudaFreeAsync(same, a), cudaSuccess);
  EXPECT_EQ(cudaFreeAsync(other, b), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(EmuRuntime, SgemmHonoursBothTransposes) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  // Destroyed on every way out (LeakSanitizer found the handle leaked by an early version).
  const std::unique_ptr<cublasContext, cublasStatus_t (*)(cublasHandle_t)> owner(h, cublasDestroy);
  const int m = 3, n = 2, k = 4;
  std::vector<float> a(m * k), b(k * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) - 5.f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = 0.5f * float(i) + 1.f;
  DeviceBuffer da(a.size() * 4), db(b.size() * 4), dc(m * n * 4);
  ASSERT_EQ(cudaMemcpy(da.p, a.data(), a.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(db.p, b.data(), b.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
  for (cublasOperation_t ta : {CUBLAS_OP_N, CUBLAS_OP_T})
    for (cublasOperation_t tb : {CUBLAS_OP_N, CUBLAS_OP_T}) {
      // Column-major: op(A) is m x k, op(B) is k x n, read with their leading dimensions.
      const int lda = ta == CUBLAS_OP_N ? m : k, ldb = tb == CUBLAS_OP_N ? k : n;
      auto at = [&](int i, int l) { return ta == CUBLAS_OP_N ? a[i + l * lda] : a[l + i * lda]; };
      auto bt = [&](int l, int j) { return tb == CUBLAS_OP_N ? b[l + j * ldb] : b[j + l * ldb]; };
      const float alpha = 1.f, beta = 0.f;
      ASSERT_EQ(cublasSgemm(h, ta, tb, m, n, k, &alpha, static_cast<float*>(da.p), lda,
                            static_cast<float*>(db.p), ldb, &beta, static_cast<float*>(dc.p), m),
                CUBLAS_STATUS_SUCCESS);
      std::vector<float> c(m * n);
      ASSERT_EQ(cudaMemcpy(c.data(), dc.p, c.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          float want = 0.f;
          for (int l = 0; l < k; ++l) want += at(i, l) * bt(l, j);
          EXPECT_FLOAT_EQ(c[i + j * m], want) << "transa " << ta << " transb " << tb;
        }
    }
  // A host pointer is refused, as a GPU would fault on it.
  float host_c[6];
  const float one = 1.f;
  EXPECT_EQ(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, static_cast<float*>(da.p), m,
                        static_cast<float*>(db.p), k, &one, host_c, m),
            CUBLAS_STATUS_EXECUTION_FAILED);
}

}  // namespace
