// ONNX import of files convnet did not write: what it cannot represent is
// refused naming the node, its operator and the attribute, and malformed files
// (sizes, types, graph structure) are errors, never crashes. Built with ONNX's
// generated messages, as a producer would write them.
#ifdef CONVNET_WITH_ONNX
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <functional>

#include "convnet/convnet.hpp"
#include "convnet/io/onnx.hpp"

namespace convnet {
namespace {

onnx::TensorProto floats(const std::string& name, std::vector<int64_t> dims, float value = 0.1f) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t.add_dims(d);
    n *= d;
  }
  for (int64_t i = 0; i < n; ++i) t.add_float_data(value + 0.01f * static_cast<float>(i % 7));
  return t;
}

onnx::NodeProto& node(onnx::GraphProto& g, const std::string& op, std::vector<std::string> in,
                      std::vector<std::string> out, const std::string& name) {
  onnx::NodeProto& n = *g.add_node();
  n.set_op_type(op);
  n.set_name(name);
  for (auto& i : in) n.add_input(i);
  for (auto& o : out) n.add_output(o);
  return n;
}

void attr_ints(onnx::NodeProto& n, const std::string& name, std::vector<int64_t> v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void attr_int(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attr_float(onnx::NodeProto& n, const std::string& name, float v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void value_info(onnx::ValueInfoProto& v, const std::string& name, std::vector<int64_t> dims) {
  v.set_name(name);
  auto* t = v.mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) {
    auto* dim = t->mutable_shape()->add_dim();
    if (d < 0) dim->set_dim_param("N");
    else dim->set_dim_value(d);
  }
}

// A model: input "x" [N, 2, 6, 6], output "y", opset 13; `fill` adds nodes and initializers.
onnx::ModelProto model(const std::function<void(onnx::GraphProto&)>& fill, int64_t opset = 13,
                       std::vector<int64_t> input_dims = {-1, 2, 6, 6}) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  auto* o = m.add_opset_import();
  o->set_domain("");
  o->set_version(opset);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("test");
  value_info(*g.add_input(), "x", input_dims);
  fill(g);
  value_info(*g.add_output(), "y", {});
  return m;
}

io::OnnxModel import(const onnx::ModelProto& m) {
  const std::string bytes = m.SerializeAsString();
  return io::import_onnx_bytes(bytes.data(), bytes.size());
}

void expect_refused(const onnx::ModelProto& m, std::vector<std::string> needles) {
  try {
    import(m);
    ADD_FAILURE() << "imported; expected a refusal mentioning " << needles[0];
  } catch (const Error& e) {
    for (const auto& needle : needles) EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// conv: Conv 2->3, 3x3, with the given extra attribute setter.
onnx::ModelProto conv_model(const std::function<void(onnx::NodeProto&)>& attrs) {
  return model([&](onnx::GraphProto& g) {
    *g.add_initializer() = floats("w", {3, 2, 3, 3});
    onnx::NodeProto& n = node(g, "Conv", {"x", "w"}, {"y"}, "conv");
    attrs(n);
  });
}

TEST(OnnxImport, ConvWithPyTorchsAttributesImports) {
  io::OnnxModel m = import(conv_model([](onnx::NodeProto& n) {
    attr_ints(n, "kernel_shape", {3, 3});
    attr_ints(n, "pads", {1, 1, 1, 1});
    attr_ints(n, "strides", {2, 2});
    attr_ints(n, "dilations", {1, 1});
    attr_int(n, "group", 1);
  }));
  ASSERT_EQ(m.model->size(), 1u);
  auto* conv = dynamic_cast<nn::Conv2d*>(&(*m.model)[0]);
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->options().padding(), nn::Pair(1, 1));
  EXPECT_EQ(conv->options().stride(), nn::Pair(2, 2));
  EXPECT_EQ(conv->bias(), nullptr);
  EXPECT_EQ(m.model->output_shape(Shape{5, 2, 6, 6}), (Shape{5, 3, 3, 3}));
}

TEST(OnnxImport, RefusesAttributesItCannotRepresent) {
  expect_refused(conv_model([](onnx::NodeProto& n) { attr_ints(n, "pads", {1, 1, 0, 0}); }),
                 {"node 'conv' (Conv)", "'pads'", "asymmetric"});
  expect_refused(conv_model([](onnx::NodeProto& n) { attr_int(n, "group", 2); }), {"'conv' (Conv)", "'group'"});
  expect_refused(conv_model([](onnx::NodeProto& n) {
                   auto* a = n.add_attribute();
                   a->set_name("auto_pad");
                   a->set_type(onnx::AttributeProto::STRING);
                   a->set_s("SAME_UPPER");
                 }),
                 {"'auto_pad'", "SAME_UPPER"});
  expect_refused(conv_model([](onnx::NodeProto& n) { attr_int(n, "strange", 1); }), {"'strange'"});
  expect_refused(conv_model([](onnx::NodeProto& n) { attr_ints(n, "kernel_shape", {5, 5}); }), {"'kernel_shape'"});
  expect_refused(model([](onnx::GraphProto& g) {
                   node(g, "Flatten", {"x"}, {"f"}, "flat");
                   *g.add_initializer() = floats("w", {4, 72});
                   attr_float(node(g, "Gemm", {"f", "w"}, {"y"}, "fc"), "alpha", 2.f);
                 }),
                 {"'fc' (Gemm)", "'alpha'"});
  expect_refused(model([](onnx::GraphProto& g) { node(g, "Erf", {"x"}, {"y"}, "erf"); }),
                 {"node 'erf' (Erf)", "not supported"});
  expect_refused(model([](onnx::GraphProto& g) {
                   attr_ints(node(g, "MaxPool", {"x"}, {"y", "idx"}, "pool"), "kernel_shape", {2, 2});
                   node(g, "Relu", {"idx"}, {"unused"}, "reads_indices");
                 }),
                 {"'pool' (MaxPool)", "output 1"});
  expect_refused(model([](onnx::GraphProto& g) {
                   *g.add_initializer() = floats("c", {1, 2, 6, 6});
                   node(g, "Add", {"x", "c"}, {"y"}, "bias_add");
                 }),
                 {"'bias_add' (Add)", "constant"});
  expect_refused(model([](onnx::GraphProto& g) { node(g, "Softmax", {"x"}, {"y"}, "sm"); }),
                 {"'sm' (Softmax)", "'axis'"});  // default -1 on rank 4 is not dimension 1
}

TEST(OnnxImport, RefusesOpsetsAndGraphsOutsideItsRange) {
  expect_refused(model([](onnx::GraphProto& g) { node(g, "Relu", {"x"}, {"y"}, "r"); }, 11), {"opset 11"});
  expect_refused(model([](onnx::GraphProto& g) {
                   value_info(*g.add_input(), "x2", {-1, 2, 6, 6});
                   node(g, "Relu", {"x"}, {"y"}, "r");
                 }),
                 {"more than one input"});
  expect_refused(model([](onnx::GraphProto& g) { node(g, "Relu", {"x"}, {"y"}, "r"); }, 13, {-1, 2, -1, 6}),
                 {"dimension 2"});
  // y = relu(z), z = relu(y): a cycle, and nodes out of topological order
  expect_refused(model([](onnx::GraphProto& g) {
                   node(g, "Relu", {"z"}, {"y"}, "a");
                   node(g, "Relu", {"y"}, {"z"}, "b");
                 }),
                 {"later node"});
  expect_refused(model([](onnx::GraphProto& g) { node(g, "Relu", {"nowhere"}, {"y"}, "r"); }),
                 {"'nowhere'"});
}

TEST(OnnxImport, InitializerSizesAreCheckedAgainstTheirData) {
  onnx::ModelProto short_data = conv_model([](onnx::NodeProto&) {});
  short_data.mutable_graph()->mutable_initializer(0)->mutable_float_data()->RemoveLast();
  expect_refused(short_data, {"53 values", "54"});

  onnx::ModelProto raw = conv_model([](onnx::NodeProto&) {});
  auto* w = raw.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_raw_data(std::string(54 * 4 - 1, '\0'));
  expect_refused(raw, {"raw_data holds 215 bytes"});

  onnx::ModelProto negative = conv_model([](onnx::NodeProto&) {});
  negative.mutable_graph()->mutable_initializer(0)->set_dims(0, -3);
  expect_refused(negative, {"negative dimension"});

  onnx::ModelProto huge = conv_model([](onnx::NodeProto&) {});
  huge.mutable_graph()->mutable_initializer(0)->set_dims(0, int64_t{1} << 40);
  expect_refused(huge, {"more than"});

  onnx::ModelProto typed = conv_model([](onnx::NodeProto&) {});
  typed.mutable_graph()->mutable_initializer(0)->set_data_type(onnx::TensorProto::DOUBLE);
  expect_refused(typed, {"element type 11"});

  const std::string garbage = "\x08\x07\x12\xff\xff\xff\xff\x0f garbage";
  EXPECT_THROW(io::import_onnx_bytes(garbage.data(), garbage.size()), Error);
  EXPECT_THROW(io::import_onnx("/nonexistent/model.onnx"), Error);
}

TEST(OnnxImport, ResidualBranchesBecomeResidualBlocks) {
  // y = relu(conv2(relu(conv1(x))) + x), then a projection branch: z = relu(body(y) + proj(y))
  io::OnnxModel m = import(model([](onnx::GraphProto& g) {
    *g.add_initializer() = floats("w1", {2, 2, 3, 3});
    *g.add_initializer() = floats("w2", {2, 2, 3, 3}, -0.05f);
    *g.add_initializer() = floats("w3", {4, 2, 3, 3});
    *g.add_initializer() = floats("wp", {4, 2, 1, 1});
    attr_ints(node(g, "Conv", {"x", "w1"}, {"a"}, "c1"), "pads", {1, 1, 1, 1});
    node(g, "Relu", {"a"}, {"b"}, "r1");
    attr_ints(node(g, "Conv", {"b", "w2"}, {"c"}, "c2"), "pads", {1, 1, 1, 1});
    node(g, "Add", {"c", "x"}, {"d"}, "add1");
    node(g, "Relu", {"d"}, {"e"}, "r2");
    attr_ints(node(g, "Conv", {"e", "w3"}, {"f"}, "c3"), "pads", {1, 1, 1, 1});
    node(g, "Conv", {"e", "wp"}, {"p"}, "proj");
    node(g, "Add", {"p", "f"}, {"h"}, "add2");  // the projection first, as either order may come
    node(g, "Relu", {"h"}, {"y"}, "r3");
  }));
  ASSERT_EQ(m.model->size(), 4u);  // Residual, ReLU, Residual, ReLU
  auto* first = dynamic_cast<nn::Residual*>(&(*m.model)[0]);
  auto* second = dynamic_cast<nn::Residual*>(&(*m.model)[2]);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->shortcut(), nullptr);
  ASSERT_NE(second->shortcut(), nullptr);
  EXPECT_EQ(m.model->output_shape(Shape{3, 2, 6, 6}), (Shape{3, 4, 6, 6}));
  m.model->set_backend(Backend::Kind::Cpu);
  const Tensor x = Tensor::randn(Shape{2, 2, 6, 6}, Device::cpu(), 5);
  const Tensor y = m.model->forward(x, nn::Mode::Eval);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 6, 6}));
}

TEST(OnnxImport, ReshapeToBatchByRestIsFlattenAndOthersAreRefused) {
  auto reshape = [](std::vector<int64_t> target) {
    return model([target](onnx::GraphProto& g) {
      onnx::TensorProto& shape = *g.add_initializer();
      shape.set_name("shape");
      shape.set_data_type(onnx::TensorProto::INT64);
      shape.add_dims(static_cast<int64_t>(target.size()));
      for (int64_t v : target) shape.add_int64_data(v);
      node(g, "Reshape", {"x", "shape"}, {"y"}, "reshape");
    });
  };
  for (auto ok : {std::vector<int64_t>{0, -1}, {-1, 72}, {0, 72}}) {
    io::OnnxModel m = import(reshape(ok));
    ASSERT_EQ(m.model->size(), 1u);
    EXPECT_NE(dynamic_cast<nn::Flatten*>(&(*m.model)[0]), nullptr);
  }
  expect_refused(reshape({-1, 36}), {"'reshape' (Reshape)", "[-1, 36]"});
  expect_refused(reshape({4, -1}), {"only a flatten"});  // a fixed batch on a symbolic one
  expect_refused(reshape({0, 2, 36}), {"only a flatten"});
}

}  // namespace
}  // namespace convnet
#endif  // CONVNET_WITH_ONNX
