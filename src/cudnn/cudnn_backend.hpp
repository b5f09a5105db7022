// CudnnBackend: convolution (fused with bias and ReLU) and batch normalization
// (fused with ReLU) through cuDNN's graph API, softmax through cudnnSoftmax*,
// the linear forward through cuBLASLt with its bias / bias+ReLU epilogue. A
// refused fused conv graph becomes the plain graph plus our bias/ReLU epilogue
// kernel (conv_route.hpp), a refused BN+ReLU graph the BN graph plus our ReLU
// kernel (batch_norm_route.hpp). Everything else, and any convolution or batch
// norm cuDNN has no plan for at all, is handed to the CudaBackend (composition:
// it is held, not copied; DelegatingBackend forwards what is not overridden
// here). Every call runs on the context stream of the
// output's device.
#pragma once

#include <cudnn.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "convnet/backend.hpp"
#include "core/delegating_backend.hpp"
#include "cudnn/batch_norm_graphs.hpp"
#include "cudnn/batch_norm_route.hpp"
#include "cudnn/conv_graphs.hpp"
#include "cudnn/conv_route.hpp"

namespace convnet::cudnn {

class LinearLt;  // cudnn_linear.cpp

class CudnnBackend final : public DelegatingBackend {
 public:
  explicit CudnnBackend(Backend& fallback);
  ~CudnnBackend() override;
  Kind kind() const override { return Kind::Cudnn; }
  Device::Type device_type() const override { return Device::Type::Cuda; }
  std::string path(Op op) const override;

  // ---- cuDNN graphs
  void conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                      const Conv2dParams& p, Tensor& output) override;
  void conv2d_bias_relu_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                const Conv2dParams& p, Tensor& output) override;
  void conv2d_backward_data(const Tensor& grad_output, const Tensor& weight,
                            const Conv2dParams& p, Tensor& grad_input) override;
  void conv2d_backward_filter(const Tensor& input, const Tensor& grad_output,
                              const Conv2dParams& p, Tensor& grad_weight,
                              bool accumulate) override;
  // ---- cuDNN batch-norm graphs (cudnn_batch_norm.cpp; the rule: batch_norm_route.hpp)
  void batch_norm_forward_train(const Tensor& input, const Tensor* weight, const Tensor* bias,
                                Tensor* running_mean, Tensor* running_var, float momentum,
                                float eps, bool relu, Tensor& output, Tensor& save_mean,
                                Tensor& save_invstd) override;
  void batch_norm_forward_inference(const Tensor& input, const Tensor* weight, const Tensor* bias,
                                    const Tensor& mean, const Tensor& var, float eps, bool relu,
                                    Tensor& output) override;
  void batch_norm_backward(const Tensor& input, const Tensor& grad_output, const Tensor* weight,
                           const Tensor& save_mean, const Tensor& save_invstd,
                           Tensor& grad_input, Tensor* grad_weight, Tensor* grad_bias,
                           bool accumulate) override;
  // ---- cudnnSoftmax*
  void softmax_forward(const Tensor& input, Tensor& output, bool log) override;
  void softmax_backward(const Tensor& output, const Tensor& grad_output, Tensor& grad_input,
                        bool log) override;
  // ---- cuBLASLt
  void linear_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                      Tensor& output) override;
  void linear_bias_relu_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                Tensor& output) override;

  ConvGraphStats conv_stats() const { return graphs_.stats(); }
  BnGraphStats bn_stats() const { return bn_graphs_.stats(); }
  BnRouteCounts bn_routes() const;
  ConvRouteCounts conv_routes() const;
  // The plan LRU's bound (tests shrink it to force evictions); returns the previous one.
  size_t set_plan_capacity(size_t capacity) { return graphs_.set_capacity(capacity); }
  // Test hook: treat every fused graph as refused, so the plain graph + epilogue
  // route runs on GPUs whose cuDNN accepts the fusion. Returns the previous setting.
  bool set_refuse_fused(bool refuse) { return refuse_fused_.exchange(refuse); }

 private:
  static constexpr int kMaxDevices = 16;
  // The device's cuDNN handle, bound to its context stream (created on first use).
  cudnnHandle_t handle(int device);
  // Runs `op`'s graph on `operands` or, when cuDNN has none, returns false.
  bool run_graph(ConvOp op, const Tensor& x, const Tensor& w, const Conv2dParams& p,
                 const Tensor& output, const ConvOperands& operands);
  ConvKey conv_key(ConvOp op, const Tensor& x, const Tensor& w, const Conv2dParams& p,
                   int device, const ConvOperands& operands) const;
  // Every forward conv: the route of conv_route.hpp, then the epilogue or our kernels.
  void forward(ConvOp op, const Tensor& input, const Tensor& weight, const Tensor* bias,
               const Conv2dParams& p, Tensor& output);

  // The batch-norm graph of `key` on `operands`, or false (with cuDNN's reason).
  bool run_bn(const BnKey& key, const BnOperands& operands, std::string& reason);
  // A [C] tensor of ones (value 1) or zeros on `device`: the scale and bias of a
  // batch norm without affine parameters. Made once per (device, C, value).
  const Tensor& channel_constant(int device, int64_t channels, float value);

  Backend& cuda_;  // fallback(): our CUDA kernels
  ConvGraphs graphs_;
  BnGraphs bn_graphs_;
  std::unique_ptr<LinearLt> linear_;
  std::mutex handles_mutex_;
  std::array<cudnnHandle_t, kMaxDevices> handles_{};
  mutable std::mutex routes_mutex_;
  ConvRouteCounts routes_;
  std::atomic<bool> refuse_fused_{false};
  mutable std::mutex bn_routes_mutex_;
  BnRouteCounts bn_routes_;
  std::mutex constants_mutex_;
  // Released, not freed, by the destructor: at exit CUDA may be gone.
  std::unique_ptr<std::map<std::tuple<int, int64_t, bool>, Tensor>> constants_;
};

}  // namespace convnet::cudnn
