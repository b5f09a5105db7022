// Tensors and attributes of ONNX files: written from our tensors, read back
// with every size checked before anything is allocated.
#include <cstring>

#include "convnet/error.hpp"
#include "onnxio/onnx_internal.hpp"

namespace convnet::io::onnx_detail {

void set_float_tensor(onnx::TensorProto& proto, const std::string& name, const Tensor& tensor) {
  const std::vector<float> values = tensor.to(Device::cpu()).to_vector<float>();
  proto.set_name(name);
  proto.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : tensor.shape().dims()) proto.add_dims(d);
  proto.set_raw_data(values.data(), values.size() * sizeof(float));
}

std::vector<int64_t> checked_dims(const onnx::TensorProto& proto, const std::string& what) {
  CONVNET_CHECK(proto.data_location() != onnx::TensorProto::EXTERNAL, what,
                ": data stored outside the file (external data) is not supported");
  CONVNET_CHECK(proto.dims_size() <= 8, what, ": ", proto.dims_size(), " dimensions (at most 8)");
  std::vector<int64_t> dims;
  int64_t count = 1;
  for (int64_t d : proto.dims()) {
    CONVNET_CHECK(d >= 0, what, ": negative dimension ", d);
    CONVNET_CHECK(d == 0 || count <= kMaxElements / d, what, ": more than ", kMaxElements,
                  " elements");
    count *= d;
    dims.push_back(d);
  }
  return dims;
}

namespace {

int64_t element_count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;  // checked_dims bounded the product
  return n;
}

template <typename T, typename Field>
std::vector<T> read_values(const onnx::TensorProto& proto, const std::string& what,
                           int expected_type, const char* type_name, const Field& field) {
  CONVNET_CHECK(proto.data_type() == expected_type, what, ": element type ", proto.data_type(),
                " where ", type_name, " (", expected_type, ") is needed");
  const int64_t n = element_count(checked_dims(proto, what));
  std::vector<T> values;
  if (proto.has_raw_data()) {
    const std::string& raw = proto.raw_data();
    CONVNET_CHECK(raw.size() == static_cast<size_t>(n) * sizeof(T), what, ": raw_data holds ",
                  raw.size(), " bytes where ", n, " ", type_name, " values need ", n * sizeof(T));
    values.resize(static_cast<size_t>(n));
    if (n > 0) std::memcpy(values.data(), raw.data(), raw.size());
    return values;
  }
  CONVNET_CHECK(field.size() == n, what, ": ", field.size(), " values stored where the dims need ",
                n);
  values.assign(field.begin(), field.end());
  return values;
}

}  // namespace

std::vector<float> read_floats(const onnx::TensorProto& proto, const std::string& what) {
  return read_values<float>(proto, what, onnx::TensorProto::FLOAT, "FLOAT", proto.float_data());
}

std::vector<int64_t> read_int64s(const onnx::TensorProto& proto, const std::string& what) {
  return read_values<int64_t>(proto, what, onnx::TensorProto::INT64, "INT64", proto.int64_data());
}

Attributes::Attributes(const onnx::NodeProto& node, std::string where)
    : node_(node), where_(std::move(where)) {}

const onnx::AttributeProto* Attributes::find(const std::string& name) const {
  const onnx::AttributeProto* found = nullptr;
  for (const auto& a : node_.attribute()) {
    if (a.name() != name) continue;
    CONVNET_CHECK(found == nullptr, where_, ": attribute '", name, "' appears twice");
    found = &a;
  }
  return found;
}

int64_t Attributes::get_int(const std::string& name, int64_t fallback) const {
  const auto* a = find(name);
  if (a == nullptr) return fallback;
  CONVNET_CHECK(a->type() == onnx::AttributeProto::INT, where_, ": attribute '", name,
                "' must be an int");
  return a->i();
}

float Attributes::get_float(const std::string& name, float fallback) const {
  const auto* a = find(name);
  if (a == nullptr) return fallback;
  CONVNET_CHECK(a->type() == onnx::AttributeProto::FLOAT, where_, ": attribute '", name,
                "' must be a float");
  return a->f();
}

std::string Attributes::get_string(const std::string& name, const std::string& fallback) const {
  const auto* a = find(name);
  if (a == nullptr) return fallback;
  CONVNET_CHECK(a->type() == onnx::AttributeProto::STRING, where_, ": attribute '", name,
                "' must be a string");
  return a->s();
}

std::vector<int64_t> Attributes::get_ints(const std::string& name,
                                          std::vector<int64_t> fallback) const {
  const auto* a = find(name);
  if (a == nullptr) return fallback;
  CONVNET_CHECK(a->type() == onnx::AttributeProto::INTS, where_, ": attribute '", name,
                "' must be a list of ints");
  return {a->ints().begin(), a->ints().end()};
}

const onnx::TensorProto* Attributes::get_tensor(const std::string& name) const {
  const auto* a = find(name);
  if (a == nullptr) return nullptr;
  CONVNET_CHECK(a->type() == onnx::AttributeProto::TENSOR, where_, ": attribute '", name,
                "' must be a tensor");
  return &a->t();
}

void Attributes::only(const std::vector<std::string>& known) const {
  for (const auto& a : node_.attribute()) {
    bool ok = false;
    for (const auto& k : known) ok = ok || a.name() == k;
    CONVNET_CHECK(ok, where_, ": attribute '", a.name(), "' is not supported");
  }
}

std::string format_dims(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

std::string describe(const onnx::NodeProto& node) {
  return "node '" + node.name() + "' (" + node.op_type() + ")";
}

}  // namespace convnet::io::onnx_detail
