// Pointwise and per-row ops: activations, softmax, dropout, elementwise
// arithmetic and the accuracy counter. Validate once, allocate, dispatch.
#include "convnet/ops.hpp"
#include "ops/checks.hpp"

namespace convnet::ops {

using namespace detail;

Tensor activation_forward(Backend& be, Activation a, float alpha, const Tensor& input) {
  constexpr const char* op = "activation_forward";
  check_tensor(op, "input", input, DType::F32);
  check_devices(op, be, {{"input", &input}});
  Tensor output = Tensor::empty(input.shape(), input.device());
  be.activation_forward(a, alpha, input, output);
  return output;
}

Tensor activation_backward(Backend& be, Activation a, float alpha, const Tensor& input,
                           const Tensor& output, const Tensor& grad_output) {
  constexpr const char* op = "activation_backward";
  // Both are required although each activation reads only one: cuDNN takes both.
  check_tensor(op, "input", input, DType::F32);
  check_tensor(op, "output", output, DType::F32);
  check_tensor(op, "grad_output", grad_output, DType::F32);
  check_devices(op, be, {{"input", &input}, {"output", &output}, {"grad_output", &grad_output}});
  check_shape(op, "output", output, input.shape(), "input");
  check_shape(op, "grad_output", grad_output, input.shape(), "input");
  Tensor grad_input = Tensor::empty(input.shape(), input.device());
  be.activation_backward(a, alpha, input, output, grad_output, grad_input);
  return grad_input;
}

namespace {
Tensor softmax_forward_impl(Backend& be, const Tensor& input, bool log) {
  constexpr const char* op = "softmax_forward";
  check_tensor(op, "input", input, DType::F32);
  check_min_rank(op, "input", input, 2);  // softmax runs over dimension 1
  check_devices(op, be, {{"input", &input}});
  Tensor output = Tensor::empty(input.shape(), input.device());
  be.softmax_forward(input, output, log);
  return output;
}

Tensor softmax_backward_impl(Backend& be, const Tensor& output, const Tensor& grad_output,
                             bool log) {
  constexpr const char* op = "softmax_backward";
  check_tensor(op, "output", output, DType::F32);
  check_min_rank(op, "output", output, 2);
  check_tensor(op, "grad_output", grad_output, DType::F32);
  check_devices(op, be, {{"output", &output}, {"grad_output", &grad_output}});
  check_shape(op, "grad_output", grad_output, output.shape(), "output");
  Tensor grad_input = Tensor::empty(output.shape(), output.device());
  be.softmax_backward(output, grad_output, grad_input, log);
  return grad_input;
}
}  // namespace

Tensor softmax_forward(Backend& be, const Tensor& input) {
  return softmax_forward_impl(be, input, false);
}
Tensor softmax_backward(Backend& be, const Tensor& output, const Tensor& grad_output) {
  return softmax_backward_impl(be, output, grad_output, false);
}
Tensor log_softmax_forward(Backend& be, const Tensor& input) {
  return softmax_forward_impl(be, input, true);
}
Tensor log_softmax_backward(Backend& be, const Tensor& output, const Tensor& grad_output) {
  return softmax_backward_impl(be, output, grad_output, true);
}

Tensor dropout_forward(Backend& be, const Tensor& input, float p, uint64_t seed, uint64_t offset,
                       Tensor& mask) {
  constexpr const char* op = "dropout_forward";
  check_tensor(op, "input", input, DType::F32);
  check_devices(op, be, {{"input", &input}});
  CONVNET_CHECK(p >= 0.f && p < 1.f, op, ": p = ", p, " must be in [0, 1)");
  Tensor output = Tensor::empty(input.shape(), input.device());
  mask = Tensor::empty(input.shape(), input.device());
  be.dropout_forward(input, p, seed, offset, output, mask);
  return output;
}

Tensor dropout_backward(Backend& be, const Tensor& grad_output, const Tensor& mask) {
  constexpr const char* op = "dropout_backward";
  check_tensor(op, "grad_output", grad_output, DType::F32);
  check_tensor(op, "mask", mask, DType::F32);
  check_devices(op, be, {{"grad_output", &grad_output}, {"mask", &mask}});
  check_shape(op, "grad_output", grad_output, mask.shape(), "mask");
  Tensor grad_input = Tensor::empty(grad_output.shape(), grad_output.device());
  be.dropout_backward(grad_output, mask, grad_input);
  return grad_input;
}

void fill(Backend& be, Tensor& output, float value) {
  constexpr const char* op = "fill";
  check_tensor(op, "output", output, DType::F32);
  check_devices(op, be, {{"output", &output}});
  be.fill(output, value);
}

namespace {
void check_binary(const char* op, Backend& be, const Tensor& a, const Tensor& b) {
  check_tensor(op, "a", a, DType::F32);
  check_tensor(op, "b", b, DType::F32);
  check_devices(op, be, {{"a", &a}, {"b", &b}});
  check_shape(op, "b", b, a.shape(), "a");
}
}  // namespace

Tensor add(Backend& be, const Tensor& a, const Tensor& b) {
  check_binary("add", be, a, b);
  Tensor output = Tensor::empty(a.shape(), a.device());
  be.add(a, b, output);
  return output;
}

void add_(Backend& be, Tensor& a, const Tensor& b) {
  check_binary("add_", be, a, b);
  be.add(a, b, a);  // the backend contract allows the output to alias an input
}

Tensor scale(Backend& be, const Tensor& input, float alpha) {
  constexpr const char* op = "scale";
  check_tensor(op, "input", input, DType::F32);
  check_devices(op, be, {{"input", &input}});
  Tensor output = Tensor::empty(input.shape(), input.device());
  be.scale(input, alpha, output);
  return output;
}

void count_correct(Backend& be, const Tensor& logits, const Tensor& labels, Tensor& correct,
                   bool accumulate) {
  constexpr const char* op = "count_correct";
  check_tensor(op, "logits", logits, DType::F32, 2, "[N, C]");
  check_tensor(op, "labels", labels, DType::I32, 1, "[N]");
  check_devices(op, be, {{"logits", &logits}, {"labels", &labels}});
  // A fresh count needs no counter from the caller.
  if (!correct.defined() && !accumulate) correct = Tensor::empty({1}, logits.device(), DType::I32);
  check_tensor(op, "correct", correct, DType::I32, 1, "[1]");
  check_devices(op, be, {{"logits", &logits}, {"correct", &correct}});
  check_scores_and_labels(op, "logits", logits, labels);
  check_shape(op, "correct", correct, Shape{1}, "the one-element counter");
  be.count_correct(logits, labels, correct, accumulate);
}

}  // namespace convnet::ops
