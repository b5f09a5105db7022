// cuBLASLt for the linear forward. The row-major mapping is cuda_linear.cpp's:
// Y^T [out, N] = (W as column-major [in, out])^T x (X as column-major [in, N]),
// so m = out, n = N, k = in, and the bias is one value per row of D, which is
// what CUBLASLT_EPILOGUE_BIAS broadcasts. The heuristic is told each operand's
// real alignment (linear_key.hpp): by default it assumes 256 bytes, and a
// slice's pointer then makes the matmul answer NOT_SUPPORTED.
#include "cudnn/cudnn_linear.hpp"

#include <utility>

#include "cuda/context.hpp"
#include "cuda/cublas_check.hpp"
#include "cudnn/cudnn_backend.hpp"

namespace convnet::cudnn {
namespace {
constexpr size_t kWorkspaceBytes = size_t{32} << 20;
}

// Descriptors and the chosen algorithm of one problem; built once, kept in the LRU.
struct LinearLt::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  enum class Refusal : uint8_t { None, NoAlgorithm, NotSupported };
  Refusal refusal = Refusal::None;  // why the cuBLAS path runs instead (remembered per key)
  ~Plan() {
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

LinearLt::LinearLt() : plans_(256) {}
LinearLt::~LinearLt() = default;  // handles live as long as the process (see Context)

cublasLtHandle_t LinearLt::handle(int device) {
  CONVNET_CHECK(device >= 0 && device < kMaxDevices, "cuBLASLt: device ", device, " out of range");
  if (!handles_[device]) CONVNET_CUBLAS_CHECK(cublasLtCreate(&handles_[device]));
  return handles_[device];
}

bool LinearLt::forward(const Tensor& input, const Tensor& weight, const Tensor* bias, bool relu,
                       Tensor& output) {
  const int device = output.device().index;
  cuda::DeviceGuard guard(device);
  cuda::Context& ctx = cuda::context(device);
  LinearKey key;
  key.n = input.size(0);
  key.in = input.size(1);
  key.out = weight.size(0);
  key.bias = bias != nullptr;
  key.relu = relu;
  key.math = math_mode();
  key.device = device;
  key.align_weight = alignment_of(weight.raw_data(), kLtMaxAlignment);
  key.align_input = alignment_of(input.raw_data(), kLtMaxAlignment);
  key.align_output = alignment_of(output.raw_data(), kLtMaxAlignment);
  key.align_bias = alignment_of(bias ? bias->raw_data() : nullptr, kLtMaxAlignment);
  const LtAlignment align = lt_alignment(key);

  std::lock_guard<std::mutex> lock(mutex_);
  LinearCounts& counts = counts_[relu ? 1 : 0];
  if (!align.bias_usable) {
    ++counts.bias_unaligned;
    return false;
  }
  cublasLtHandle_t lt = handle(device);
  std::shared_ptr<Plan> plan;
  if (std::shared_ptr<Plan>* found = plans_.find(key)) {
    plan = *found;
  } else {
    plan = std::make_shared<Plan>();
    const cublasComputeType_t compute =
        key.math == MathMode::TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    CONVNET_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->op, compute, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CONVNET_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CONVNET_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    const cublasLtEpilogue_t epilogue =
        bias ? (relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
             : (relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
    CONVNET_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                        &epilogue, sizeof epilogue));
    if (bias) {
      const cudaDataType_t bias_type = CUDA_R_32F;
      CONVNET_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
          plan->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
    }
    const uint64_t m = key.out, n = key.n, k = key.in;
    CONVNET_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_32F, k, m, k));  // W: [in, out]
    CONVNET_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_32F, k, n, k));  // X: [in, N]
    CONVNET_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->d, CUDA_R_32F, m, n, m));  // Y: [out, N]
    cublasLtMatmulPreference_t pref = nullptr;
    CONVNET_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const size_t ws = kWorkspaceBytes;
    cublasStatus_t status = cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> alignments[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align.a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align.b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align.c},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align.d}};
    for (const auto& [attribute, bytes] : alignments)
      if (status == CUBLAS_STATUS_SUCCESS)
        status = cublasLtMatmulPreferenceSetAttribute(pref, attribute, &bytes, sizeof bytes);
    cublasLtMatmulHeuristicResult_t result{};
    int count = 0;
    if (status == CUBLAS_STATUS_SUCCESS)
      status = cublasLtMatmulAlgoGetHeuristic(lt, plan->op, plan->a, plan->b, plan->d, plan->d,
                                              pref, 1, &result, &count);
    cublasLtMatmulPreferenceDestroy(pref);
    // NOT_SUPPORTED or no result: no algorithm, the caller falls back.
    if (status != CUBLAS_STATUS_NOT_SUPPORTED) CONVNET_CUBLAS_CHECK(status);
    if (status != CUBLAS_STATUS_SUCCESS || count == 0) plan->refusal = Plan::Refusal::NoAlgorithm;
    plan->algo = result.algo;
    plan->workspace = result.workspaceSize;
    plans_.insert(key, plan);
  }
  if (plan->refusal == Plan::Refusal::NoAlgorithm) {
    ++counts.no_algorithm;
    return false;
  }
  if (plan->refusal == Plan::Refusal::NotSupported) {
    ++counts.not_supported;
    return false;
  }
  if (bias) {
    const void* bias_ptr = bias->raw_data();
    CONVNET_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                        &bias_ptr, sizeof bias_ptr));
  }
  void* ws = plan->workspace ? ctx.workspace(plan->workspace) : nullptr;
  const float alpha = 1.f, beta = 0.f;
  const cublasStatus_t status =
      cublasLtMatmul(lt, plan->op, &alpha, weight.raw_data(), plan->a, input.raw_data(), plan->b,
                     &beta, output.raw_data(), plan->d, output.raw_data(), plan->d, &plan->algo, ws,
                     plan->workspace, ctx.stream());
  if (status == CUBLAS_STATUS_NOT_SUPPORTED) {  // nothing ran; this key will not try again
    plan->refusal = Plan::Refusal::NotSupported;
    ++counts.not_supported;
    return false;
  }
  CONVNET_CUBLAS_CHECK(status);
  ++counts.lt;
  return true;
}

LinearCounts LinearLt::counts(bool relu) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_[relu ? 1 : 0];
}

}  // namespace convnet::cudnn
