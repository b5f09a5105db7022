// Softmax and log-softmax over dimension 1 through cudnnSoftmaxForward/Backward
// (not deprecated in cuDNN 9, unlike the classic convolution calls).
// CUDNN_SOFTMAX_MODE_CHANNEL normalises over C for every (n, h, w): our
// contract, with every dimension after 1 folded into H.
#include "cuda/context.hpp"
#include "cudnn/cudnn_backend.hpp"
#include "cudnn/cudnn_library.hpp"

namespace convnet::cudnn {
namespace {

// A 4-D NCHW float descriptor for [N, C, rest...], destroyed with the scope.
class Descriptor {
 public:
  explicit Descriptor(const Tensor& t) : lib_(library()) {
    int64_t inner = 1;
    for (int d = 2; d < t.dim(); ++d) inner *= t.size(d);
    const int64_t limit = 0x7fffffff;
    CONVNET_CHECK(t.size(0) <= limit && t.size(1) <= limit && inner <= limit,
                  "softmax (cuDNN): ", t.shape(), " exceeds cuDNN's int dimensions");
    CONVNET_CUDNN_CHECK(lib_.create_tensor_descriptor(&desc_));
    const cudnnStatus_t s = lib_.set_tensor_4d_descriptor(
        desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(t.size(0)),
        static_cast<int>(t.size(1)), static_cast<int>(inner), 1);
    if (s != CUDNN_STATUS_SUCCESS) {
      lib_.destroy_tensor_descriptor(desc_);
      CONVNET_FAIL("softmax (cuDNN): cudnnSetTensor4dDescriptor for ", t.shape(), ": ",
                   lib_.get_error_string(s));
    }
  }
  ~Descriptor() { lib_.destroy_tensor_descriptor(desc_); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  const Library& lib_;
  cudnnTensorDescriptor_t desc_ = nullptr;
};

}  // namespace

void CudnnBackend::softmax_forward(const Tensor& input, Tensor& output, bool log) {
  const int device = output.device().index;
  cuda::DeviceGuard guard(device);
  const Descriptor desc(input);
  const float alpha = 1.f, beta = 0.f;
  CONVNET_CUDNN_CHECK(library().softmax_forward(
      handle(device), log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL,
      &alpha, desc.get(), input.raw_data(), &beta, desc.get(), output.raw_data()));
}

void CudnnBackend::softmax_backward(const Tensor& output, const Tensor& grad_output,
                                    Tensor& grad_input, bool log) {
  const int device = grad_input.device().index;
  cuda::DeviceGuard guard(device);
  const Descriptor desc(output);
  const float alpha = 1.f, beta = 0.f;
  CONVNET_CUDNN_CHECK(library().softmax_backward(
      handle(device), log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL,
      &alpha, desc.get(), output.raw_data(), desc.get(), grad_output.raw_data(), &beta, desc.get(),
      grad_input.raw_data()));
}

}  // namespace convnet::cudnn
