// DelegatingBackend: a Backend that hands every operation to another one.
//
// A vendor backend (cuDNN over our CUDA kernels, oneDNN over the CPU reference)
// accelerates a few operations and leaves the rest to the backend beneath it.
// It derives from this class and overrides only what it accelerates, so a new
// operation touches the Backend interface and this file, not every vendor
// backend. kind(), device_type() and path() stay the vendor's to define.
#pragma once

#include "convnet/backend.hpp"

namespace convnet {

class DelegatingBackend : public Backend {
 public:
  explicit DelegatingBackend(Backend& fallback) : fallback_(fallback) {}
  Backend& fallback() const { return fallback_; }

  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p,
                      Tensor& y) override {
    fallback_.conv2d_forward(x, w, b, p, y);
  }
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p,
                            Tensor& dx) override {
    fallback_.conv2d_backward_data(dy, w, p, dx);
  }
  void conv2d_backward_filter(const Tensor& x, const Tensor& dy, const Conv2dParams& p,
                              Tensor& dw, bool acc) override {
    fallback_.conv2d_backward_filter(x, dy, p, dw, acc);
  }
  void conv2d_bias_relu_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                                const Conv2dParams& p, Tensor& y) override {
    fallback_.conv2d_bias_relu_forward(x, w, b, p, y);
  }
  void bias_backward(const Tensor& dy, Tensor& db, bool acc) override {
    fallback_.bias_backward(dy, db, acc);
  }
  void pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor* idx) override {
    fallback_.pool2d_forward(x, p, y, idx);
  }
  void pool2d_backward(const Tensor& x, const Tensor& dy, const Tensor* idx, const Pool2dParams& p,
                       Tensor& dx) override {
    fallback_.pool2d_backward(x, dy, idx, p, dx);
  }
  void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) override {
    fallback_.adaptive_avg_pool2d_forward(x, y);
  }
  void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) override {
    fallback_.adaptive_avg_pool2d_backward(dy, dx);
  }
  void batch_norm_forward_train(const Tensor& x, const Tensor* w, const Tensor* b,
                                Tensor* running_mean, Tensor* running_var, float momentum,
                                float eps, bool relu, Tensor& y, Tensor& save_mean,
                                Tensor& save_invstd) override {
    fallback_.batch_norm_forward_train(x, w, b, running_mean, running_var, momentum, eps, relu, y,
                                       save_mean, save_invstd);
  }
  void batch_norm_forward_inference(const Tensor& x, const Tensor* w, const Tensor* b,
                                    const Tensor& mean, const Tensor& var, float eps, bool relu,
                                    Tensor& y) override {
    fallback_.batch_norm_forward_inference(x, w, b, mean, var, eps, relu, y);
  }
  void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* w,
                           const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                           Tensor* dw, Tensor* db, bool acc) override {
    fallback_.batch_norm_backward(x, dy, w, save_mean, save_invstd, dx, dw, db, acc);
  }
  void activation_forward(Activation a, float alpha, const Tensor& x, Tensor& y) override {
    fallback_.activation_forward(a, alpha, x, y);
  }
  void activation_backward(Activation a, float alpha, const Tensor& x, const Tensor& y,
                           const Tensor& dy, Tensor& dx) override {
    fallback_.activation_backward(a, alpha, x, y, dy, dx);
  }
  void softmax_forward(const Tensor& x, Tensor& y, bool log) override {
    fallback_.softmax_forward(x, y, log);
  }
  void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx, bool log) override {
    fallback_.softmax_backward(y, dy, dx, log);
  }
  void linear_forward(const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y) override {
    fallback_.linear_forward(x, w, b, y);
  }
  void linear_bias_relu_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                                Tensor& y) override {
    fallback_.linear_bias_relu_forward(x, w, b, y);
  }
  void linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) override {
    fallback_.linear_backward_data(dy, w, dx);
  }
  void linear_backward_weight(const Tensor& x, const Tensor& dy, Tensor& dw, bool acc) override {
    fallback_.linear_backward_weight(x, dy, dw, acc);
  }
  void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss,
                                     Tensor& probs) override {
    fallback_.softmax_cross_entropy_forward(logits, labels, loss, probs);
  }
  void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels, float scale,
                                      Tensor& grad) override {
    fallback_.softmax_cross_entropy_backward(probs, labels, scale, grad);
  }
  void mse_forward(const Tensor& a, const Tensor& t, Tensor& loss) override {
    fallback_.mse_forward(a, t, loss);
  }
  void mse_backward(const Tensor& a, const Tensor& t, float s, Tensor& g) override {
    fallback_.mse_backward(a, t, s, g);
  }
  void bce_with_logits_forward(const Tensor& a, const Tensor& t, Tensor& loss) override {
    fallback_.bce_with_logits_forward(a, t, loss);
  }
  void bce_with_logits_backward(const Tensor& a, const Tensor& t, float s, Tensor& g) override {
    fallback_.bce_with_logits_backward(a, t, s, g);
  }
  void hinge_forward(const Tensor& a, const Tensor& t, float m, Tensor& loss) override {
    fallback_.hinge_forward(a, t, m, loss);
  }
  void hinge_backward(const Tensor& a, const Tensor& t, float m, float s, Tensor& g) override {
    fallback_.hinge_backward(a, t, m, s, g);
  }
  void dropout_forward(const Tensor& x, float p, uint64_t seed, uint64_t offset, Tensor& y,
                       Tensor& mask) override {
    fallback_.dropout_forward(x, p, seed, offset, y, mask);
  }
  void dropout_backward(const Tensor& dy, const Tensor& mask, Tensor& dx) override {
    fallback_.dropout_backward(dy, mask, dx);
  }
  void fill(Tensor& y, float v) override { fallback_.fill(y, v); }
  void add(const Tensor& a, const Tensor& b, Tensor& y) override { fallback_.add(a, b, y); }
  void scale(const Tensor& x, float a, Tensor& y) override { fallback_.scale(x, a, y); }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Broadcast& bc,
              Tensor& y) override {
    fallback_.binary(op, a, b, bc, y);
  }
  void unary(UnaryOp op, const Tensor& x, float s0, float s1, Tensor& y) override {
    fallback_.unary(op, x, s0, s1, y);
  }
  void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t extent, int64_t inner,
              Tensor& y) override {
    fallback_.reduce(op, x, outer, extent, inner, y);
  }
  void matmul(const Tensor& a, const Tensor& b, Tensor& y) override { fallback_.matmul(a, b, y); }
  void transpose2d(const Tensor& x, Tensor& y) override { fallback_.transpose2d(x, y); }
  void copy_columns(const Tensor& x, int64_t outer, int64_t offset, Tensor& y) override {
    fallback_.copy_columns(x, outer, offset, y);
  }
  void index_select(const Tensor& x, const Tensor& idx, Tensor& y) override {
    fallback_.index_select(x, idx, y);
  }
  void count_correct(const Tensor& logits, const Tensor& labels, Tensor& correct,
                     bool acc) override {
    fallback_.count_correct(logits, labels, correct, acc);
  }
  void sgd_update(Tensor& param, const Tensor& grad, Tensor* buf, const SgdParams& p,
                  const Tensor& schedule) override {
    fallback_.sgd_update(param, grad, buf, p, schedule);
  }
  void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p,
                   const Tensor& schedule) override {
    fallback_.adam_update(param, grad, m, v, p, schedule);
  }
  void schedule_step(Tensor& schedule, float lr) override { fallback_.schedule_step(schedule, lr); }

 private:
  Backend& fallback_;
};

}  // namespace convnet
