// CudnnBackend: convolution (fused with bias and ReLU) and batch normalization
// (fused with ReLU) through cuDNN's graph API, softmax through cudnnSoftmax*,
// the linear forward through cuBLASLt with its bias / bias+ReLU epilogue. A
// refused fused conv graph becomes the plain graph plus our bias/ReLU epilogue
// kernel (conv_route.hpp), a refused BN+ReLU graph the BN graph plus our ReLU
// kernel (batch_norm_route.hpp). Everything else, and any convolution or batch
// norm cuDNN has no plan for at all, is handed to the CudaBackend (composition:
// it is held, not copied). Every call runs on the context stream of the
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
#include "cudnn/batch_norm_graphs.hpp"
#include "cudnn/batch_norm_route.hpp"
#include "cudnn/conv_graphs.hpp"
#include "cudnn/conv_route.hpp"

namespace convnet::cudnn {

class LinearLt;  // cudnn_linear.cpp

class CudnnBackend final : public Backend {
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

  // ---- the CudaBackend's
  void bias_backward(const Tensor& g, Tensor& gb, bool acc) override { cuda_.bias_backward(g, gb, acc); }
  void pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor* idx) override {
    cuda_.pool2d_forward(x, p, y, idx);
  }
  void pool2d_backward(const Tensor& x, const Tensor& dy, const Tensor* idx, const Pool2dParams& p,
                       Tensor& dx) override {
    cuda_.pool2d_backward(x, dy, idx, p, dx);
  }
  // cuDNN has no adaptive pooling: our kernels (path() says so).
  void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) override {
    cuda_.adaptive_avg_pool2d_forward(x, y);
  }
  void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) override {
    cuda_.adaptive_avg_pool2d_backward(dy, dx);
  }
  void activation_forward(Activation a, float alpha, const Tensor& x, Tensor& y) override {
    cuda_.activation_forward(a, alpha, x, y);
  }
  void activation_backward(Activation a, float alpha, const Tensor& x, const Tensor& y,
                           const Tensor& dy, Tensor& dx) override {
    cuda_.activation_backward(a, alpha, x, y, dy, dx);
  }
  void linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) override {
    cuda_.linear_backward_data(dy, w, dx);
  }
  void linear_backward_weight(const Tensor& x, const Tensor& dy, Tensor& dw, bool acc) override {
    cuda_.linear_backward_weight(x, dy, dw, acc);
  }
  void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss,
                                     Tensor& probs) override {
    cuda_.softmax_cross_entropy_forward(logits, labels, loss, probs);
  }
  void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels, float scale,
                                      Tensor& grad) override {
    cuda_.softmax_cross_entropy_backward(probs, labels, scale, grad);
  }
  void mse_forward(const Tensor& a, const Tensor& t, Tensor& loss) override { cuda_.mse_forward(a, t, loss); }
  void mse_backward(const Tensor& a, const Tensor& t, float s, Tensor& g) override {
    cuda_.mse_backward(a, t, s, g);
  }
  void bce_with_logits_forward(const Tensor& a, const Tensor& t, Tensor& loss) override {
    cuda_.bce_with_logits_forward(a, t, loss);
  }
  void bce_with_logits_backward(const Tensor& a, const Tensor& t, float s, Tensor& g) override {
    cuda_.bce_with_logits_backward(a, t, s, g);
  }
  void hinge_forward(const Tensor& a, const Tensor& t, float m, Tensor& loss) override {
    cuda_.hinge_forward(a, t, m, loss);
  }
  void hinge_backward(const Tensor& a, const Tensor& t, float m, float s, Tensor& g) override {
    cuda_.hinge_backward(a, t, m, s, g);
  }
  void dropout_forward(const Tensor& x, float p, uint64_t seed, uint64_t offset, Tensor& y,
                       Tensor& mask) override {
    cuda_.dropout_forward(x, p, seed, offset, y, mask);
  }
  void dropout_backward(const Tensor& dy, const Tensor& mask, Tensor& dx) override {
    cuda_.dropout_backward(dy, mask, dx);
  }
  void fill(Tensor& y, float v) override { cuda_.fill(y, v); }
  void add(const Tensor& a, const Tensor& b, Tensor& y) override { cuda_.add(a, b, y); }
  void scale(const Tensor& x, float a, Tensor& y) override { cuda_.scale(x, a, y); }
  // Tensor arithmetic runs on our CUDA kernels (cuBLAS for matmul).
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Broadcast& bc,
              Tensor& y) override {
    cuda_.binary(op, a, b, bc, y);
  }
  void unary(UnaryOp op, const Tensor& x, float s0, float s1, Tensor& y) override {
    cuda_.unary(op, x, s0, s1, y);
  }
  void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t extent, int64_t inner,
              Tensor& y) override {
    cuda_.reduce(op, x, outer, extent, inner, y);
  }
  void matmul(const Tensor& a, const Tensor& b, Tensor& y) override { cuda_.matmul(a, b, y); }
  void transpose2d(const Tensor& x, Tensor& y) override { cuda_.transpose2d(x, y); }
  void copy_columns(const Tensor& x, int64_t outer, int64_t offset, Tensor& y) override {
    cuda_.copy_columns(x, outer, offset, y);
  }
  void index_select(const Tensor& x, const Tensor& idx, Tensor& y) override {
    cuda_.index_select(x, idx, y);
  }
  void count_correct(const Tensor& logits, const Tensor& labels, Tensor& correct, bool acc) override {
    cuda_.count_correct(logits, labels, correct, acc);
  }
  void sgd_update(Tensor& param, const Tensor& grad, Tensor* buf, const SgdParams& p,
                  const Tensor& schedule) override {
    cuda_.sgd_update(param, grad, buf, p, schedule);
  }
  void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p,
                   const Tensor& schedule) override {
    cuda_.adam_update(param, grad, m, v, p, schedule);
  }
  void schedule_step(Tensor& schedule, float lr) override { cuda_.schedule_step(schedule, lr); }

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

  Backend& cuda_;
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
