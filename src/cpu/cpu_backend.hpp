// CpuBackend: the reference implementation of every operation.
//
// Plain, readable C++ loops; GEMM-shaped work (convolution as im2col + GEMM,
// linear layers) goes through BLAS (OpenBLAS) so the CPU path can train real
// models. Accumulations over many terms use double where it is cheap, because
// this is the result the GPU backends are compared against.
// One source file per operation family: conv2d.cpp, pool2d.cpp, ...
#pragma once

#include "convnet/backend.hpp"

namespace convnet::cpu {

class CpuBackend final : public Backend {
 public:
  Kind kind() const override { return Kind::Cpu; }
  Device::Type device_type() const override { return Device::Type::Cpu; }
  std::string path(Op op) const override;

  void conv2d_bias_relu_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                const Conv2dParams& p, Tensor& output) override;
  void conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                      const Conv2dParams& p, Tensor& output) override;
  void conv2d_backward_data(const Tensor& grad_output, const Tensor& weight,
                            const Conv2dParams& p, Tensor& grad_input) override;
  void conv2d_backward_filter(const Tensor& input, const Tensor& grad_output,
                              const Conv2dParams& p, Tensor& grad_weight,
                              bool accumulate) override;
  void bias_backward(const Tensor& grad_output, Tensor& grad_bias, bool accumulate) override;

  void pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& output,
                      Tensor* argmax) override;
  void pool2d_backward(const Tensor& input, const Tensor& grad_output, const Tensor* argmax,
                       const Pool2dParams& p, Tensor& grad_input) override;

  void adaptive_avg_pool2d_forward(const Tensor& input, Tensor& output) override;
  void adaptive_avg_pool2d_backward(const Tensor& grad_output, Tensor& grad_input) override;
  void batch_norm_forward_train(const Tensor& input, const Tensor* weight, const Tensor* bias,
                                Tensor* running_mean, Tensor* running_var, float momentum,
                                float eps, bool relu, Tensor& output, Tensor& save_mean,
                                Tensor& save_invstd) override;
  void batch_norm_forward_inference(const Tensor& input, const Tensor* weight,
                                    const Tensor* bias, const Tensor& mean, const Tensor& var,
                                    float eps, bool relu, Tensor& output) override;
  void batch_norm_backward(const Tensor& input, const Tensor& grad_output, const Tensor* weight,
                           const Tensor& save_mean, const Tensor& save_invstd, Tensor& grad_input,
                           Tensor* grad_weight, Tensor* grad_bias, bool accumulate) override;

  void activation_forward(Activation a, float alpha, const Tensor& input,
                          Tensor& output) override;
  void activation_backward(Activation a, float alpha, const Tensor& input, const Tensor& output,
                           const Tensor& grad_output, Tensor& grad_input) override;

  void softmax_forward(const Tensor& input, Tensor& output, bool log) override;
  void softmax_backward(const Tensor& output, const Tensor& grad_output, Tensor& grad_input,
                        bool log) override;

  void linear_bias_relu_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                Tensor& output) override;
  void linear_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                      Tensor& output) override;
  void linear_backward_data(const Tensor& grad_output, const Tensor& weight,
                            Tensor& grad_input) override;
  void linear_backward_weight(const Tensor& input, const Tensor& grad_output,
                              Tensor& grad_weight, bool accumulate) override;

  void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                     float label_smoothing, Tensor& loss, Tensor& probs) override;
  void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                      float label_smoothing, float scale,
                                      Tensor& grad_logits) override;
  void mse_forward(const Tensor& prediction, const Tensor& target, Tensor& loss) override;
  void mse_backward(const Tensor& prediction, const Tensor& target, float scale,
                    Tensor& grad_prediction) override;
  void bce_with_logits_forward(const Tensor& logits, const Tensor& target, Tensor& loss) override;
  void bce_with_logits_backward(const Tensor& logits, const Tensor& target, float scale,
                                Tensor& grad_logits) override;
  void hinge_forward(const Tensor& scores, const Tensor& target, float margin,
                     Tensor& loss) override;
  void hinge_backward(const Tensor& scores, const Tensor& target, float margin, float scale,
                      Tensor& grad_scores) override;

  void dropout_forward(const Tensor& input, float p, uint64_t seed, uint64_t offset,
                       Tensor& output, Tensor& mask) override;
  void dropout_backward(const Tensor& grad_output, const Tensor& mask,
                        Tensor& grad_input) override;

  void fill(Tensor& output, float value) override;
  void add(const Tensor& a, const Tensor& b, Tensor& output) override;
  void scale(const Tensor& input, float alpha, Tensor& output) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Broadcast& bc,
              Tensor& output) override;
  void unary(UnaryOp op, const Tensor& input, float s0, float s1, Tensor& output) override;
  void reduce(ReduceOp op, const Tensor& input, int64_t outer, int64_t extent, int64_t inner,
              Tensor& output) override;
  void matmul(const Tensor& a, const Tensor& b, Tensor& output) override;
  void transpose2d(const Tensor& input, Tensor& output) override;
  void copy_columns(const Tensor& input, int64_t outer, int64_t offset, Tensor& output) override;
  void index_select(const Tensor& input, const Tensor& indices, Tensor& output) override;
  void count_correct(const Tensor& logits, const Tensor& labels, Tensor& correct,
                     bool accumulate) override;

  void sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buffer, const SgdParams& p,
                  const Tensor& schedule) override;
  void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                   const AdamParams& p, const Tensor& schedule) override;
  void schedule_step(Tensor& schedule, float lr) override;
};

}  // namespace convnet::cpu
