// ONNX nodes as convnet layers: each operator with the attributes convnet can
// compute exactly; anything else is refused naming node, operator and attribute.
#include <charconv>
#include <cstdlib>

#include "convnet/error.hpp"
#include "convnet/nn/batch_norm.hpp"
#include "convnet/nn/layers.hpp"
#include "onnxio/onnx_import_internal.hpp"

namespace convnet::io::onnx_detail {
namespace {

// The double a person would write for this float (1e-05f -> 1e-05), so that
// an epsilon exported from 1e-5 comes back as 1e-5.
double shortest_double(float value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::strtod(std::string(buffer, result.ptr).c_str(), nullptr);
}

class Converter {
 public:
  explicit Converter(const NodeContext& c)
      : c_(c), node_(c.node), where_(describe(c.node)), attrs_(c.node, where_) {}

  std::unique_ptr<nn::Layer> convert() {
    const std::string& op = node_.op_type();
    if (op == "Conv") return conv();
    if (op == "Gemm") return gemm();
    if (op == "MaxPool" || op == "AveragePool") return pool(op == "MaxPool");
    if (op == "GlobalAveragePool") return global_average_pool();
    if (op == "BatchNormalization") return batch_norm();
    if (op == "Relu" || op == "Sigmoid" || op == "Tanh") return activation(op);
    if (op == "LeakyRelu") return leaky_relu();
    if (op == "Softmax" || op == "LogSoftmax") return softmax(op == "LogSoftmax");
    if (op == "Flatten") return flatten();
    if (op == "Reshape") return reshape();
    if (op == "Dropout") return dropout();
    if (op == "Identity") {
      attrs_.only({});
      inputs(1, 1);
      return nullptr;
    }
    CONVNET_FAIL(where_, ": the operator is not supported; convnet imports Conv, Gemm, MaxPool, "
                 "AveragePool, GlobalAveragePool, BatchNormalization, Relu, LeakyRelu, Sigmoid, "
                 "Tanh, Softmax, LogSoftmax, Flatten, Reshape (to [N, -1]), Dropout, Identity, "
                 "Constant and Add (of two branches)");
  }

 private:
  std::unique_ptr<nn::Layer> conv() {
    attrs_.only({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
    inputs(2, 3);
    require_rank(4);
    only_first_output();
    const std::vector<int64_t> w_dims = constant_dims(1, "W");
    CONVNET_CHECK(w_dims.size() == 4, where_, ": the weight W has ", w_dims.size(),
                  " dimensions where [out, in, kh, kw] is needed");
    CONVNET_CHECK(attrs_.get_int("group", 1) == 1, where_, ": attribute 'group' = ",
                  attrs_.get_int("group", 1), ": grouped convolution is not supported");
    const auto kernel = attrs_.get_ints("kernel_shape", {w_dims[2], w_dims[3]});
    CONVNET_CHECK(kernel == std::vector<int64_t>({w_dims[2], w_dims[3]}), where_,
                  ": attribute 'kernel_shape' disagrees with the weight's ", w_dims[2], "x", w_dims[3]);
    CONVNET_CHECK(w_dims[1] == c_.input_shape[1], where_, ": the weight reads ", w_dims[1],
                  " input channels, the input has ", c_.input_shape[1]);
    const auto strides = pair_attr("strides", 1);
    const auto dilations = pair_attr("dilations", 1);
    const auto pads = symmetric_pads();
    const bool has_bias = input_present(2);
    auto layer = std::make_unique<nn::Conv2d>(
        nn::Conv2dOptions(to_int(w_dims[1], "in channels"), to_int(w_dims[0], "out channels"),
                          nn::Pair(to_int(w_dims[2], "kernel"), to_int(w_dims[3], "kernel")))
            .stride(strides)
            .padding(pads)
            .dilation(dilations)
            .bias(has_bias));
    assign(layer->weight().value, 1, "W");
    if (has_bias) assign(layer->bias()->value, 2, "B");
    return layer;
  }

  std::unique_ptr<nn::Layer> gemm() {
    attrs_.only({"alpha", "beta", "transA", "transB"});
    inputs(2, 3);
    require_rank(2);
    only_first_output();
    CONVNET_CHECK(attrs_.get_float("alpha", 1.f) == 1.f, where_, ": attribute 'alpha' = ",
                  attrs_.get_float("alpha", 1.f), ": only 1 computes exactly as Linear");
    CONVNET_CHECK(attrs_.get_float("beta", 1.f) == 1.f, where_, ": attribute 'beta' = ",
                  attrs_.get_float("beta", 1.f), ": only 1 computes exactly as Linear");
    CONVNET_CHECK(attrs_.get_int("transA", 0) == 0, where_,
                  ": attribute 'transA' = 1: the data input must not be transposed");
    const bool trans_b = attrs_.get_int("transB", 0) != 0;
    const std::vector<int64_t> b_dims = constant_dims(1, "B");
    CONVNET_CHECK(b_dims.size() == 2, where_, ": the weight B has ", b_dims.size(),
                  " dimensions where 2 are needed");
    const int64_t in = trans_b ? b_dims[1] : b_dims[0], out = trans_b ? b_dims[0] : b_dims[1];
    CONVNET_CHECK(in == c_.input_shape[1], where_, ": the weight reads ", in,
                  " features, the input has ", c_.input_shape[1]);
    const bool has_bias = input_present(2);
    auto layer = std::make_unique<nn::Linear>(
        nn::LinearOptions(to_int(in, "in features"), to_int(out, "out features")).bias(has_bias));
    std::vector<float> w = floats(1, "B");
    if (!trans_b) {  // B is [in, out]; Linear keeps [out, in]
      std::vector<float> t(w.size());
      for (int64_t i = 0; i < in; ++i)
        for (int64_t o = 0; o < out; ++o) t[o * in + i] = w[i * out + o];
      w.swap(t);
    }
    layer->weight().value.copy_from(Tensor::from_vector(w, Shape{out, in}));
    if (has_bias) {
      const std::vector<int64_t> c_dims = constant_dims(2, "C");
      const bool fits = (c_dims.size() == 1 && c_dims[0] == out) ||
                        (c_dims.size() == 2 && c_dims[0] == 1 && c_dims[1] == out);
      CONVNET_CHECK(fits, where_, ": the bias C has shape ", format_dims(c_dims), " where [", out,
                    "] or [1, ", out, "] is needed");
      layer->bias()->value.copy_from(Tensor::from_vector(floats(2, "C"), Shape{out}));
    }
    return layer;
  }

  std::unique_ptr<nn::Layer> pool(bool max) {
    if (max) attrs_.only({"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
    else attrs_.only({"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"});
    inputs(1, 1);
    require_rank(4);
    only_first_output();  // MaxPool's Indices are not ours (int32 argmax, another layout)
    CONVNET_CHECK(attrs_.has("kernel_shape"), where_, ": attribute 'kernel_shape' is missing");
    const nn::Pair kernel = pair_attr("kernel_shape", 1);
    CONVNET_CHECK(pair_attr("dilations", 1) == nn::Pair(1, 1), where_,
                  ": attribute 'dilations': dilated pooling is not supported");
    CONVNET_CHECK(attrs_.get_int("storage_order", 0) == 0, where_,
                  ": attribute 'storage_order' = 1 (column-major indices) is not supported");
    const nn::Pair strides = pair_attr("strides", 1);  // ONNX's default is 1, PyTorch's the kernel
    // ONNX's default leaves padding out of the divisor; PyTorch's counts it.
    const bool include_pad = !max && attrs_.get_int("count_include_pad", 0) != 0;
    const std::vector<int64_t> p = pads();
    const Shape& in = c_.input_shape;
    // The output ONNX's rule gives (floor, or ceil without PyTorch's dropped window).
    const bool onnx_ceil = attrs_.get_int("ceil_mode", 0) != 0;
    const auto onnx_out = [&](int64_t size, int64_t k, int64_t s, int64_t begin, int64_t end, bool up) {
      const int64_t span = size + begin + end - k;
      CONVNET_CHECK(span >= 0 && s > 0, where_, ": the window does not fit the padded input");
      return (up ? (span + s - 1) / s : span / s) + 1;
    };
    const int64_t out_h = onnx_out(in[2], kernel.h, strides.h, p[0], p[2], onnx_ceil);
    const int64_t out_w = onnx_out(in[3], kernel.w, strides.w, p[1], p[3], onnx_ceil);
    // Runtimes disagree on ceil_mode 1 when it adds a window: accepted only where it adds none.
    CONVNET_CHECK(!onnx_ceil || (out_h == onnx_out(in[2], kernel.h, strides.h, p[0], p[2], false) &&
                                 out_w == onnx_out(in[3], kernel.w, strides.w, p[1], p[3], false)),
                  where_, ": attribute 'ceil_mode' = 1 adds a window on this ", in[2], "x", in[3],
                  " input, where runtimes disagree (PyTorch drops one that starts in the padding); "
                  "write the extra window as end padding with ceil_mode 0");
    // Extra padding at the bottom/right is PyTorch's ceil_mode (convnet's export
    // writes it so): exact for max pooling and for averages over the input only.
    CONVNET_CHECK(p[2] >= p[0] && p[3] >= p[1], where_, ": attribute 'pads' = ", format_dims(p),
                  ": padding larger at the start than at the end is not supported");
    const bool extra = p[2] > p[0] || p[3] > p[1];
    CONVNET_CHECK(!extra || !include_pad, where_, ": attribute 'pads' = ", format_dims(p),
                  " with count_include_pad = 1: asymmetric padding counted in the divisor is not supported");
    const nn::Pair pad(to_int(p[0], "pads"), to_int(p[1], "pads"));
    std::unique_ptr<nn::Layer> layer;
    if (max) {
      layer = std::make_unique<nn::MaxPool2d>(
          nn::MaxPool2dOptions(kernel).stride(strides).padding(pad).ceil_mode(extra));
    } else {
      layer = std::make_unique<nn::AvgPool2d>(nn::AvgPool2dOptions(kernel)
                                                  .stride(strides)
                                                  .padding(pad)
                                                  .ceil_mode(extra)
                                                  .count_include_pad(include_pad));
    }
    const Shape out = layer->output_shape(in);
    CONVNET_CHECK(out[2] == out_h && out[3] == out_w, where_, ": attribute 'pads' = ", format_dims(p),
                  " gives ", out_h, "x", out_w, " windows on this ", in[2], "x", in[3],
                  " input; convnet pads unevenly only as PyTorch's ceil_mode does, which gives ",
                  out[2], "x", out[3]);
    return layer;
  }

  std::unique_ptr<nn::Layer> global_average_pool() {
    attrs_.only({});
    inputs(1, 1);
    require_rank(4);
    return std::make_unique<nn::AdaptiveAvgPool2d>(nn::Pair(1));
  }

  std::unique_ptr<nn::Layer> batch_norm() {
    attrs_.only({"epsilon", "momentum", "training_mode"});
    inputs(5, 5);
    require_rank(4);
    only_first_output();  // training-mode outputs (running statistics) are not in eval form
    CONVNET_CHECK(attrs_.get_int("training_mode", 0) == 0, where_,
                  ": attribute 'training_mode' = 1: only the eval form (running statistics) is supported");
    const int64_t c = c_.input_shape[1];
    static const char* names[] = {"", "scale", "B", "input_mean", "input_var"};
    for (int i = 1; i <= 4; ++i) {
      const std::vector<int64_t> dims = constant_dims(i, names[i]);
      CONVNET_CHECK(dims.size() == 1 && dims[0] == c, where_, ": input ", names[i], " has shape ",
                    format_dims(dims), " where [", c, "] (the input's channels) is needed");
    }
    const float epsilon = attrs_.get_float("epsilon", 1e-5f);
    const float momentum = attrs_.get_float("momentum", 0.9f);
    CONVNET_CHECK(momentum >= 0.f && momentum <= 1.f, where_, ": attribute 'momentum' = ", momentum,
                  " is outside [0, 1]");
    auto layer = std::make_unique<nn::BatchNorm2d>(
        nn::BatchNorm2dOptions(c).eps(shortest_double(epsilon)).momentum(1.0 - shortest_double(momentum)));
    assign(layer->weight()->value, 1, "scale");
    assign(layer->bias()->value, 2, "B");
    assign(layer->running_mean(), 3, "input_mean");
    assign(layer->running_var(), 4, "input_var");
    return layer;
  }

  std::unique_ptr<nn::Layer> activation(const std::string& op) {
    attrs_.only({});
    inputs(1, 1);
    if (op == "Relu") return std::make_unique<nn::ReLU>();
    if (op == "Sigmoid") return std::make_unique<nn::Sigmoid>();
    return std::make_unique<nn::Tanh>();
  }

  std::unique_ptr<nn::Layer> leaky_relu() {
    attrs_.only({"alpha"});
    inputs(1, 1);
    return std::make_unique<nn::LeakyReLU>(attrs_.get_float("alpha", 0.01f));
  }

  std::unique_ptr<nn::Layer> softmax(bool log) {
    attrs_.only({"axis"});
    inputs(1, 1);
    const int64_t rank = c_.input_shape.rank();
    int64_t axis = attrs_.get_int("axis", -1);
    if (axis < 0) axis += rank;
    CONVNET_CHECK(axis == 1, where_, ": attribute 'axis' = ", attrs_.get_int("axis", -1),
                  " on a rank-", rank, " input: convnet normalises over dimension 1 only");
    if (log) return std::make_unique<nn::LogSoftmax>();
    return std::make_unique<nn::Softmax>();
  }

  std::unique_ptr<nn::Layer> flatten() {
    attrs_.only({"axis"});
    inputs(1, 1);
    int64_t axis = attrs_.get_int("axis", 1);
    if (axis < 0) axis += c_.input_shape.rank();
    CONVNET_CHECK(axis == 1, where_, ": attribute 'axis' = ", attrs_.get_int("axis", 1),
                  ": only axis 1 ([N, ...] -> [N, rest]) is supported");
    return std::make_unique<nn::Flatten>();
  }

  // PyTorch writes x.view(N, -1) / torch.flatten(x, 1) as Reshape to [N, rest]
  // with a constant shape: [0, -1], [-1, rest], [0, rest], or [B, ...] for a fixed batch B.
  std::unique_ptr<nn::Layer> reshape() {
    attrs_.only({"allowzero"});
    inputs(2, 2);
    const bool allow_zero = attrs_.get_int("allowzero", 0) != 0;
    const onnx::TensorProto* shape_proto = c_.constants.find(node_.input(1));
    CONVNET_CHECK(shape_proto != nullptr, where_,
                  ": the target shape must be a constant (an initializer or a Constant node)");
    const std::vector<int64_t> target = read_int64s(*shape_proto, where_ + ": the target shape");
    const Shape& in = c_.input_shape;
    const int64_t rest = in.numel() / in[0];
    bool flattens = false;
    if (target.size() == 2 && in.rank() >= 2) {
      const int64_t s0 = target[0], s1 = target[1];
      const bool keeps_batch = (s0 == 0 && !allow_zero) ||
                               (!c_.batch_is_symbolic && s0 == in[0]) || (s0 == -1 && s1 == rest);
      const bool rest_second = s1 == rest || (s1 == -1 && s0 != -1) ||
                               (s1 == 0 && !allow_zero && in[1] == rest);
      flattens = keeps_batch && rest_second;
    }
    CONVNET_CHECK(flattens, where_, ": target shape ", format_dims(target), " on input ",
                  c_.batch_is_symbolic ? "[N" : "[" + std::to_string(in[0]),
                  rest_dims(in), "]: only a flatten to [N, ", rest, "] is supported");
    return std::make_unique<nn::Flatten>();
  }

  std::unique_ptr<nn::Layer> dropout() {
    attrs_.only({"seed"});
    inputs(1, 3);
    only_first_output();  // the mask exists only in training
    float ratio = 0.5f;
    if (input_present(1)) {
      const std::vector<float> r = floats(1, "ratio");
      CONVNET_CHECK(r.size() == 1, where_, ": ratio must be one value");
      ratio = r[0];
    }
    if (input_present(2)) {
      const onnx::TensorProto* mode = c_.constants.find(node_.input(2));
      CONVNET_CHECK(mode != nullptr && mode->data_type() == onnx::TensorProto::BOOL, where_,
                    ": training_mode must be a constant bool");
      const std::vector<int64_t> dims = checked_dims(*mode, where_ + ": training_mode");
      const bool one = dims.empty() || (dims.size() == 1 && dims[0] == 1);
      const bool off = mode->has_raw_data() ? mode->raw_data() == std::string(1, '\0')
                                            : (mode->int32_data_size() == 1 && mode->int32_data(0) == 0);
      CONVNET_CHECK(one && off, where_, ": training_mode must be false (the inference form)");
    }
    CONVNET_CHECK(ratio >= 0.f && ratio < 1.f, where_, ": ratio ", ratio, " is outside [0, 1)");
    return std::make_unique<nn::Dropout>(ratio);
  }

  // ---- helpers
  void inputs(int min, int max) const {
    CONVNET_CHECK(node_.input_size() >= min && node_.input_size() <= max, where_, ": ",
                  node_.input_size(), " inputs where ", min, min == max ? "" : " to " + std::to_string(max),
                  " are expected");
  }
  bool input_present(int i) const { return node_.input_size() > i && !node_.input(i).empty(); }
  void require_rank(int rank) const {
    CONVNET_CHECK(c_.input_shape.rank() == rank, where_, ": the input has rank ",
                  c_.input_shape.rank(), " where ", rank, " is needed");
  }
  void only_first_output() const {
    for (size_t i = 1; i < c_.output_used.size(); ++i) {
      CONVNET_CHECK(!c_.output_used[i], where_, ": output ", i, " ('", node_.output(static_cast<int>(i)),
                    "') is used; convnet computes only the first");
    }
  }
  const onnx::TensorProto& constant(int i, const char* what) const {
    CONVNET_CHECK(input_present(i), where_, ": input ", what, " is missing");
    const onnx::TensorProto* t = c_.constants.find(node_.input(i));
    CONVNET_CHECK(t != nullptr, where_, ": input ", what, " ('", node_.input(i),
                  "') must be a constant (an initializer or a Constant node)");
    return *t;
  }
  std::vector<int64_t> constant_dims(int i, const char* what) const {
    return checked_dims(constant(i, what), where_ + ": " + what);
  }
  std::vector<float> floats(int i, const char* what) const {
    return read_floats(constant(i, what), where_ + ": " + what);
  }
  void assign(Tensor& target, int i, const char* what) const {
    const std::vector<int64_t> dims = constant_dims(i, what);
    CONVNET_CHECK(Shape(dims).numel() == target.numel(), where_, ": ", what, " has shape ",
                  format_dims(dims), " where ", target.shape(), " is needed");
    target.copy_from(Tensor::from_vector(floats(i, what), target.shape()));
  }
  nn::Pair pair_attr(const char* name, int64_t fallback) const {
    const auto v = attrs_.get_ints(name, {fallback, fallback});
    CONVNET_CHECK(v.size() == 2, where_, ": attribute '", name, "' has ", v.size(),
                  " values where 2 (height, width) are needed");
    return nn::Pair(to_int(v[0], name), to_int(v[1], name));
  }
  // [top, left, bottom, right], each in range.
  std::vector<int64_t> pads() const {
    const std::string auto_pad = attrs_.get_string("auto_pad", "NOTSET");
    CONVNET_CHECK(auto_pad == "NOTSET" || auto_pad == "VALID", where_, ": attribute 'auto_pad' = ",
                  auto_pad, ": only NOTSET (explicit pads) and VALID are supported");
    if (auto_pad == "VALID") {
      CONVNET_CHECK(!attrs_.has("pads"), where_, ": auto_pad VALID with explicit pads");
      return {0, 0, 0, 0};
    }
    const auto p = attrs_.get_ints("pads", {0, 0, 0, 0});
    CONVNET_CHECK(p.size() == 4, where_, ": attribute 'pads' has ", p.size(),
                  " values where 4 (top, left, bottom, right) are needed");
    for (int64_t v : p) to_int(v, "pads");
    return p;
  }
  nn::Pair symmetric_pads() const {
    const auto p = pads();
    CONVNET_CHECK(p[0] == p[2] && p[1] == p[3], where_, ": attribute 'pads' = [", p[0], ", ", p[1],
                  ", ", p[2], ", ", p[3], "]: asymmetric padding is not supported");
    return nn::Pair(to_int(p[0], "pads"), to_int(p[1], "pads"));
  }
  int to_int(int64_t v, const char* what) const {
    CONVNET_CHECK(v >= 0 && v <= (int64_t{1} << 30), where_, ": ", what, " = ", v, " is out of range");
    return static_cast<int>(v);
  }
  static std::string rest_dims(const Shape& s) {
    std::string out;
    for (int d = 1; d < s.rank(); ++d) out += ", " + std::to_string(s[d]);
    return out;
  }

  const NodeContext& c_;
  const onnx::NodeProto& node_;
  std::string where_;
  Attributes attrs_;
};

}  // namespace

std::unique_ptr<nn::Layer> make_layer(const NodeContext& context) {
  try {
    return Converter(context).convert();
  } catch (const Error& e) {
    const std::string message = e.what();
    const std::string where = describe(context.node);
    if (message.rfind(where, 0) == 0) throw;
    // A layer refusing its options (a pool's padding over half its window, ...).
    CONVNET_FAIL(where, ": ", message);
  }
}

}  // namespace convnet::io::onnx_detail
