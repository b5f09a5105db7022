// Layer::summary: the layer tree as a table, one row per layer, children
// indented under their composite with dotted names.
#include <algorithm>
#include <sstream>

#include "convnet/nn/layer.hpp"

namespace convnet::nn {
namespace {

// Prefixes an error with the layer's dotted path: op messages name the op but
// not which layer of the tree called it.
template <typename Step>
auto at_path(const std::string& path, const Layer& layer, Step&& step) -> decltype(step()) {
  try {
    return step();
  } catch (const Error& e) {
    const std::string name = layer.name(), what = e.what();
    if (what.compare(0, name.size(), name) == 0) CONVNET_FAIL("summary: layer ", path, " ", what);
    CONVNET_FAIL("summary: layer ", path, " ", name, ": ", what);
  }
}

// How `kind` computes `op` ("im2col + gemm", "cudnn fused graph"), or "" for a
// layer that runs no single backend operation (a composite, Flatten).
std::string path_of(Backend::Kind kind, Backend::Op op) {
  if (op == Backend::Op::Other) return "";
  try {
    return get_backend(kind).path(op);
  } catch (const Error&) {
    return "(unavailable here)";
  }
}

}  // namespace

void Layer::summary_rows(const std::string& prefix, int depth, const Shape& input_shape,
                         Device device, std::vector<std::vector<std::string>>& rows) const {
  // The root's own errors name it already; a child's get its path.
  const std::string here = prefix.empty() ? name() : prefix.substr(0, prefix.size() - 1);
  const std::vector<Shape> inputs = prefix.empty() ? child_input_shapes(input_shape)
      : at_path(here, *this, [&] { return child_input_shapes(input_shape); });
  bool absorbed = false;
  for (size_t i = 0; i < children_.size(); ++i) {
    const Layer& child = *children_[i].layer;
    const std::string path = prefix + children_[i].name;
    CONVNET_CHECK(i < inputs.size(), "summary: ", here, " (", name(), ") gives no input shape for ", path);
    const Shape output = at_path(path, child, [&] { return child.output_shape(inputs[i]); });
    const Backend::Kind kind = child.backend_choice().value_or(default_backend(device));
    const std::string how = absorbed ? "fused into " + prefix + children_[i - 1].name
                                     : path_of(kind, child.backend_op(child_fuses_next(i)));
    absorbed = !absorbed && child_fuses_next(i);
    rows.push_back({std::string(2 * depth, ' ') + path, child.name(), output.str(),
                    std::to_string(child.parameter_count()), backend_name(kind), how});
    if (!child.children_.empty()) child.summary_rows(path + ".", depth + 1, inputs[i], device, rows);
  }
}

std::string Layer::summary(const Shape& input_shape, Device device) const {
  // Rows first, then pad every column to its widest cell.
  std::vector<std::vector<std::string>> rows{
      {"#", "layer", "output shape", "params", "backend", "path"}};
  if (children_.empty()) {
    const Backend::Kind kind = backend_.value_or(default_backend(device));
    rows.push_back({"", name(), output_shape(input_shape).str(), std::to_string(parameter_count()),
                    backend_name(kind), path_of(kind, backend_op(false))});
  } else {
    summary_rows("", 0, input_shape, device, rows);
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());

  std::ostringstream os;
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      os << row[c];
      if (c + 1 < row.size()) os << std::string(width[c] - row[c].size() + 2, ' ');
    }
    os << "\n";
  }
  os << "input " << input_shape << " on " << device << ", total parameters: " << parameter_count()
     << "\n";
  return os.str();
}

}  // namespace convnet::nn
