// expect_same_bits_across_thread_counts: the per-operation check shared by the
// determinism tests. One operation, one message per output that differs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "determinism/thread_count.hpp"

namespace convnet::test {

// Runs `op` (fresh outputs each call, inputs fixed) single-threaded, then under
// every other thread count, and expects every output bit-identical.
inline void expect_same_bits_across_thread_counts(const std::string& op_name,
                                                  const std::function<std::vector<Tensor>()>& op) {
  std::vector<std::vector<uint32_t>> reference;
  {
    ScopedThreadCount single(1);
    for (const Tensor& output : op()) reference.push_back(bits_of(output));
  }
  ASSERT_FALSE(reference.empty()) << op_name;
  for (int threads : kThreadCounts) {
    if (threads == 1) continue;
    ScopedThreadCount scoped(threads);
    ASSERT_EQ(cpu::parallel_threads(), threads) << "the pool was not resized";
    const std::vector<Tensor> outputs = op();
    ASSERT_EQ(outputs.size(), reference.size()) << op_name;
    for (size_t i = 0; i < outputs.size(); ++i)
      EXPECT_TRUE(bit_identical(reference[i], bits_of(outputs[i])))
          << op_name << ", output " << i << " (" << outputs[i].str() << "), " << threads
          << " threads vs 1";
  }
}

}  // namespace convnet::test
