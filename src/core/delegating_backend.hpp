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
    guarded()->conv2d_forward(x, w, b, p, y);
  }
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p,
                            Tensor& dx) override {
    guarded()->conv2d_backward_data(dy, w, p, dx);
  }
  void conv2d_backward_filter(const Tensor& x, const Tensor& dy, const Conv2dParams& p,
                              Tensor& dw, bool acc) override {
    guarded()->conv2d_backward_filter(x, dy, p, dw, acc);
  }
  void conv2d_bias_relu_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                                const Conv2dParams& p, Tensor& y) override {
    guarded()->conv2d_bias_relu_forward(x, w, b, p, y);
  }
  void bias_backward(const Tensor& dy, Tensor& db, bool acc) override {
    guarded()->bias_backward(dy, db, acc);
  }
  void pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor* idx) override {
    guarded()->pool2d_forward(x, p, y, idx);
  }
  void pool2d_backward(const Tensor& x, const Tensor& dy, const Tensor* idx, const Pool2dParams& p,
                       Tensor& dx) override {
    guarded()->pool2d_backward(x, dy, idx, p, dx);
  }
  void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) override {
    guarded()->adaptive_avg_pool2d_forward(x, y);
  }
  void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) override {
    guarded()->adaptive_avg_pool2d_backward(dy, dx);
  }
  void batch_norm_forward_train(const Tensor& x, const Tensor* w, const Tensor* b,
                                Tensor* running_mean, Tensor* running_var, float momentum,
                                float eps, bool relu, Tensor& y, Tensor& save_mean,
                                Tensor& save_invstd) override {
    guarded()->batch_norm_forward_train(x, w, b, running_mean, running_var, momentum, eps, relu, y,
                                       save_mean, save_invstd);
  }
  void batch_norm_forward_inference(const Tensor& x, const Tensor* w, const Tensor* b,
                                    const Tensor& mean, const Tensor& var, float eps, bool relu,
                                    Tensor& y) override {
    guarded()->batch_norm_forward_inference(x, w, b, mean, var, eps, relu, y);
  }
  void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* w,
                           const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                           Tensor* dw, Tensor* db, bool acc) override {
    guarded()->batch_norm_backward(x, dy, w, save_mean, save_invstd, dx, dw, db, acc);
  }
  void activation_forward(Activation a, float alpha, const Tensor& x, Tensor& y) override {
    guarded()->activation_forward(a, alpha, x, y);
  }
  void activation_backward(Activation a, float alpha, const Tensor& x, const Tensor& y,
                           const Tensor& dy, Tensor& dx) override {
    guarded()->activation_backward(a, alpha, x, y, dy, dx);
  }
  void softmax_forward(const Tensor& x, Tensor& y, bool log) override {
    guarded()->softmax_forward(x, y, log);
  }
  void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx, bool log) override {
    guarded()->softmax_backward(y, dy, dx, log);
  }
  void linear_forward(const Tensor& x, const Tensor& w, const Tensor* b, Tensor& y) override {
    guarded()->linear_forward(x, w, b, y);
  }
  void linear_bias_relu_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                                Tensor& y) override {
    guarded()->linear_bias_relu_forward(x, w, b, y);
  }
  void linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) override {
    guarded()->linear_backward_data(dy, w, dx);
  }
  void linear_backward_weight(const Tensor& x, const Tensor& dy, Tensor& dw, bool acc) override {
    guarded()->linear_backward_weight(x, dy, dw, acc);
  }
  void softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels, float smoothing,
                                     Tensor& loss, Tensor& probs) override {
    guarded()->softmax_cross_entropy_forward(logits, labels, smoothing, loss, probs);
  }
  void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels, float smoothing,
                                      float scale, Tensor& grad) override {
    guarded()->softmax_cross_entropy_backward(probs, labels, smoothing, scale, grad);
  }
  void mse_forward(const Tensor& a, const Tensor& t, Tensor& loss) override {
    guarded()->mse_forward(a, t, loss);
  }
  void mse_backward(const Tensor& a, const Tensor& t, float s, Tensor& g) override {
    guarded()->mse_backward(a, t, s, g);
  }
  void bce_with_logits_forward(const Tensor& a, const Tensor& t, Tensor& loss) override {
    guarded()->bce_with_logits_forward(a, t, loss);
  }
  void bce_with_logits_backward(const Tensor& a, const Tensor& t, float s, Tensor& g) override {
    guarded()->bce_with_logits_backward(a, t, s, g);
  }
  void hinge_forward(const Tensor& a, const Tensor& t, float m, Tensor& loss) override {
    guarded()->hinge_forward(a, t, m, loss);
  }
  void hinge_backward(const Tensor& a, const Tensor& t, float m, float s, Tensor& g) override {
    guarded()->hinge_backward(a, t, m, s, g);
  }
  void dropout_forward(const Tensor& x, float p, uint64_t seed, uint64_t offset, Tensor& y,
                       Tensor& mask) override {
    guarded()->dropout_forward(x, p, seed, offset, y, mask);
  }
  void dropout_backward(const Tensor& dy, const Tensor& mask, Tensor& dx) override {
    guarded()->dropout_backward(dy, mask, dx);
  }
  void fill(Tensor& y, float v) override { guarded()->fill(y, v); }
  void add(const Tensor& a, const Tensor& b, Tensor& y) override { guarded()->add(a, b, y); }
  void scale(const Tensor& x, float a, Tensor& y) override { guarded()->scale(x, a, y); }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Broadcast& bc,
              Tensor& y) override {
    guarded()->binary(op, a, b, bc, y);
  }
  void unary(UnaryOp op, const Tensor& x, float s0, float s1, Tensor& y) override {
    guarded()->unary(op, x, s0, s1, y);
  }
  void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t extent, int64_t inner,
              Tensor& y) override {
    guarded()->reduce(op, x, outer, extent, inner, y);
  }
  void matmul(const Tensor& a, const Tensor& b, Tensor& y) override { guarded()->matmul(a, b, y); }
  void transpose2d(const Tensor& x, Tensor& y) override { guarded()->transpose2d(x, y); }
  void copy_columns(const Tensor& x, int64_t outer, int64_t offset, Tensor& y) override {
    guarded()->copy_columns(x, outer, offset, y);
  }
  void index_select(const Tensor& x, const Tensor& idx, Tensor& y) override {
    guarded()->index_select(x, idx, y);
  }
  void count_correct(const Tensor& logits, const Tensor& labels, Tensor& correct,
                     bool acc) override {
    guarded()->count_correct(logits, labels, correct, acc);
  }
  void sgd_update(Tensor& param, const Tensor& grad, Tensor* buf, const SgdParams& p,
                  const Tensor& schedule) override {
    guarded()->sgd_update(param, grad, buf, p, schedule);
  }
  void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamParams& p,
                   const Tensor& schedule) override {
    guarded()->adam_update(param, grad, m, v, p, schedule);
  }
  void schedule_step(Tensor& schedule, float lr) override { guarded()->schedule_step(schedule, lr); }

 protected:
  // Around every call handed to the fallback: the oneDNN backend keeps the CPU
  // reference's thread pool out of the cores OpenMP holds (onednn_backend.cpp).
  virtual void enter_fallback() {}
  virtual void leave_fallback() {}

  // guarded()->op(...) runs op on the fallback between enter_fallback() and
  // leave_fallback() (the temporary lives until the end of the full expression,
  // so also when op throws).
  class Guard {
   public:
    explicit Guard(DelegatingBackend& owner) : owner_(owner) { owner_.enter_fallback(); }
    ~Guard() { owner_.leave_fallback(); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Backend* operator->() const { return &owner_.fallback_; }

   private:
    DelegatingBackend& owner_;
  };
  Guard guarded() { return Guard(*this); }

 private:
  Backend& fallback_;
};

}  // namespace convnet
