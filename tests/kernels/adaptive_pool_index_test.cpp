// The adaptive-pooling window math of kernels/adaptive_pool_index.hpp on the
// host, by brute force over every (in, out) up to 40 x 40 and a few large ones:
// each cell's window is non-empty and inside the input, consecutive windows
// leave no gap (the cells tile the input), adjacent ones overlap by at most one
// when out <= in, and adaptive_first_cell / adaptive_last_cell equal the first
// and last cell whose window holds x, found by scanning every cell. The GPU
// backward gathers over exactly that range, so a wrong bound drops or doubles
// a gradient contribution.
#include <gtest/gtest.h>

#include <cstdint>

#include "kernels/adaptive_pool_index.hpp"

namespace convnet::test {
namespace {

using kernels::adaptive_end;
using kernels::adaptive_first_cell;
using kernels::adaptive_last_cell;
using kernels::adaptive_start;

// Checks one axis (fatal failures end it; the caller stops at the first).
void check_axis(int64_t in, int64_t out) {
  SCOPED_TRACE(::testing::Message() << "in " << in << ", out " << out);
  ASSERT_EQ(adaptive_start(0, in, out), 0);
  ASSERT_EQ(adaptive_end(out - 1, in, out), in);
  for (int64_t i = 0; i < out; ++i) {
    const int64_t start = adaptive_start(i, in, out), end = adaptive_end(i, in, out);
    ASSERT_GE(start, 0) << "cell " << i;
    ASSERT_LT(start, end) << "cell " << i << " is empty";
    ASSERT_LE(end, in) << "cell " << i;
    if (i + 1 < out) {
      const int64_t next = adaptive_start(i + 1, in, out);
      ASSERT_LE(next, end) << "gap between cells " << i << " and " << i + 1;
      ASSERT_GE(next, start) << "cells out of order at " << i;
      if (out <= in) ASSERT_LE(end - next, 1) << "cells " << i << ", " << i + 1 << " overlap by more than one";
    }
  }
  for (int64_t x = 0; x < in; ++x) {
    int64_t first = -1, last = -1;
    for (int64_t i = 0; i < out; ++i)
      if (adaptive_start(i, in, out) <= x && x < adaptive_end(i, in, out)) {
        if (first < 0) first = i;
        last = i;
      }
    ASSERT_GE(first, 0) << "input " << x << " is in no cell";
    // The cells holding x are contiguous: every cell in [first, last] holds it.
    for (int64_t i = first; i <= last; ++i)
      ASSERT_TRUE(adaptive_start(i, in, out) <= x && x < adaptive_end(i, in, out))
          << "cell " << i << " lies between holders of " << x << " but misses it";
    ASSERT_EQ(adaptive_first_cell(x, in, out), first) << "input " << x;
    ASSERT_EQ(adaptive_last_cell(x, in, out), last) << "input " << x;
  }
}

TEST(AdaptivePoolIndex, WindowsTileTheInputAndGatherRangesMatchAScan) {
  for (int64_t in = 1; in <= 40; ++in)
    for (int64_t out = 1; out <= 40; ++out) {
      check_axis(in, out);
      if (::testing::Test::HasFatalFailure()) return;
    }
}

TEST(AdaptivePoolIndex, KnownWindows) {
  // 5 -> 3: [0, 2), [1, 4), [3, 5) (PyTorch's AdaptiveAvgPool1d(3) on 5 values).
  EXPECT_EQ(adaptive_start(0, 5, 3), 0);
  EXPECT_EQ(adaptive_end(0, 5, 3), 2);
  EXPECT_EQ(adaptive_start(1, 5, 3), 1);
  EXPECT_EQ(adaptive_end(1, 5, 3), 4);
  EXPECT_EQ(adaptive_start(2, 5, 3), 3);
  EXPECT_EQ(adaptive_end(2, 5, 3), 5);
  // Global pooling: one cell over everything.
  EXPECT_EQ(adaptive_start(0, 7, 1), 0);
  EXPECT_EQ(adaptive_end(0, 7, 1), 7);
  EXPECT_EQ(adaptive_first_cell(6, 7, 1), 0);
  EXPECT_EQ(adaptive_last_cell(6, 7, 1), 0);
  // out > in repeats inputs: 2 -> 5 gives [0,1) [0,1) [0,2) [1,2) [1,2).
  EXPECT_EQ(adaptive_first_cell(0, 2, 5), 0);
  EXPECT_EQ(adaptive_last_cell(0, 2, 5), 2);
  EXPECT_EQ(adaptive_first_cell(1, 2, 5), 2);
  EXPECT_EQ(adaptive_last_cell(1, 2, 5), 4);
}

TEST(AdaptivePoolIndex, LargeExtents) {
  for (int64_t in : {224, 1000, 4097})
    for (int64_t out : {1, 6, 7, 13, 224, 999}) {
      check_axis(in, out);
      if (::testing::Test::HasFatalFailure()) return;
    }
}

}  // namespace
}  // namespace convnet::test
