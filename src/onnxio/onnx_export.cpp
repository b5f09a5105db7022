// ONNX export: walks the model's layers and writes each as the standard
// operators that compute exactly what it computes in Mode::Eval; anything else
// is refused (convnet/io/onnx.hpp has the table).
#include <onnx/checker.h>

#include <vector>

#include "convnet/error.hpp"
#include "convnet/io/onnx.hpp"
#include "convnet/nn/batch_norm.hpp"
#include "convnet/nn/layers.hpp"
#include "convnet/nn/residual.hpp"
#include "convnet/nn/resnet.hpp"
#include "convnet/version.hpp"
#include "io/atomic_file.hpp"
#include "onnxio/onnx_internal.hpp"

namespace convnet::io {
namespace {

using onnx_detail::set_float_tensor;

// IR version 7 is the one released with opset 13: every reader of opset 13 takes it.
constexpr int64_t kIrVersion = 7;

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

class Exporter {
 public:
  explicit Exporter(onnx::GraphProto& graph) : graph_(graph) {}

  // Adds the operators of `layer` (its parameters named from `path`) reading
  // value `in` of shape `shape`; returns the output value, and updates shape.
  std::string emit(nn::Layer& layer, const std::string& path, const std::string& in,
                   Shape& shape) {
    if (auto* seq = dynamic_cast<nn::Sequential*>(&layer)) return emit_children(*seq, path, in, shape);
    if (auto* res = dynamic_cast<nn::Residual*>(&layer)) return emit_residual(*res, path, in, shape);
    if (auto* block = dynamic_cast<nn::BasicBlock*>(&layer)) return emit_block(*block, path, in, shape);
    if (auto* net = dynamic_cast<nn::ResNet*>(&layer)) return emit_resnet(*net, path, in, shape);
    const Shape out_shape = layer.output_shape(shape);  // refuses an input that does not fit
    std::string out = emit_leaf(layer, path, in, shape);
    shape = out_shape;
    return out;
  }

 private:
  std::string emit_children(nn::Layer& layer, const std::string& path, std::string in, Shape& shape) {
    for (auto& [name, child] : layer.named_children()) in = emit(*child, join(path, name), in, shape);
    return in;
  }

  std::string emit_residual(nn::Residual& res, const std::string& path, const std::string& in,
                            Shape& shape) {
    Shape body_shape = shape, shortcut_shape = shape;
    const std::string body = emit(res.body(), join(path, "body"), in, body_shape);
    const std::string shortcut =
        res.shortcut() ? emit(*res.shortcut(), join(path, "shortcut"), in, shortcut_shape) : in;
    CONVNET_CHECK(body_shape == shortcut_shape, "export_onnx: ", path, ": the body gives ",
                  body_shape, " and the shortcut ", shortcut_shape);
    shape = body_shape;
    std::string out = add_node("Add", path, {body, shortcut});
    return res.relu_after() ? add_node("Relu", path, {out}) : out;
  }

  std::string emit_block(nn::BasicBlock& block, const std::string& path, const std::string& in,
                         Shape& shape) {
    Shape body_shape = shape, shortcut_shape = shape;
    std::string x = emit(block.conv1(), join(path, "conv1"), in, body_shape);
    x = emit(block.bn1(), join(path, "bn1"), x, body_shape);
    x = add_node("Relu", join(path, "relu"), {x});
    x = emit(block.conv2(), join(path, "conv2"), x, body_shape);
    x = emit(block.bn2(), join(path, "bn2"), x, body_shape);
    const std::string shortcut =
        block.downsample() ? emit(*block.downsample(), join(path, "downsample"), in, shortcut_shape)
                           : in;
    CONVNET_CHECK(body_shape == shortcut_shape, "export_onnx: ", path, ": the block gives ",
                  body_shape, " and its shortcut ", shortcut_shape);
    shape = body_shape;
    return add_node("Relu", path, {add_node("Add", path, {x, shortcut})});
  }

  // conv1 -> bn1 -> relu -> layer1..K -> avgpool -> flatten -> fc, as ResNet::forward.
  std::string emit_resnet(nn::ResNet& net, const std::string& path, std::string x, Shape& shape) {
    for (auto& [name, child] : net.named_children()) {
      if (name == "fc") {
        x = add_node("Flatten", join(path, "flatten"), {x}, [](onnx::NodeProto& n) { set_int(n, "axis", 1); });
        shape = Shape{shape[0], shape.numel() / shape[0]};
      }
      x = emit(*child, join(path, name), x, shape);
    }
    return x;
  }

  std::string emit_leaf(nn::Layer& layer, const std::string& path, const std::string& in,
                        const Shape& shape) {
    if (auto* conv = dynamic_cast<nn::Conv2d*>(&layer)) {
      const auto& o = conv->options();
      std::vector<std::string> inputs{in, initializer(join(path, "weight"), conv->weight().value)};
      if (conv->bias()) inputs.push_back(initializer(join(path, "bias"), conv->bias()->value));
      return add_node("Conv", path, inputs, [&](onnx::NodeProto& n) {
        set_ints(n, "kernel_shape", {o.kernel_size().h, o.kernel_size().w});
        set_ints(n, "strides", {o.stride().h, o.stride().w});
        set_ints(n, "pads", {o.padding().h, o.padding().w, o.padding().h, o.padding().w});
        set_ints(n, "dilations", {o.dilation().h, o.dilation().w});
        set_int(n, "group", 1);
      });
    }
    if (auto* linear = dynamic_cast<nn::Linear*>(&layer)) {
      CONVNET_CHECK(shape.rank() == 2, "export_onnx: ", path, " (", layer.name(),
                    ") reads a rank-", shape.rank(), " input; Gemm needs [N, features]");
      std::vector<std::string> inputs{in, initializer(join(path, "weight"), linear->weight().value)};
      if (linear->bias()) inputs.push_back(initializer(join(path, "bias"), linear->bias()->value));
      return add_node("Gemm", path, inputs, [](onnx::NodeProto& n) {
        set_float(n, "alpha", 1.f);
        set_float(n, "beta", 1.f);
        set_int(n, "transB", 1);
      });
    }
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&layer)) return emit_batch_norm(*bn, path, in);
    if (auto* pool = dynamic_cast<nn::MaxPool2d*>(&layer)) {
      const auto& o = pool->options();
      const auto pads = pool_pads(layer, path, shape, o.kernel_size(), o.stride(), o.padding(), false);
      return add_node("MaxPool", path, {in}, [&](onnx::NodeProto& n) {
        set_pool_attributes(n, o.kernel_size(), o.stride(), pads);
      });
    }
    if (auto* pool = dynamic_cast<nn::AvgPool2d*>(&layer)) {
      const auto& o = pool->options();
      const auto pads = pool_pads(layer, path, shape, o.kernel_size(), o.stride(), o.padding(),
                                  o.count_include_pad());
      return add_node("AveragePool", path, {in}, [&](onnx::NodeProto& n) {
        set_pool_attributes(n, o.kernel_size(), o.stride(), pads);
        set_int(n, "count_include_pad", o.count_include_pad() ? 1 : 0);
      });
    }
    if (auto* pool = dynamic_cast<nn::AdaptiveAvgPool2d*>(&layer)) return emit_adaptive(*pool, path, in, shape);
    if (dynamic_cast<nn::Flatten*>(&layer)) {
      return add_node("Flatten", path, {in}, [](onnx::NodeProto& n) { set_int(n, "axis", 1); });
    }
    if (auto* dropout = dynamic_cast<nn::Dropout*>(&layer)) {
      // Opset 13's Dropout without training_mode is the identity, as Eval is.
      onnx::TensorProto& ratio = *graph_.add_initializer();
      ratio.set_name(join(path, "ratio"));
      ratio.set_data_type(onnx::TensorProto::FLOAT);
      ratio.add_float_data(dropout->options().p());
      return add_node("Dropout", path, {in, ratio.name()});
    }
    if (dynamic_cast<nn::LogSoftmax*>(&layer)) {
      return add_node("LogSoftmax", path, {in}, [](onnx::NodeProto& n) { set_int(n, "axis", 1); });
    }
    if (dynamic_cast<nn::Softmax*>(&layer)) {
      return add_node("Softmax", path, {in}, [](onnx::NodeProto& n) { set_int(n, "axis", 1); });
    }
    if (auto* leaky = dynamic_cast<nn::LeakyReLU*>(&layer)) {
      const float alpha = leaky->options().negative_slope();
      return add_node("LeakyRelu", path, {in}, [&](onnx::NodeProto& n) { set_float(n, "alpha", alpha); });
    }
    if (dynamic_cast<nn::ReLU*>(&layer)) return add_node("Relu", path, {in});
    if (dynamic_cast<nn::Sigmoid*>(&layer)) return add_node("Sigmoid", path, {in});
    if (dynamic_cast<nn::Tanh*>(&layer)) return add_node("Tanh", path, {in});
    CONVNET_FAIL("export_onnx: ", path.empty() ? "the model" : path, " (", layer.name(),
                 ") has no exact ONNX form; convnet exports Conv2d, Linear, BatchNorm2d, the "
                 "pools, activations, Flatten, Dropout, Softmax, LogSoftmax, Sequential, Residual, "
                 "BasicBlock and ResNet");
  }

  std::string emit_batch_norm(nn::BatchNorm2d& bn, const std::string& path, const std::string& in) {
    const auto& o = bn.options();
    CONVNET_CHECK(o.track_running_stats(), "export_onnx: ", path, " (", bn.name(),
                  ") has no running statistics, so in Mode::Eval it normalises with each batch's "
                  "own: ONNX's BatchNormalization cannot express that");
    const int64_t c = o.num_features();
    const Tensor scale = bn.weight() ? bn.weight()->value : Tensor::ones(Shape{c});
    const Tensor bias = bn.bias() ? bn.bias()->value : Tensor::zeros(Shape{c});
    std::vector<std::string> inputs{in, initializer(join(path, "weight"), scale),
                                    initializer(join(path, "bias"), bias),
                                    initializer(join(path, "running_mean"), bn.running_mean()),
                                    initializer(join(path, "running_var"), bn.running_var())};
    // PyTorch's momentum weighs the new batch; ONNX's weighs the running value.
    const float momentum = o.momentum() ? static_cast<float>(1.0 - *o.momentum()) : 0.9f;
    return add_node("BatchNormalization", path, inputs, [&](onnx::NodeProto& n) {
      set_float(n, "epsilon", static_cast<float>(o.eps()));
      set_float(n, "momentum", momentum);
    });
  }

  // Output 1x1 is GlobalAveragePool; an output that divides the input evenly
  // has equal windows, which AveragePool computes; other sizes have windows of
  // different sizes that no single ONNX pool computes.
  std::string emit_adaptive(nn::AdaptiveAvgPool2d& pool, const std::string& path,
                            const std::string& in, const Shape& shape) {
    const nn::Pair out = pool.options().output_size();
    if (out.h == 1 && out.w == 1) return add_node("GlobalAveragePool", path, {in});
    const int64_t h = shape[2], w = shape[3];
    CONVNET_CHECK(h % out.h == 0 && w % out.w == 0, "export_onnx: ", path, " (", pool.name(),
                  ") on a ", h, "x", w, " input has windows of different sizes; ONNX pools only "
                  "with one window size (use an input that ", out.h, "x", out.w, " divides)");
    const int kh = static_cast<int>(h / out.h), kw = static_cast<int>(w / out.w);
    return add_node("AveragePool", path, {in}, [&](onnx::NodeProto& n) {
      set_pool_attributes(n, nn::Pair(kh, kw), nn::Pair(kh, kw), {0, 0, 0, 0});
      set_int(n, "count_include_pad", 0);
    });
  }

  std::string initializer(const std::string& name, const Tensor& value) {
    set_float_tensor(*graph_.add_initializer(), name, value);
    return name;
  }

  template <typename Fill>
  std::string add_node(const std::string& op, const std::string& path,
                       const std::vector<std::string>& inputs, const Fill& fill) {
    onnx::NodeProto& node = *graph_.add_node();
    node.set_op_type(op);
    node.set_name((path.empty() ? "" : path + ".") + op + "_" + std::to_string(graph_.node_size()));
    for (const auto& i : inputs) node.add_input(i);
    node.add_output(node.name() + "_output");
    fill(node);
    return node.output(0);
  }
  std::string add_node(const std::string& op, const std::string& path,
                       const std::vector<std::string>& inputs) {
    return add_node(op, path, inputs, [](onnx::NodeProto&) {});
  }

  // Pads [top, left, bottom, right] for a pool written with ceil_mode 0. Runtimes
  // disagree on ceil_mode 1 when the last window starts in the padding (PyTorch
  // drops it; ONNX before opset 19 says nothing), so the extra windows of
  // PyTorch's ceil_mode become explicit padding at the end instead: exact for
  // max pooling (padding never wins) and for averages that leave padding out of
  // the divisor. An average that counts padding would count that extra padding
  // too, where PyTorch clips the window: refused.
  static std::vector<int64_t> pool_pads(const nn::Layer& layer, const std::string& path,
                                        const Shape& in, nn::Pair k, nn::Pair s, nn::Pair p,
                                        bool divisor_counts_padding) {
    const Shape out = layer.output_shape(in);
    const auto extra = [](int64_t in_size, int64_t out_size, int kernel, int stride, int pad) {
      const int64_t e = (out_size - 1) * stride + kernel - (in_size + 2 * pad);
      return e > 0 ? e : 0;
    };
    const int64_t eh = extra(in[2], out[2], k.h, s.h, p.h), ew = extra(in[3], out[3], k.w, s.w, p.w);
    CONVNET_CHECK(!(divisor_counts_padding && (eh > 0 || ew > 0)), "export_onnx: ", path, " (",
                  layer.name(), ") on a ", in[2], "x", in[3], " input: with ceil_mode its last "
                  "window overhangs the padding, and PyTorch divides that window by the part inside "
                  "the padded input; ONNX's AveragePool cannot say that (count_include_pad=False can)");
    return {p.h, p.w, p.h + eh, p.w + ew};
  }
  static void set_pool_attributes(onnx::NodeProto& n, nn::Pair kernel, nn::Pair stride,
                                  const std::vector<int64_t>& pads) {
    set_ints(n, "kernel_shape", {kernel.h, kernel.w});
    set_ints(n, "strides", {stride.h, stride.w});
    auto* a = n.add_attribute();
    a->set_name("pads");
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : pads) a->add_ints(v);
    set_int(n, "ceil_mode", 0);
  }
  static void set_int(onnx::NodeProto& n, const char* name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void set_float(onnx::NodeProto& n, const char* name, float v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void set_ints(onnx::NodeProto& n, const char* name, std::initializer_list<int64_t> v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }

  onnx::GraphProto& graph_;
};

void set_value_info(onnx::ValueInfoProto& info, const std::string& name, const Shape& shape,
                    bool dynamic_batch) {
  info.set_name(name);
  auto* tensor = info.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  for (int d = 0; d < shape.rank(); ++d) {
    auto* dim = tensor->mutable_shape()->add_dim();
    if (d == 0 && dynamic_batch) dim->set_dim_param("N");
    else dim->set_dim_value(shape[d]);
  }
}

onnx::ModelProto build_model(nn::Layer& model, const Shape& input_shape,
                             const OnnxExportOptions& options) {
  CONVNET_CHECK(input_shape.rank() >= 2 && input_shape[0] >= 1, "export_onnx: the input shape ",
                input_shape, " needs a batch dimension and at least one more");
  CONVNET_CHECK(!options.input_name.empty() && !options.output_name.empty() &&
                    options.input_name != options.output_name,
                "export_onnx: the input and output names must be non-empty and differ");
  onnx::ModelProto proto;
  proto.set_ir_version(kIrVersion);
  proto.set_producer_name("convnet");
  proto.set_producer_version(CONVNET_VERSION_STRING);
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto& graph = *proto.mutable_graph();
  graph.set_name(options.graph_name);
  Shape shape = input_shape;
  Exporter exporter(graph);
  const std::string last = exporter.emit(model, "", options.input_name, shape);
  // The output gets its public name: the last node's output is renamed, or an
  // Identity carries the input through when the model has no nodes.
  if (graph.node_size() == 0) {
    auto* node = graph.add_node();
    node->set_op_type("Identity");
    node->set_name("Identity_1");
    node->add_input(last);
    node->add_output(options.output_name);
  } else {
    onnx::NodeProto& node = *graph.mutable_node(graph.node_size() - 1);
    CONVNET_CHECK(node.output(0) == last, "export_onnx: internal error: the last node is not the output");
    node.set_output(0, options.output_name);
  }
  set_value_info(*graph.add_input(), options.input_name, input_shape, options.dynamic_batch);
  set_value_info(*graph.add_output(), options.output_name, shape, options.dynamic_batch);
  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    CONVNET_FAIL("export_onnx: ONNX's checker refused the model we built (a convnet bug): ", e.what());
  }
  return proto;
}

}  // namespace

std::string export_onnx_bytes(nn::Layer& model, const Shape& input_shape,
                              const OnnxExportOptions& options) {
  const onnx::ModelProto proto = build_model(model, input_shape, options);
  std::string bytes;
  CONVNET_CHECK(proto.SerializeToString(&bytes), "export_onnx: the model does not serialize (over 2 GiB?)");
  return bytes;
}

void export_onnx(nn::Layer& model, const Shape& input_shape, const std::string& path,
                 const OnnxExportOptions& options) {
  const std::string bytes = export_onnx_bytes(model, input_shape, options);
  detail::AtomicFile file("export_onnx", path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

bool onnx_available() { return true; }

}  // namespace convnet::io
