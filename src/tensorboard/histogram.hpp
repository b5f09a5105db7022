// Histograms as torch.utils.tensorboard's add_histogram(bins="tensorflow")
// computes them: TensorFlow's default bucket edges, counts as numpy.histogram
// counts them, trimmed to the buckets that hold values.
#pragma once

#include <cstddef>
#include <vector>

namespace convnet::tensorboard {

// -1e20 ... -1e-12, 0, 1e-12 ... 1e20 (roughly): from 1e-12 each edge is 1.1
// times the one before while below 1e20, mirrored for the negatives, computed
// in double exactly as PyTorch's SummaryWriter does, so the edges are
// bit-identical. 1549 edges.
const std::vector<double>& default_bucket_edges();

// HistogramProto's fields. limits[i] is the right edge of bucket i, which counts
// the values in [limits[i-1], limits[i]) (the last bucket of the edges also
// takes its right edge, as numpy's does). The first bucket is an empty one
// whose limit is the left edge of the first bucket that holds values, so the
// reader sees where the data starts.
struct Histogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> limits, counts;
};

// The histogram of the finite values among `values` (NaN and +-inf are left
// out of every field). Values beyond the outermost edges (|v| > ~1e20) are
// counted in the outermost buckets, where numpy would drop them, so the counts
// always add up to num. No finite value: num 0 and one empty bucket at 0.
Histogram make_histogram(const float* values, size_t count);

}  // namespace convnet::tensorboard
