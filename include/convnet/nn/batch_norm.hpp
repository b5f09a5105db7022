// BatchNorm2d as PyTorch defines it (torch.nn.BatchNorm2d), over channel dim 1
// of [N, C, H, W]:
//
//   nn::BatchNorm2d bn(16);                                         // nn.BatchNorm2d(16)
//   nn::BatchNorm2d bn(nn::BatchNorm2dOptions(16).momentum(0.01));  // momentum=0.01
//
// Mode::Train normalises with the batch's mean and biased variance and, when
// track_running_stats, updates the running statistics with the momentum (the
// variance unbiased: var * n / (n - 1), n = N*H*W) and counts the batch in
// num_batches_tracked. Mode::Eval normalises with the running statistics and
// keeps nothing. Without track_running_stats both modes use the batch's.
//
// Parameters (affine): weight [C] (ones), bias [C] (zeros). Buffers (saved in
// checkpoints under PyTorch's names, never seen by an optimizer):
// running_mean [C] (zeros), running_var [C] (ones), num_batches_tracked
// (i64 0-d, kept on the host).
//
// A ReLU after it fuses into its forward in a Sequential, as Conv2d's does.
#pragma once

#include <string>

#include "convnet/nn/layer.hpp"
#include "convnet/nn/options.hpp"
#include "convnet/ops.hpp"

namespace convnet::nn {

class BatchNorm2d : public Layer {
 public:
  // Throws convnet::Error naming the layer for num_features < 1, eps < 0 (or
  // not finite) and a momentum outside [0, 1].
  explicit BatchNorm2d(const BatchNorm2dOptions& options);
  explicit BatchNorm2d(int64_t num_features) : BatchNorm2d(BatchNorm2dOptions(num_features)) {}

  Tensor forward(const Tensor& input, Mode mode) override;
  Tensor backward(const Tensor& grad_output) override;
  std::string name() const override;
  // Refuses an input that is not 4-D or whose channel count is not num_features.
  Shape output_shape(const Shape& input_shape) const override;
  const BatchNorm2dOptions& options() const { return options_; }

  Parameter* weight() { return weight_; }  // nullptr without affine
  Parameter* bias() { return bias_; }
  // Undefined without track_running_stats.
  Tensor& running_mean() { return running_mean_->value; }
  Tensor& running_var() { return running_var_->value; }
  int64_t num_batches_tracked() const;

  Backend::Op backend_op(bool fused_relu) const override {
    return fused_relu ? Backend::Op::BatchNormReLU : Backend::Op::BatchNorm;
  }
  bool can_fuse_relu() const override { return true; }

 protected:
  void clear_cache() override {
    input_ = output_ = Tensor();
    saved_ = ops::BatchNormSaved();
  }

 private:
  void set_fused_relu(bool on) override { fuse_relu_ = on; }
  void check_input(const Shape& input_shape) const;

  BatchNorm2dOptions options_;
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
  Buffer* running_mean_ = nullptr;
  Buffer* running_var_ = nullptr;
  Buffer* num_batches_tracked_ = nullptr;
  Tensor input_, output_;  // output_: kept by a fused forward for ReLU's gradient
  ops::BatchNormSaved saved_;
  bool fuse_relu_ = false;
};

}  // namespace convnet::nn
