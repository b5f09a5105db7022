// The CPU operations outside GEMM give the same bits under 1, 2, 3 and 7
// threads: pooling (planes over the cores), activations (chunks over the
// cores), and the serial ones (softmax, losses, dropout, metrics, elementwise,
// optimizer updates), which this keeps serial-equivalent if they are ever
// parallelised. Tensors hold more than two elementwise chunks (65,536 floats
// each), so the chunked loops really split.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "determinism/op_thread_count.hpp"

namespace convnet::test {
namespace {

Backend& cpu() { return get_backend(Backend::Kind::Cpu); }

const Shape kLarge = {3, 5, 100, 100};  // 150,000 elements: three chunks

Tensor labels_for(int64_t rows, int64_t classes) {
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) labels[size_t(i)] = static_cast<int32_t>((i * 7) % classes);
  return Tensor::from_vector(labels, {rows});
}

TEST(CpuThreadCountDeterminism, Pool2d) {
  Pool2dParams max_pool;  // 2x2, stride 2
  Pool2dParams avg_pool;
  avg_pool.mode = PoolMode::AvgIncludePad;
  avg_pool.kernel_h = avg_pool.kernel_w = 3;
  avg_pool.pad_h = avg_pool.pad_w = 1;
  Pool2dParams avg_exclude = avg_pool;
  avg_exclude.mode = PoolMode::AvgExcludePad;
  const Tensor input = Tensor::randn({8, 16, 20, 20}, Device::cpu(), 1);
  for (const auto& [name, params] : {std::pair{"max", max_pool}, std::pair{"avg", avg_pool},
                                     std::pair{"avg exclude pad", avg_exclude}}) {
    // Structured bindings are captured by init-capture: clang before 16 cannot capture them.
    expect_same_bits_across_thread_counts(std::string("pool2d ") + name, [&, &params = params] {
      Tensor argmax;
      const Tensor output = ops::pool2d_forward(cpu(), input, params, &argmax);
      const Tensor grad_output = Tensor::randn(output.shape(), Device::cpu(), 2);
      std::vector<Tensor> outputs = {
          output, ops::pool2d_backward(cpu(), input, grad_output,
                                       argmax.defined() ? &argmax : nullptr, params)};
      if (argmax.defined()) outputs.push_back(argmax);
      return outputs;
    });
  }
}

TEST(CpuThreadCountDeterminism, Activations) {
  const Tensor input = Tensor::randn(kLarge, Device::cpu(), 1);
  const Tensor grad_output = Tensor::randn(kLarge, Device::cpu(), 2);
  for (const auto& [name, activation] :
       {std::pair{"relu", Activation::ReLU}, std::pair{"leaky relu", Activation::LeakyReLU},
        std::pair{"sigmoid", Activation::Sigmoid}, std::pair{"tanh", Activation::Tanh}}) {
    expect_same_bits_across_thread_counts(name, [&, &activation = activation] {
      const Tensor output = ops::activation_forward(cpu(), activation, 0.1f, input);
      return std::vector<Tensor>{
          output, ops::activation_backward(cpu(), activation, 0.1f, input, output, grad_output)};
    });
  }
}

TEST(CpuThreadCountDeterminism, SoftmaxAndLosses) {
  const Tensor spatial = Tensor::randn({16, 10, 4, 4}, Device::cpu(), 1);
  const Tensor grad_spatial = Tensor::randn(spatial.shape(), Device::cpu(), 2);
  expect_same_bits_across_thread_counts("softmax / log_softmax", [&] {
    const Tensor soft = ops::softmax_forward(cpu(), spatial);
    const Tensor log_soft = ops::log_softmax_forward(cpu(), spatial);
    return std::vector<Tensor>{soft, ops::softmax_backward(cpu(), soft, grad_spatial), log_soft,
                               ops::log_softmax_backward(cpu(), log_soft, grad_spatial)};
  });

  const Tensor logits = Tensor::randn({3000, 10}, Device::cpu(), 3);
  const Tensor labels = labels_for(3000, 10);
  const Tensor target = Tensor::rand(logits.shape(), Device::cpu(), 4);
  expect_same_bits_across_thread_counts("cross-entropy", [&] {
    Tensor probs;
    const Tensor loss = ops::softmax_cross_entropy_forward(cpu(), logits, labels, probs);
    return std::vector<Tensor>{loss, probs,
                               ops::softmax_cross_entropy_backward(cpu(), probs, labels, 0.5f)};
  });
  expect_same_bits_across_thread_counts("mse, bce with logits, hinge", [&] {
    return std::vector<Tensor>{ops::mse_forward(cpu(), logits, target),
                               ops::mse_backward(cpu(), logits, target),
                               ops::bce_with_logits_forward(cpu(), logits, target),
                               ops::bce_with_logits_backward(cpu(), logits, target),
                               ops::hinge_forward(cpu(), logits, target, 1.f),
                               ops::hinge_backward(cpu(), logits, target, 1.f)};
  });
  expect_same_bits_across_thread_counts("count_correct", [&] {
    Tensor correct = Tensor::zeros({1}, Device::cpu(), DType::I32);
    ops::count_correct(cpu(), logits, labels, correct, false);
    return std::vector<Tensor>{correct};
  });
}

TEST(CpuThreadCountDeterminism, DropoutAndElementwise) {
  const Tensor input = Tensor::randn(kLarge, Device::cpu(), 1);
  const Tensor other = Tensor::randn(kLarge, Device::cpu(), 2);
  expect_same_bits_across_thread_counts("dropout", [&] {
    Tensor mask;
    const Tensor output = ops::dropout_forward(cpu(), input, 0.3f, 42, 7, mask);
    return std::vector<Tensor>{output, mask, ops::dropout_backward(cpu(), other, mask)};
  });
  expect_same_bits_across_thread_counts("add, scale, fill", [&] {
    Tensor filled = Tensor::empty(kLarge);
    ops::fill(cpu(), filled, 0.25f);
    return std::vector<Tensor>{ops::add(cpu(), input, other), ops::scale(cpu(), input, 0.3f),
                               filled};
  });
}

// Two steps each, so the second reads state the first wrote.
TEST(CpuThreadCountDeterminism, OptimizerUpdates) {
  const Tensor start = Tensor::randn(kLarge, Device::cpu(), 1);
  const Tensor grad = Tensor::randn(kLarge, Device::cpu(), 2);
  SgdParams sgd;
  sgd.momentum = 0.9f;
  sgd.weight_decay = 1e-3f;
  sgd.nesterov = true;
  expect_same_bits_across_thread_counts("sgd_update", [&] {
    Tensor param = start.clone(), buffer = Tensor::zeros(kLarge);
    Tensor schedule = Tensor::from_vector(std::vector<float>{0.05f, 0.f}, {2});
    for (int step = 0; step < 2; ++step) {
      ops::schedule_step(cpu(), schedule, 0.05f);
      ops::sgd_update(cpu(), param, grad, &buffer, sgd, schedule);
    }
    return std::vector<Tensor>{param, buffer};
  });
  for (bool decoupled : {false, true}) {
    AdamParams adam;
    adam.weight_decay = 1e-2f;
    adam.decoupled_weight_decay = decoupled;
    expect_same_bits_across_thread_counts(decoupled ? "adamw_update" : "adam_update", [&] {
      Tensor param = start.clone(), m = Tensor::zeros(kLarge), v = Tensor::zeros(kLarge);
      Tensor schedule = Tensor::from_vector(std::vector<float>{1e-3f, 0.f}, {2});
      for (int step = 0; step < 2; ++step) {
        ops::schedule_step(cpu(), schedule, 1e-3f);
        ops::adam_update(cpu(), param, grad, m, v, adam, schedule);
      }
      return std::vector<Tensor>{param, m, v};
    });
  }
}

}  // namespace
}  // namespace convnet::test
