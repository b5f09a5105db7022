// Optimizer updates, in place. Hyperparameters are checked here with PyTorch's
// rules; the learning rate lives on the device (schedule) and is not read.
#include "convnet/ops.hpp"
#include "ops/checks.hpp"

namespace convnet::ops {

using namespace detail;

namespace {
void check_param_grad_schedule(const char* op, const Tensor& param, const Tensor& grad,
                               const Tensor& schedule) {
  check_tensor(op, "param", param, DType::F32);
  check_tensor(op, "grad", grad, DType::F32);
  check_tensor(op, "schedule", schedule, DType::F32, 1, "[2] = {lr, step}");
  check_shape(op, "grad", grad, param.shape(), "param");
  check_shape(op, "schedule", schedule, Shape{2}, "{lr, step}");
}
}  // namespace

void sgd_update(Backend& be, Tensor& param, const Tensor& grad, Tensor* momentum_buffer,
                const SgdParams& p, const Tensor& schedule) {
  constexpr const char* op = "sgd_update";
  check_param_grad_schedule(op, param, grad, schedule);
  CONVNET_CHECK(p.momentum >= 0.f, op, ": momentum ", p.momentum, " must not be negative");
  CONVNET_CHECK(p.weight_decay >= 0.f, op, ": weight_decay ", p.weight_decay,
                " must not be negative");
  CONVNET_CHECK(!p.nesterov || (p.momentum > 0.f && p.dampening == 0.f), op,
                ": Nesterov momentum needs momentum > 0 and zero dampening (momentum ", p.momentum,
                ", dampening ", p.dampening, ")");
  const Tensor* buffer = p.momentum != 0.f ? momentum_buffer : nullptr;
  CONVNET_CHECK(p.momentum == 0.f || buffer != nullptr, op, ": momentum ", p.momentum,
                " needs a momentum buffer shaped like param ", param.shape());
  if (buffer) {
    check_tensor(op, "momentum_buffer", *buffer, DType::F32);
    check_shape(op, "momentum_buffer", *buffer, param.shape(), "param");
  }
  check_devices(op, be, {{"param", &param}, {"grad", &grad}, {"momentum_buffer", buffer},
                         {"schedule", &schedule}});
  be.sgd_update(param, grad, p.momentum != 0.f ? momentum_buffer : nullptr, p, schedule);
}

void adam_update(Backend& be, Tensor& param, const Tensor& grad, Tensor& exp_avg,
                 Tensor& exp_avg_sq, const AdamParams& p, const Tensor& schedule) {
  constexpr const char* op = "adam_update";
  check_param_grad_schedule(op, param, grad, schedule);
  check_tensor(op, "exp_avg", exp_avg, DType::F32);
  check_tensor(op, "exp_avg_sq", exp_avg_sq, DType::F32);
  check_shape(op, "exp_avg", exp_avg, param.shape(), "param");
  check_shape(op, "exp_avg_sq", exp_avg_sq, param.shape(), "param");
  CONVNET_CHECK(p.beta1 >= 0.f && p.beta1 < 1.f && p.beta2 >= 0.f && p.beta2 < 1.f, op,
                ": betas (", p.beta1, ", ", p.beta2, ") must lie in [0, 1)");
  CONVNET_CHECK(p.eps >= 0.f, op, ": eps ", p.eps, " must not be negative");
  CONVNET_CHECK(p.weight_decay >= 0.f, op, ": weight_decay ", p.weight_decay,
                " must not be negative");
  check_devices(op, be, {{"param", &param}, {"grad", &grad}, {"exp_avg", &exp_avg},
                         {"exp_avg_sq", &exp_avg_sq}, {"schedule", &schedule}});
  be.adam_update(param, grad, exp_avg, exp_avg_sq, p, schedule);
}

void schedule_step(Backend& be, Tensor& schedule, float lr) {
  constexpr const char* op = "schedule_step";
  check_tensor(op, "schedule", schedule, DType::F32, 1, "[2] = {lr, step}");
  check_shape(op, "schedule", schedule, Shape{2}, "{lr, step}");
  CONVNET_CHECK(lr >= 0.f, op, ": learning rate ", lr, " must not be negative");
  check_devices(op, be, {{"schedule", &schedule}});
  be.schedule_step(schedule, lr);
}

}  // namespace convnet::ops
