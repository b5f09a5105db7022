// The importer's two halves: onnx_import.cpp reads the graph and orders its
// nodes into a chain with residual branches; onnx_layers.cpp turns each node
// into the layer that computes it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "convnet/nn/layer.hpp"
#include "convnet/shape.hpp"
#include "onnxio/onnx_internal.hpp"

namespace convnet::io::onnx_detail {

// What a node reads besides its data input: initializers and Constant outputs.
struct Constants {
  std::map<std::string, const onnx::TensorProto*> tensors;
  const onnx::TensorProto* find(const std::string& name) const {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : it->second;
  }
};

struct NodeContext {
  const onnx::NodeProto& node;
  const Constants& constants;
  // Shape of the data input, batch dimension included (its extent is a
  // placeholder when the batch is symbolic: only the other dimensions count).
  const Shape& input_shape;
  bool batch_is_symbolic;
  // Whether output `i` of the node is read by another node or is the graph output.
  std::vector<bool> output_used;
};

// The layer computing `node` on its data input, or nullptr for a node that
// is the identity here (Identity). Throws convnet::Error naming the node, its
// operator and the attribute for anything that cannot be represented exactly.
std::unique_ptr<nn::Layer> make_layer(const NodeContext& context);

}  // namespace convnet::io::onnx_detail
