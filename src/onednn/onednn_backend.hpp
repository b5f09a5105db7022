// OneDnnBackend: CPU tensors on Intel's oneDNN (Debian's libdnnl, 2.6, OpenMP
// runtime). It derives from DelegatingBackend over the CPU reference and
// overrides what oneDNN accelerates; everything else, and any shape oneDNN has
// no primitive for, runs on the reference, and path() says which ran and why.
//
// Layouts: our tensors stay plain NCHW / OIHW at the API. A primitive may prefer
// blocked layouts (nChw16c, OIhw16i16o, ...); the operands are then reordered
// into scratch buffers that belong to the cached primitive, on every call, the
// weights included. So a blocked copy of the weights never outlives the call that
// made it, and changing the weights in place (an optimizer step, a load) can
// never leave a stale copy behind: there is nothing to invalidate.
//
// Primitives are cached per problem (operation, shapes, parameters) in an LRU
// of CONVNET_ONEDNN_CACHE entries (default 256) per operation family, like the
// cuDNN plan cache.
#pragma once

#include <memory>
#include <string>

#include "convnet/backend.hpp"
#include "core/delegating_backend.hpp"
#include "onednn/route_log.hpp"

namespace convnet::onednn {

struct ConvEntry;  // onednn_conv.cpp
struct NormEntry;  // onednn_norm.cpp
struct PoolEntry;  // onednn_pool.cpp
struct MatmulEntry;   // onednn_linear.cpp
struct SoftmaxEntry;  // onednn_softmax.cpp
template <typename Entry> class PrimitiveCache;

class OneDnnBackend final : public DelegatingBackend {
 public:
  explicit OneDnnBackend(Backend& reference);
  ~OneDnnBackend() override;
  Kind kind() const override { return Kind::OneDnn; }
  Device::Type device_type() const override { return Device::Type::Cpu; }
  std::string path(Op op) const override;

  // ---- convolution (onednn_conv.cpp): bias in the primitive, the ReLU ours
  void conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                      const Conv2dParams& p, Tensor& output) override;
  void conv2d_bias_relu_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                const Conv2dParams& p, Tensor& output) override;
  void conv2d_backward_data(const Tensor& grad_output, const Tensor& weight,
                            const Conv2dParams& p, Tensor& grad_input) override;
  void conv2d_backward_filter(const Tensor& input, const Tensor& grad_output,
                              const Conv2dParams& p, Tensor& grad_weight,
                              bool accumulate) override;

  // ---- batch normalization (onednn_norm.cpp): the ReLU ours
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

  // ---- pooling (onednn_pool.cpp): average only; max stays on the reference
  void pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& output,
                      Tensor* argmax) override;
  void pool2d_backward(const Tensor& input, const Tensor& grad_output, const Tensor* argmax,
                       const Pool2dParams& p, Tensor& grad_input) override;

  // ---- linear (onednn_linear.cpp): matmul, the ReLU ours
  void linear_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                      Tensor& output) override;
  void linear_bias_relu_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                Tensor& output) override;
  void linear_backward_data(const Tensor& grad_output, const Tensor& weight,
                            Tensor& grad_input) override;
  void linear_backward_weight(const Tensor& input, const Tensor& grad_output,
                              Tensor& grad_weight, bool accumulate) override;

  // ---- softmax and log-softmax over dimension 1 (onednn_softmax.cpp)
  void softmax_forward(const Tensor& input, Tensor& output, bool log) override;
  void softmax_backward(const Tensor& output, const Tensor& grad_output, Tensor& grad_input,
                        bool log) override;

  // Test hooks: primitives held, and the LRU's bound (returns the previous one).
  size_t cached_primitives() const;
  size_t set_cache_capacity(size_t capacity);
  // Forgets what path() reports (tests).
  void clear_routes() { routes_.clear(); }
  // Test hook: every primitive creation fails as a oneDNN refusal would, so the
  // fallback runs on a machine whose oneDNN accepts everything. Returns the
  // previous setting.
  static bool set_refuse_all(bool refuse);

 protected:
  // The reference runs what this backend hands it on oneDNN's OpenMP team
  // (omp_team.hpp), not on our pool: after each oneDNN call OpenMP's workers
  // spin on the other cores for a few milliseconds, and a worker of our pool
  // queued behind one of them stalled whole training steps (4x slower,
  // bench/NOTES.md); run serially, the loops left those workers idle.
  void enter_fallback() override;
  void leave_fallback() override;

 private:
  void conv_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                    const Conv2dParams& p, bool relu, Tensor& output);
  void linear(const Tensor& input, const Tensor& weight, const Tensor* bias, bool relu,
              Tensor& output);

  RouteLog routes_;
  std::unique_ptr<PrimitiveCache<ConvEntry>> conv_cache_;
  std::unique_ptr<PrimitiveCache<NormEntry>> norm_cache_;
  std::unique_ptr<PrimitiveCache<PoolEntry>> pool_cache_;
  std::unique_ptr<PrimitiveCache<MatmulEntry>> matmul_cache_;
  std::unique_ptr<PrimitiveCache<SoftmaxEntry>> softmax_cache_;
};

}  // namespace convnet::onednn
