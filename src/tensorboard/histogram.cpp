#include "tensorboard/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace convnet::tensorboard {

const std::vector<double>& default_bucket_edges() {
  static const std::vector<double> edges = [] {
    std::vector<double> positive;
    for (double v = 1e-12; v < 1e20; v *= 1.1) positive.push_back(v);
    std::vector<double> all;
    all.reserve(2 * positive.size() + 1);
    for (auto it = positive.rbegin(); it != positive.rend(); ++it) all.push_back(-*it);
    all.push_back(0.0);
    all.insert(all.end(), positive.begin(), positive.end());
    return all;
  }();
  return edges;
}

Histogram make_histogram(const float* values, size_t count) {
  const std::vector<double>& edges = default_bucket_edges();
  const size_t buckets = edges.size() - 1;  // bucket k: [edges[k], edges[k + 1])
  std::vector<double> counts(buckets, 0.0);
  Histogram h;
  h.min = std::numeric_limits<double>::infinity();
  h.max = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < count; ++i) {
    const double v = values[i];
    if (!std::isfinite(v)) continue;
    const size_t above = static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), v) - edges.begin());
    counts[std::min(buckets - 1, above == 0 ? 0 : above - 1)] += 1;
    h.min = std::min(h.min, v);
    h.max = std::max(h.max, v);
    h.num += 1;
    h.sum += v;
    h.sum_squares += v * v;
  }
  if (h.num == 0) {
    h.min = h.max = 0;
    h.limits = {0.0};
    h.counts = {0.0};
    return h;
  }
  size_t first = 0, last = buckets - 1;  // the first and last buckets holding values
  while (counts[first] == 0) ++first;
  while (counts[last] == 0) --last;
  // The empty bucket before `first` ends where `first` starts.
  h.limits.push_back(edges[first]);
  h.counts.push_back(0.0);
  for (size_t k = first; k <= last; ++k) {
    h.limits.push_back(edges[k + 1]);
    h.counts.push_back(counts[k]);
  }
  return h;
}

}  // namespace convnet::tensorboard
