// operator<< for tensors, laid out as libtorch prints them (aten's
// Formatting.cpp): one format per matrix chosen from its values (integers
// plainly; otherwise fixed with 4 decimals, under a common power-of-ten scale
// when all are large or small, or scientific when magnitudes span more than
// 4 decades), 1-D as a column, >2-D as "(i,j,.,.) = " blocks of 1-based
// indices, then "[ CPUFloatType{2,3} ]". Two departures: a tensor of over
// 1000 elements is summarized as Python's repr does (the first and last 3 of
// each longer dimension around "..."), and the widest value is found by
// magnitude (libtorch compares signed values there and misaligns negatives).
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "convnet/tensor.hpp"
#include "convnet/tensor_ops.hpp"

namespace convnet {
namespace {

constexpr int64_t kSummarizeOver = 1000;  // elements, as Python's threshold
constexpr int64_t kEdgeItems = 3;
constexpr int64_t kLineWidth = 80;
constexpr int64_t kEllipsis = -1;  // in a list of shown indices

// The indices of one dimension that are printed; kEllipsis stands for the rest.
std::vector<int64_t> shown_indices(int64_t extent, bool summarize) {
  std::vector<int64_t> shown;
  if (summarize && extent > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) shown.push_back(i);
    shown.push_back(kEllipsis);
    for (int64_t i = extent - kEdgeItems; i < extent; ++i) shown.push_back(i);
  } else {
    for (int64_t i = 0; i < extent; ++i) shown.push_back(i);
  }
  return shown;
}

enum class Style { Plain, Fixed, Scientific };
struct Format {
  Style style = Style::Plain;
  double scale = 1;
  int width = 0;
};

// libtorch's __printFormat, over the values that will be printed.
Format choose_format(const std::vector<double>& values) {
  Format f;
  if (values.empty()) return f;
  bool integers = true;
  for (double v : values)
    if (std::isfinite(v) && v != std::ceil(v)) integers = false;
  double smallest = -1, largest = -1;  // magnitudes of the finite values
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    const double m = std::fabs(v);
    if (smallest < 0 || m < smallest) smallest = m;
    if (m > largest) largest = m;
  }
  // Decimal digits before the point: floor(log10 |v|) + 1 (1 for zero or no finite value).
  auto digits = [](double m) { return m > 0 ? std::floor(std::log10(m)) + 1 : 1.0; };
  const double exp_min = smallest < 0 ? 1 : digits(smallest);
  const double exp_max = largest < 0 ? 1 : digits(largest);
  if (integers) {
    if (exp_max > 9) {
      f.style = Style::Scientific, f.width = 11;
    } else {
      f.style = Style::Plain, f.width = static_cast<int>(exp_max) + 1;
    }
  } else if (exp_max - exp_min > 4) {
    f.style = Style::Scientific;
    f.width = std::fabs(exp_max) > 99 || std::fabs(exp_min) > 99 ? 12 : 11;
  } else if (exp_max > 5 || exp_max < 0) {
    f.style = Style::Fixed, f.width = 7, f.scale = std::pow(10, exp_max - 1);
  } else {
    f.style = Style::Fixed, f.width = exp_max == 0 ? 7 : static_cast<int>(exp_max) + 6;
  }
  return f;
}

void put_value(std::ostream& os, double v, const Format& f) {
  std::ostringstream s;
  if (f.style == Style::Fixed) s << std::fixed << std::setprecision(4);
  if (f.style == Style::Scientific) s << std::scientific << std::setprecision(4);
  s << v / f.scale;
  os << std::setw(f.width) << s.str();
}

void put_scale(std::ostream& os, const Format& f, const std::string& indent) {
  if (f.scale != 1) os << indent << f.scale << " *\n";
}

std::string type_name(const Tensor& t) {
  return std::string(t.device().is_cpu() ? "CPU" : "CUDA") +
         (t.dtype() == DType::F32 ? "FloatType" : t.dtype() == DType::I32 ? "IntType" : "LongType");
}

// A matrix [rows, cols] starting at `base` in the flat values: libtorch's
// __printMatrix, its columns wrapped at 80 characters under "Columns a to b".
void put_matrix(std::ostream& os, const std::vector<double>& v, int64_t base, int64_t cols,
                const std::vector<int64_t>& rows_shown, const std::vector<int64_t>& cols_shown,
                const std::string& indent) {
  std::vector<double> printed;
  for (int64_t r : rows_shown)
    for (int64_t c : cols_shown)
      if (r != kEllipsis && c != kEllipsis) printed.push_back(v[base + r * cols + c]);
  const Format f = choose_format(printed);
  const size_t per_line = static_cast<size_t>(
      std::max<int64_t>(1, (kLineWidth - static_cast<int64_t>(indent.size())) / (f.width + 1)));
  for (size_t first = 0; first < cols_shown.size(); first += per_line) {
    const size_t last = std::min(first + per_line, cols_shown.size()) - 1;
    if (per_line < cols_shown.size()) {
      int64_t from = -1, to = -1;  // the real columns of this band, 1-based
      for (size_t k = first; k <= last; ++k) {
        if (cols_shown[k] == kEllipsis) continue;
        if (from < 0) from = cols_shown[k] + 1;
        to = cols_shown[k] + 1;
      }
      if (first != 0) os << '\n';
      os << indent << "Columns " << from << " to " << to << '\n';
    }
    put_scale(os, f, indent);
    for (int64_t r : rows_shown) {
      os << indent;
      if (r == kEllipsis) {
        os << std::setw(f.width) << "..." << '\n';
        continue;
      }
      for (size_t k = first; k <= last; ++k) {
        if (k != first) os << ' ';
        if (cols_shown[k] == kEllipsis) {
          os << std::setw(f.width) << "...";
        } else {
          put_value(os, v[base + r * cols + cols_shown[k]], f);
        }
      }
      os << '\n';
    }
  }
}

void put_values(std::ostream& os, const Tensor& t, const std::vector<double>& v) {
  const Shape& shape = t.shape();
  const bool summarize = t.numel() > kSummarizeOver;
  if (t.dim() == 0) {
    os << v[0] << '\n';  // libtorch: the default float format
    return;
  }
  if (t.numel() == 0) return;
  if (t.dim() == 1) {
    const std::vector<int64_t> shown = shown_indices(shape[0], summarize);
    std::vector<double> printed;
    for (int64_t i : shown)
      if (i != kEllipsis) printed.push_back(v[i]);
    const Format f = choose_format(printed);
    put_scale(os, f, "");
    for (int64_t i : shown) {
      if (i == kEllipsis) {
        os << std::setw(f.width) << "..." << '\n';
      } else {
        put_value(os, v[i], f);
        os << '\n';
      }
    }
    return;
  }
  const int lead = t.dim() - 2;  // the dims that name the blocks
  const int64_t rows = shape[lead], cols = shape[lead + 1];
  const std::vector<int64_t> rows_shown = shown_indices(rows, summarize);
  const std::vector<int64_t> cols_shown = shown_indices(cols, summarize);
  if (lead == 0) {
    put_matrix(os, v, 0, cols, rows_shown, cols_shown, "");
    return;
  }
  std::vector<std::vector<int64_t>> lead_shown;
  for (int d = 0; d < lead; ++d) lead_shown.push_back(shown_indices(shape[d], summarize));
  // Walk the blocks' index tuples in order, odometer style.
  std::vector<size_t> pos(static_cast<size_t>(lead), 0);
  bool first_block = true;
  while (true) {
    int ellipsis_at = -1;
    for (int d = 0; d < lead && ellipsis_at < 0; ++d)
      if (lead_shown[d][pos[d]] == kEllipsis) ellipsis_at = d;
    if (ellipsis_at < 0) {
      if (!first_block) os << '\n';
      first_block = false;
      os << '(';
      int64_t base = 0;
      for (int d = 0; d < lead; ++d) {
        os << lead_shown[d][pos[d]] + 1 << ',';
        base = base * shape[d] + lead_shown[d][pos[d]];
      }
      os << ".,.) = \n";
      put_matrix(os, v, base * rows * cols, cols, rows_shown, cols_shown, " ");
    } else {
      // One "..." for each elided run: where every later index is at its start.
      bool at_start = true;
      for (int d = ellipsis_at + 1; d < lead; ++d) at_start = at_start && pos[d] == 0;
      if (at_start) os << "\n...\n";
    }
    int d = lead - 1;
    for (; d >= 0; --d) {
      if (++pos[d] < lead_shown[d].size()) break;
      pos[d] = 0;
    }
    if (d < 0) break;
  }
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "[ Tensor (undefined) ]";
  const Tensor host = t.to(Device::cpu());
  std::vector<double> values;
  if (host.dtype() == DType::F32) {
    for (float x : host.to_vector<float>()) values.push_back(x);
  } else if (host.dtype() == DType::I32) {
    for (int32_t x : host.to_vector<int32_t>()) values.push_back(x);
  } else {
    for (int64_t x : host.to_vector<int64_t>()) values.push_back(static_cast<double>(x));
  }
  std::ostringstream out;  // a fresh stream: none of os's format flags leak in or out
  put_values(out, t, values);
  out << "[ " << type_name(t) << "{";
  for (int d = 0; d < t.dim(); ++d) out << (d ? "," : "") << t.size(d);
  out << "} ]";
  return os << out.str();
}

}  // namespace convnet
