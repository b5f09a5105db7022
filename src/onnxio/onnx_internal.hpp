// What the ONNX exporter and importer share: tensor conversion with every size
// checked (initializers come from untrusted files) and attribute access.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "convnet/tensor.hpp"

// ONNX stores raw tensor data little-endian; we copy host memory as is.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ONNX raw_data is little-endian; a big-endian host needs byte swapping here");

namespace convnet::io::onnx_detail {

// Largest initializer we read: 2^31 elements (8 GiB of floats), far above any
// model here and far below what an int64 product could overflow into.
constexpr int64_t kMaxElements = int64_t{1} << 31;

// A float tensor as an initializer (raw little-endian data), from any device.
void set_float_tensor(onnx::TensorProto& proto, const std::string& name, const Tensor& tensor);

// The dims of a TensorProto, checked: each >= 0, the product <= kMaxElements.
// `what` starts any error message.
std::vector<int64_t> checked_dims(const onnx::TensorProto& proto, const std::string& what);
// FLOAT data from raw_data or float_data, its count checked against the dims.
std::vector<float> read_floats(const onnx::TensorProto& proto, const std::string& what);
// INT64 data (raw_data or int64_data), checked likewise.
std::vector<int64_t> read_int64s(const onnx::TensorProto& proto, const std::string& what);

// Attributes of a node, by name, each with its type checked.
class Attributes {
 public:
  Attributes(const onnx::NodeProto& node, std::string where);
  bool has(const std::string& name) const { return find(name) != nullptr; }
  int64_t get_int(const std::string& name, int64_t fallback) const;
  float get_float(const std::string& name, float fallback) const;
  std::string get_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& name, std::vector<int64_t> fallback) const;
  const onnx::TensorProto* get_tensor(const std::string& name) const;
  // Throws unless every attribute of the node is in `known`.
  void only(const std::vector<std::string>& known) const;
  const std::string& where() const { return where_; }

 private:
  const onnx::AttributeProto* find(const std::string& name) const;
  const onnx::NodeProto& node_;
  std::string where_;
};

// "[64, 1, 3, 3]" for dims read from a file (which may be negative).
std::string format_dims(const std::vector<int64_t>& dims);

// "node 'conv1' (Conv)": how every import error names a node.
std::string describe(const onnx::NodeProto& node);

}  // namespace convnet::io::onnx_detail
