// Histogram buckets against numpy.histogram with PyTorch's trimming
// (torch.utils.tensorboard.summary.make_histogram); the expected values were
// computed by numpy 2.2 on the same input.
#include <gtest/gtest.h>

#ifdef CONVNET_WITH_TENSORBOARD

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensorboard/histogram.hpp"

namespace convnet::tensorboard {
namespace {

TEST(TensorBoardHistogram, DefaultEdgesAreTensorFlows) {
  const std::vector<double>& edges = default_bucket_edges();
  ASSERT_EQ(edges.size(), 1549u);
  EXPECT_EQ(edges[774], 0.0);
  EXPECT_EQ(edges[775], 1e-12);
  EXPECT_EQ(edges[773], -1e-12);
  EXPECT_EQ(edges.back(), 9.920775621859783e+19);
  EXPECT_EQ(edges.front(), -edges.back());
  for (size_t i = 1; i < edges.size(); ++i) ASSERT_LT(edges[i - 1], edges[i]) << i;
}

TEST(TensorBoardHistogram, CountsAsNumpyAndPyTorchTrimIt) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> values = {0.f, 0.5f, std::nanf(""), 0.5f, 1.f, -2.f, 3e-13f, inf, 1.0000001f, -inf};
  const Histogram h = make_histogram(values.data(), values.size());
  const std::vector<double>& edges = default_bucket_edges();
  EXPECT_EQ(h.num, 7);  // NaN and the infinities left out
  EXPECT_EQ(h.min, -2.0);
  EXPECT_EQ(h.max, 1.0000001192092896);
  EXPECT_DOUBLE_EQ(h.sum, 1.0000001192095895);
  EXPECT_DOUBLE_EQ(h.sum_squares, 6.500000238418593);
  // From the empty bucket ending at edges[475] to the last one holding values.
  ASSERT_EQ(h.limits.size(), 591u);
  ASSERT_EQ(h.counts.size(), 591u);
  for (size_t i = 0; i < h.limits.size(); ++i) {
    const size_t edge = 475 + i;
    EXPECT_EQ(h.limits[i], edges[edge]) << i;
    // -2 in [edges[475], edges[476]); 0 and 3e-13 in [0, 1e-12); the 0.5s
    // below edges[1058]; 1 and 1.0000001 below edges[1065].
    const double expected = edge == 476 ? 1 : edge == 775 || edge == 1058 || edge == 1065 ? 2 : 0;
    EXPECT_EQ(h.counts[i], expected) << "bucket ending at edges[" << edge << "]";
  }
}

TEST(TensorBoardHistogram, ValuesOnAnEdgeGoToTheBucketAboveIt) {
  const std::vector<double>& edges = default_bucket_edges();
  const float v = 1.f;
  const size_t above = static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), 1.0) - edges.begin());
  const Histogram h = make_histogram(&v, 1);
  ASSERT_EQ(h.limits.size(), 2u);
  EXPECT_EQ(h.limits[0], edges[above - 1]);
  EXPECT_EQ(h.limits[1], edges[above]);
  EXPECT_EQ(h.counts, (std::vector<double>{0, 1}));
  // Exactly 0 is an edge: its bucket is [0, 1e-12), and it is the first
  // bucket holding values, so the empty one before it ends at 0.
  const float zero = 0.f;
  const Histogram z = make_histogram(&zero, 1);
  EXPECT_EQ(z.limits, (std::vector<double>{0.0, 1e-12}));
  EXPECT_EQ(z.counts, (std::vector<double>{0, 1}));
}

TEST(TensorBoardHistogram, HugeValuesLandInTheOutermostBuckets) {
  const std::vector<float> values = {3e38f, -3e38f};
  const Histogram h = make_histogram(values.data(), values.size());
  const std::vector<double>& edges = default_bucket_edges();
  EXPECT_EQ(h.num, 2);
  ASSERT_EQ(h.limits.size(), edges.size());  // every bucket, from the first one's left edge
  EXPECT_EQ(h.counts.front(), 0);
  EXPECT_EQ(h.counts[1], 1);
  EXPECT_EQ(h.counts.back(), 1);
}

TEST(TensorBoardHistogram, NothingFiniteGivesOneEmptyBucket) {
  const std::vector<float> values = {std::nanf(""), std::numeric_limits<float>::infinity()};
  const Histogram h = make_histogram(values.data(), values.size());
  EXPECT_EQ(h.num, 0);
  EXPECT_EQ(h.min, 0);
  EXPECT_EQ(h.max, 0);
  EXPECT_EQ(h.limits, (std::vector<double>{0.0}));
  EXPECT_EQ(h.counts, (std::vector<double>{0.0}));
}

}  // namespace
}  // namespace convnet::tensorboard

#endif  // CONVNET_WITH_TENSORBOARD
