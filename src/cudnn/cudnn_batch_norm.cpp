// CudnnBackend's batch normalization: each call takes the route of
// batch_norm_route.hpp (the requested graph, the plain graph + our ReLU kernel,
// or our kernels) and fills in what the graphs do not do themselves:
//   - affine = false: the graphs always take a scale and a bias, so they get a
//     [C] tensor of ones and one of zeros, made once per (device, C);
//   - running stats: the node writes the next running mean/var to separate
//     outputs (cuDNN's graph tensors are not in-place), so into scratch, then
//     copied over the caller's (a [C] copy each);
//   - inference: the node takes the inverse standard deviation, so
//     1 / sqrt(var + eps) is computed into scratch first (three [C] launches);
//   - accumulate: cuDNN graphs have no beta, so dscale/dbias go to scratch and
//     are added to the caller's gradients.
// All of it on the output device's context stream, as every other call.
#include <string>
#include <vector>

#include "cuda/context.hpp"
#include "cuda/launch_scope.hpp"
#include "cudnn/cudnn_backend.hpp"
#include "cudnn/plan_cache.hpp"
#include "kernels/kernels.hpp"

namespace convnet::cudnn {
namespace {

void* ptr(const Tensor& t) { return t.raw_data(); }
const void* ptr_or_null(const Tensor* t) { return t ? t->raw_data() : nullptr; }

BnKey make_key(BnOp op, const BnShape& s, int device, bool running, float eps, float momentum,
               std::initializer_list<const void*> data, std::initializer_list<const void*> channel) {
  const bool train = op == BnOp::Train || op == BnOp::TrainRelu;
  BnKey key;
  key.op = op;
  key.n = s.n;
  key.c = s.c;
  key.h = s.h;
  key.w = s.w;
  key.running_stats = train && running;
  // Only the training node holds eps and momentum; inference gets eps through
  // the inverse std we compute, backward through the saved inverse std.
  key.eps_bits = train ? float_bits(eps) : 0;
  key.momentum_bits = key.running_stats ? float_bits(momentum) : 0;
  key.math = math_mode();
  key.device = device;
  key.align_data = alignment_of(data);
  key.align_channel = alignment_of(channel);
  return key;
}

// y = max(y, 0) in place: the epilogue kernel the conv route uses, without a bias.
void relu_in_place(Tensor& y, const BnShape& s) {
  cuda::LaunchScope on(y);
  kernels::bias_activation_nchw_f32(y.data<float>(), nullptr, s.n, s.c, s.h * s.w, /*relu=*/true,
                                    on.stream());
}

}  // namespace

BnRouteCounts CudnnBackend::bn_routes() const {
  std::lock_guard<std::mutex> lock(bn_routes_mutex_);
  return bn_routes_;
}

const Tensor& CudnnBackend::channel_constant(int device, int64_t channels, float value) {
  std::lock_guard<std::mutex> lock(constants_mutex_);
  const auto key = std::make_tuple(device, channels, value == 1.f);
  auto it = constants_->find(key);
  if (it == constants_->end()) {
    Tensor t = Tensor::empty({channels}, Device::cuda(device));
    cuda_.fill(t, value);
    it = constants_->emplace(key, std::move(t)).first;
  }
  return it->second;
}

bool CudnnBackend::run_bn(const BnKey& key, const BnOperands& operands, std::string& reason) {
  cuda::DeviceGuard guard(key.device);
  cuda::Context& ctx = cuda::context(key.device);
  return bn_graphs_.run(handle(key.device), ctx.stream(), key, operands,
                        [&ctx](size_t bytes) { return ctx.workspace(bytes); }, reason);
}

void CudnnBackend::batch_norm_forward_train(const Tensor& input, const Tensor* weight,
                                            const Tensor* bias, Tensor* running_mean,
                                            Tensor* running_var, float momentum, float eps,
                                            bool relu, Tensor& output, Tensor& save_mean,
                                            Tensor& save_invstd) {
  BnShape shape;
  const std::string precheck = bn_precheck(deterministic(), input.shape().dims(), shape);
  const int device = output.device().index;
  const bool running = running_mean && running_var;
  Tensor next_mean, next_var;  // the node's running-stat outputs, made once a plan exists
  auto try_graph = [&](BnOp op, std::string& reason) {
    BnOperands o;
    o.x = ptr(input);
    o.y = ptr(output);
    o.scale = ptr(weight ? *weight : channel_constant(device, shape.c, 1.f));
    o.bias = ptr(bias ? *bias : channel_constant(device, shape.c, 0.f));
    o.mean = ptr(save_mean);
    o.invstd = ptr(save_invstd);
    if (running) {
      o.prev_mean = ptr(*running_mean);
      o.prev_var = ptr(*running_var);
    }
    const BnKey key = make_key(op, shape, device, running, eps, momentum, {o.x, o.y},
                               {o.scale, o.bias, o.mean, o.invstd, o.prev_mean, o.prev_var});
    if (!bn_graphs_.prepare(handle(device), key, reason)) return false;
    if (running && !next_mean.defined()) {
      next_mean = Tensor::empty({shape.c}, output.device());
      next_var = Tensor::empty({shape.c}, output.device());
    }
    if (running) {
      o.next_mean = ptr(next_mean);
      o.next_var = ptr(next_var);
    }
    return run_bn(key, o, reason);
  };
  BnRoute route;
  {
    std::lock_guard<std::mutex> lock(bn_routes_mutex_);
    route = take_bn_route(relu ? BnOp::TrainRelu : BnOp::Train, precheck, try_graph, bn_routes_);
  }
  if (route == BnRoute::Cuda) {
    cuda_.batch_norm_forward_train(input, weight, bias, running_mean, running_var, momentum, eps,
                                   relu, output, save_mean, save_invstd);
    return;
  }
  if (route == BnRoute::GraphRelu) relu_in_place(output, shape);
  if (running) {
    cuda_.scale(next_mean, 1.f, *running_mean);
    cuda_.scale(next_var, 1.f, *running_var);
  }
}

void CudnnBackend::batch_norm_forward_inference(const Tensor& input, const Tensor* weight,
                                                const Tensor* bias, const Tensor& mean,
                                                const Tensor& var, float eps, bool relu,
                                                Tensor& output) {
  BnShape shape;
  const std::string precheck = bn_precheck(deterministic(), input.shape().dims(), shape);
  const int device = output.device().index;
  Tensor invstd;  // 1 / sqrt(var + eps), made once a plan exists
  auto try_graph = [&](BnOp op, std::string& reason) {
    BnOperands o;
    o.x = ptr(input);
    o.y = ptr(output);
    o.scale = ptr(weight ? *weight : channel_constant(device, shape.c, 1.f));
    o.bias = ptr(bias ? *bias : channel_constant(device, shape.c, 0.f));
    o.mean = ptr(mean);
    const BnKey key =
        make_key(op, shape, device, false, eps, 0.f, {o.x, o.y}, {o.scale, o.bias, o.mean});
    if (!bn_graphs_.prepare(handle(device), key, reason)) return false;
    if (!invstd.defined()) {
      invstd = Tensor::empty(var.shape(), var.device());
      cuda_.unary(UnaryOp::AddScalar, var, eps, 0.f, invstd);
      cuda_.unary(UnaryOp::Sqrt, invstd, 0.f, 0.f, invstd);
      cuda_.unary(UnaryOp::RDivScalar, invstd, 1.f, 0.f, invstd);
    }
    o.invstd = ptr(invstd);
    return run_bn(key, o, reason);
  };
  BnRoute route;
  {
    std::lock_guard<std::mutex> lock(bn_routes_mutex_);
    route = take_bn_route(relu ? BnOp::InferenceRelu : BnOp::Inference, precheck, try_graph,
                          bn_routes_);
  }
  if (route == BnRoute::Cuda)
    cuda_.batch_norm_forward_inference(input, weight, bias, mean, var, eps, relu, output);
  else if (route == BnRoute::GraphRelu)
    relu_in_place(output, shape);
}

void CudnnBackend::batch_norm_backward(const Tensor& input, const Tensor& grad_output,
                                       const Tensor* weight, const Tensor& save_mean,
                                       const Tensor& save_invstd, Tensor& grad_input,
                                       Tensor* grad_weight, Tensor* grad_bias, bool accumulate) {
  BnShape shape;
  const std::string precheck = bn_precheck(deterministic(), input.shape().dims(), shape);
  const int device = grad_input.device().index;
  // Where dscale/dbias go when not straight into the caller's gradients: no
  // gradient wanted (affine = false), or one to add to (accumulate).
  Tensor dscale_scratch, dbias_scratch;
  auto try_graph = [&](BnOp op, std::string& reason) {
    BnOperands o;
    o.dy = ptr(grad_output);
    o.x = ptr(input);
    o.dx = ptr(grad_input);
    o.scale = ptr(weight ? *weight : channel_constant(device, shape.c, 1.f));
    o.mean = ptr(save_mean);
    o.invstd = ptr(save_invstd);
    const BnKey key =
        make_key(op, shape, device, false, 0.f, 0.f, {o.dy, o.x, o.dx},
                 {o.scale, o.mean, o.invstd, ptr_or_null(grad_weight), ptr_or_null(grad_bias)});
    if (!bn_graphs_.prepare(handle(device), key, reason)) return false;
    if (!grad_weight || accumulate) {
      if (!dscale_scratch.defined()) dscale_scratch = Tensor::empty({shape.c}, grad_input.device());
      o.dscale = ptr(dscale_scratch);
    } else {
      o.dscale = ptr(*grad_weight);
    }
    if (!grad_bias || accumulate) {
      if (!dbias_scratch.defined()) dbias_scratch = Tensor::empty({shape.c}, grad_input.device());
      o.dbias = ptr(dbias_scratch);
    } else {
      o.dbias = ptr(*grad_bias);
    }
    return run_bn(key, o, reason);
  };
  BnRoute route;
  {
    std::lock_guard<std::mutex> lock(bn_routes_mutex_);
    route = take_bn_route(BnOp::Backward, precheck, try_graph, bn_routes_);
  }
  if (route == BnRoute::Cuda) {
    cuda_.batch_norm_backward(input, grad_output, weight, save_mean, save_invstd, grad_input,
                              grad_weight, grad_bias, accumulate);
    return;
  }
  if (accumulate && grad_weight) cuda_.add(*grad_weight, dscale_scratch, *grad_weight);
  if (accumulate && grad_bias) cuda_.add(*grad_bias, dbias_scratch, *grad_bias);
}

}  // namespace convnet::cudnn
