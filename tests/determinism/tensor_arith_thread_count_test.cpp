// Tensor arithmetic gives the same bits run to run and under 1, 2, 3 and 7
// threads: each reduction output is summed by one thread in index order, and
// the elementwise ops split into chunks that do not change any element's value.
// Tensors hold more than two elementwise chunks, so the chunked loops split.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "determinism/op_thread_count.hpp"

namespace convnet::test {
namespace {

const Shape kLarge = {3, 5, 100, 100};  // 150,000 elements

TEST(CpuThreadCountDeterminism, Reductions) {
  const Tensor x = Tensor::randn(kLarge, Device::cpu(), 1);
  for (int dim : {0, 1, 3}) {
    expect_same_bits_across_thread_counts("reductions over dim " + std::to_string(dim), [&] {
      return std::vector<Tensor>{sum(x, dim),  mean(x, dim),  max(x, dim),   min(x, dim),
                                 norm(x, dim), argmax(x, dim), argmin(x, dim)};
    });
  }
  expect_same_bits_across_thread_counts("reductions over everything", [&] {
    return std::vector<Tensor>{sum(x), mean(x), max(x), min(x), norm(x), argmax(x), argmin(x)};
  });
}

TEST(CpuThreadCountDeterminism, ReductionsRunToRun) {
  const Tensor x = Tensor::randn({1000, 301}, Device::cpu(), 3);
  const std::vector<uint32_t> first = bits_of(sum(x)), first_rows = bits_of(norm(x, 1));
  for (int run = 0; run < 3; ++run) {
    EXPECT_TRUE(bit_identical(first, bits_of(sum(x)))) << "run " << run;
    EXPECT_TRUE(bit_identical(first_rows, bits_of(norm(x, 1)))) << "run " << run;
  }
}

TEST(CpuThreadCountDeterminism, ElementwiseAndMovement) {
  const Tensor a = Tensor::randn(kLarge, Device::cpu(), 1);
  const Tensor b = Tensor::randn({100}, Device::cpu(), 2);
  const Tensor m = Tensor::randn({300, 500}, Device::cpu(), 3);
  expect_same_bits_across_thread_counts("binary, unary, transpose, matmul", [&] {
    Tensor in_place = a.clone();
    in_place *= b;
    return std::vector<Tensor>{a + b, a / b, exp(a), clamp(a, -1.f, 1.f), in_place,
                               transpose(m), matmul(m, transpose(m))};
  });
}

}  // namespace
}  // namespace convnet::test
