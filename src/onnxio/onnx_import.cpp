// ONNX import: reads the graph (an untrusted file: every size and index is
// checked), orders the nodes from the input to the output into a chain, where
// an Add of two branches that leave one value becomes an nn::Residual, then
// builds each node's layer (onnx_layers.cpp) with the shapes flowing forward.
#include <fstream>
#include <iterator>
#include <set>

#include "convnet/error.hpp"
#include "convnet/io/onnx.hpp"
#include "convnet/nn/residual.hpp"
#include "onnxio/onnx_import_internal.hpp"

namespace convnet::io {
namespace {

using namespace onnx_detail;

constexpr int kMaxNodes = 100000;
constexpr int kMaxNesting = 64;  // residual blocks inside residual blocks
constexpr int64_t kMinOpset = 13, kMaxOpset = 21;
constexpr const char* kOp = "import_onnx";

// One step of the chain: a node applied to the data, or a residual sum.
struct Step {
  int node = -1;  // the node, or the Add of a residual
  bool residual = false;
  std::vector<Step> body, shortcut;  // both branches start at the same value
};

class Graph {
 public:
  explicit Graph(const onnx::ModelProto& model) : g_(model.graph()) {
    opset_ = check_opset(model);
    CONVNET_CHECK(g_.node_size() <= kMaxNodes, kOp, ": ", g_.node_size(), " nodes (at most ",
                  kMaxNodes, ")");
    std::set<std::string> initializer_names;
    for (const auto& t : g_.initializer()) {
      CONVNET_CHECK(!t.name().empty(), kOp, ": an initializer has no name");
      CONVNET_CHECK(constants_.tensors.emplace(t.name(), &t).second, kOp, ": initializer '",
                    t.name(), "' appears twice");
      initializer_names.insert(t.name());
    }
    find_input(initializer_names);
    CONVNET_CHECK(g_.output_size() == 1, kOp, ": the graph has ", g_.output_size(),
                  " outputs; convnet models have one");
    output_ = g_.output(0).name();
    ++uses_[output_];
    for (int i = 0; i < g_.node_size(); ++i) add_node(i);
  }

  std::unique_ptr<nn::Sequential> build(OnnxModel& result) {
    const std::vector<Step> steps = chain(input_, output_, 0);
    Shape shape(input_dims_);  // a symbolic batch is 1 here
    auto model = build_steps(steps, shape);
    result.input_shape = input_dims_;
    if (batch_symbolic_) result.input_shape[0] = -1;
    result.input_name = input_;
    result.output_name = output_;
    result.opset = opset_;
    return model;
  }

 private:
  static int64_t check_opset(const onnx::ModelProto& model) {
    int64_t opset = -1;
    for (const auto& o : model.opset_import()) {
      if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
    }
    CONVNET_CHECK(opset >= 0, kOp, ": the model imports no opset of the default ONNX domain");
    CONVNET_CHECK(opset >= kMinOpset && opset <= kMaxOpset, kOp, ": opset ", opset,
                  " is not supported (", kMinOpset, " to ", kMaxOpset, ")");
    return opset;
  }

  // The one graph input that is not an initializer (IR < 4 lists initializers as inputs).
  void find_input(const std::set<std::string>& initializer_names) {
    const onnx::ValueInfoProto* input = nullptr;
    for (const auto& v : g_.input()) {
      if (initializer_names.count(v.name())) continue;
      CONVNET_CHECK(input == nullptr, kOp, ": the graph has more than one input ('", input->name(),
                    "', '", v.name(), "'); convnet models have one");
      input = &v;
    }
    CONVNET_CHECK(input != nullptr && !input->name().empty(), kOp, ": the graph has no input");
    input_ = input->name();
    CONVNET_CHECK(input->type().has_tensor_type(), kOp, ": input '", input_, "' is not a tensor");
    const auto& tensor = input->type().tensor_type();
    CONVNET_CHECK(tensor.elem_type() == onnx::TensorProto::FLOAT, kOp, ": input '", input_,
                  "' has element type ", tensor.elem_type(), "; convnet computes in FLOAT (1)");
    CONVNET_CHECK(tensor.has_shape(), kOp, ": input '", input_, "' has no shape");
    const int rank = tensor.shape().dim_size();
    CONVNET_CHECK(rank >= 2 && rank <= 4, kOp, ": input '", input_, "' has rank ", rank,
                  "; convnet reads [N, features] or [N, C, H, W]");
    for (int d = 0; d < rank; ++d) {
      const auto& dim = tensor.shape().dim(d);
      if (d == 0 && !dim.has_dim_value()) {
        batch_symbolic_ = true;
        input_dims_.push_back(1);
        continue;
      }
      CONVNET_CHECK(dim.has_dim_value() && dim.dim_value() >= 1 && dim.dim_value() <= (1 << 24),
                    kOp, ": dimension ", d, " of input '", input_, "' must be a fixed size in [1, ",
                    1 << 24, "]: convnet builds its layers for it");
      input_dims_.push_back(dim.dim_value());
    }
  }

  void add_node(int i) {
    const onnx::NodeProto& node = g_.node(i);
    CONVNET_CHECK(node.domain().empty() || node.domain() == "ai.onnx", kOp, ": ", describe(node),
                  ": domain '", node.domain(), "' is not supported");
    if (node.op_type() == "Constant") {
      Attributes attrs(node, describe(node));
      attrs.only({"value"});
      const onnx::TensorProto* value = attrs.get_tensor("value");
      CONVNET_CHECK(value != nullptr && node.output_size() == 1, kOp, ": ", describe(node),
                    ": only a Constant with one tensor 'value' is supported");
      CONVNET_CHECK(constants_.tensors.emplace(node.output(0), value).second, kOp, ": value '",
                    node.output(0), "' is produced twice");
      return;
    }
    for (const auto& in : node.input()) {
      if (!in.empty()) ++uses_[in];
    }
    for (const auto& out : node.output()) {
      if (out.empty()) continue;
      CONVNET_CHECK(!constants_.find(out) && out != input_ && producer_.emplace(out, i).second, kOp,
                    ": value '", out, "' is produced twice");
    }
  }

  int producer(const std::string& value) const {
    auto it = producer_.find(value);
    CONVNET_CHECK(it != producer_.end(), kOp, ": value '", value,
                  "' is neither the graph input nor any node's output");
    return it->second;
  }

  // The data a node reads; nodes are in topological order (ONNX requires it),
  // so the producer of what node `i` reads comes before it: walks terminate.
  std::string data_input(int i, int k) const {
    const onnx::NodeProto& node = g_.node(i);
    CONVNET_CHECK(node.input_size() > k && !node.input(k).empty(), kOp, ": ", describe(node),
                  ": input ", k, " is missing");
    const std::string& v = node.input(k);
    CONVNET_CHECK(!constants_.find(v), kOp, ": ", describe(node), ": its data input '", v,
                  "' is a constant; convnet layers compute on the model's input");
    if (v != input_) {
      CONVNET_CHECK(producer(v) < i, kOp, ": ", describe(node), ": input '", v,
                    "' comes from a later node (the graph is not in topological order, or has a cycle)");
    }
    return v;
  }

  bool is_add(int i) const { return g_.node(i).op_type() == "Add"; }

  // One step closer to the input: a node's data input, or for an Add the
  // value both its branches leave from.
  std::string pred(const std::string& v, int depth) {
    const int i = producer(v);
    return is_add(i) ? split(i, depth) : data_input(i, 0);
  }

  std::vector<std::string> spine(const std::string& from, int depth) {
    std::vector<std::string> values{from};
    while (values.back() != input_) values.push_back(pred(values.back(), depth));
    return values;
  }

  // The value where the branches of Add node `i` part: the nearest value on
  // both branches' way to the input.
  std::string split(int i, int depth) {
    auto memo = splits_.find(i);
    if (memo != splits_.end()) return memo->second;
    CONVNET_CHECK(depth < kMaxNesting, kOp, ": residual branches nest deeper than ", kMaxNesting);
    const onnx::NodeProto& node = g_.node(i);
    Attributes(node, describe(node)).only({});
    CONVNET_CHECK(node.input_size() == 2, kOp, ": ", describe(node), ": ", node.input_size(),
                  " inputs where 2 are expected");
    const std::vector<std::string> a = spine(data_input(i, 0), depth + 1);
    const std::vector<std::string> b = spine(data_input(i, 1), depth + 1);
    const std::set<std::string> on_b(b.begin(), b.end());
    for (const std::string& v : a) {
      if (on_b.count(v)) return splits_[i] = v;
    }
    CONVNET_FAIL(kOp, ": ", describe(node), ": its two inputs do not leave from one value");
  }

  // The steps from value `from` to value `to`, in order.
  std::vector<Step> chain(const std::string& from, const std::string& to, int depth) {
    CONVNET_CHECK(depth < kMaxNesting, kOp, ": residual branches nest deeper than ", kMaxNesting);
    std::vector<Step> steps;
    std::string v = to;
    while (v != from) {
      CONVNET_CHECK(v != input_, kOp, ": value '", from, "' is not on the way from the input to '",
                    to, "'");
      const int i = producer(v);
      Step step;
      step.node = i;
      if (is_add(i)) {
        const std::string s = split(i, depth);
        step.residual = true;
        step.body = chain(s, data_input(i, 0), depth + 1);
        step.shortcut = chain(s, data_input(i, 1), depth + 1);
        v = s;
      } else {
        v = data_input(i, 0);
      }
      steps.push_back(std::move(step));
    }
    return {std::make_move_iterator(steps.rbegin()), std::make_move_iterator(steps.rend())};
  }

  std::unique_ptr<nn::Sequential> build_steps(const std::vector<Step>& steps, Shape& shape) {
    auto seq = std::make_unique<nn::Sequential>();
    for (const Step& step : steps) {
      const onnx::NodeProto& node = g_.node(step.node);
      if (step.residual) {
        seq->add(build_residual(step, shape));
        continue;
      }
      NodeContext context{node, constants_, shape, batch_symbolic_, {}};
      for (const auto& out : node.output()) context.output_used.push_back(uses_.count(out) > 0);
      std::unique_ptr<nn::Layer> layer = make_layer(context);
      if (!layer) continue;
      try {
        shape = layer->output_shape(shape);
      } catch (const Error& e) {
        CONVNET_FAIL(kOp, ": ", describe(node), ": ", e.what());
      }
      seq->add(std::move(layer));
    }
    return seq;
  }

  std::unique_ptr<nn::Layer> build_residual(const Step& step, Shape& shape) {
    const onnx::NodeProto& add = g_.node(step.node);
    Shape body_shape = shape, shortcut_shape = shape;
    auto body = build_steps(step.body, body_shape);
    auto shortcut = build_steps(step.shortcut, shortcut_shape);
    if (body->size() == 0) {  // the identity branch is the shortcut
      std::swap(body, shortcut);
      std::swap(body_shape, shortcut_shape);
    }
    CONVNET_CHECK(body->size() > 0, kOp, ": ", describe(add),
                  ": adds a value to itself; only a sum of two branches is supported");
    CONVNET_CHECK(body_shape == shortcut_shape, kOp, ": ", describe(add), ": its branches give ",
                  body_shape, " and ", shortcut_shape, " (ONNX would broadcast; convnet does not)");
    shape = body_shape;
    std::unique_ptr<nn::Layer> shortcut_layer;
    if (shortcut->size() > 0) shortcut_layer = std::move(shortcut);
    return std::make_unique<nn::Residual>(std::move(body), std::move(shortcut_layer));
  }

  const onnx::GraphProto& g_;
  int64_t opset_ = 0;
  Constants constants_;
  std::map<std::string, int> producer_;
  std::map<std::string, int> uses_;
  std::map<int, std::string> splits_;
  std::string input_, output_;
  std::vector<int64_t> input_dims_;
  bool batch_symbolic_ = false;
};

}  // namespace

OnnxModel import_onnx_bytes(const void* data, size_t size) {
  CONVNET_CHECK(size <= static_cast<size_t>(INT32_MAX), kOp, ": ", size,
                " bytes: protobuf messages are at most 2 GiB");
  onnx::ModelProto model;
  CONVNET_CHECK(model.ParseFromArray(data, static_cast<int>(size)), kOp,
                ": not an ONNX model (the bytes do not parse as a ModelProto; truncated or corrupt?)");
  CONVNET_CHECK(model.has_graph(), kOp, ": the model has no graph");
  OnnxModel result;
  Graph graph(model);
  result.model = graph.build(result);
  return result;
}

OnnxModel import_onnx(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  CONVNET_CHECK(in.good(), kOp, ": cannot open ", path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CONVNET_CHECK(!in.bad(), kOp, ": cannot read ", path);
  try {
    return import_onnx_bytes(bytes.data(), bytes.size());
  } catch (const Error& e) {
    CONVNET_FAIL(path, ": ", e.what());
  }
}

}  // namespace convnet::io
