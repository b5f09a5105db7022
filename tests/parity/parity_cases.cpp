// The table of parity cases. Adding an operation to the Backend interface means
// adding its cases here (see DESIGN.md, "Adding an operation").
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "parity/parity_harness.hpp"

namespace convnet::parity {

Tensor Inputs::quantized(const Shape& shape, int levels) {
  Tensor host = Tensor::rand(shape, Device::cpu(), next(), 0.f, static_cast<float>(levels));
  float* v = host.data<float>();
  for (int64_t i = 0; i < host.numel(); ++i) v[i] = std::floor(v[i]) * 0.5f;
  return host.to(device_);
}

Tensor Inputs::labels(int64_t n, int64_t classes) {
  Tensor u = Tensor::rand({n}, Device::cpu(), next(), 0.f, static_cast<float>(classes));
  std::vector<int32_t> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    values[i] = std::min<int32_t>(static_cast<int32_t>(u.data<float>()[i]), classes - 1);
  return Tensor::from_vector(values, {n}, device_);
}

Tensor Inputs::poisoned(const Shape& shape, DType dtype) {
  return Tensor::full(shape, dtype == DType::F32 ? std::numeric_limits<float>::quiet_NaN() : -777.f,
                      device_, dtype);
}

namespace {

std::string str(const std::initializer_list<int64_t>& parts, const char* sep = "_") {
  std::string s;
  for (int64_t p : parts) s += (s.empty() ? "" : sep) + std::to_string(p);
  return s;
}

struct ConvShape {
  int64_t n, c, h, w, k;
  int r, s;
  Conv2dParams p;
  bool bias;
  std::string name() const {
    return "n" + std::to_string(n) + "c" + std::to_string(c) + "_" + std::to_string(h) + "x" +
           std::to_string(w) + "_k" + std::to_string(k) + "_" + std::to_string(r) + "x" +
           std::to_string(s) + "_st" + std::to_string(p.stride_h) + str({p.stride_w}) + "_p" +
           std::to_string(p.pad_h) + str({p.pad_w}) + "_d" + std::to_string(p.dilation_h) +
           str({p.dilation_w}) + (bias ? "_bias" : "");
  }
  Shape out() const {
    return {n, k, conv2d_output_size(h, r, p.stride_h, p.pad_h, p.dilation_h),
            conv2d_output_size(w, s, p.stride_w, p.pad_w, p.dilation_w)};
  }
};

std::vector<ConvShape> conv_shapes() {
  return {
      {1, 1, 5, 5, 1, 3, 3, {}, true},
      {2, 3, 7, 5, 4, 3, 3, {2, 2, 1, 1, 1, 1}, true},
      {3, 2, 9, 8, 5, 3, 2, {1, 2, 2, 0, 2, 1}, false},
      {2, 32, 14, 14, 64, 5, 5, {1, 1, 2, 2, 1, 1}, true},  // the MNIST CNN's second conv
      {1, 5, 6, 11, 3, 1, 1, {2, 1, 0, 0, 1, 1}, true},
      {4, 1, 28, 28, 8, 5, 5, {1, 1, 2, 2, 1, 1}, true},
      // Shapes that cross the GPU kernels' tile boundaries (kernels/conv2d_gemm.cu).
      {1, 3, 57, 57, 130, 3, 3, {1, 1, 1, 1, 1, 1}, true},     // N = 1, 3 -> 130, 57x57
      {2, 130, 9, 9, 67, 3, 3, {2, 2, 1, 1, 1, 1}, true},      // 130 -> 67, stride 2
      {33, 4, 12, 12, 5, 3, 3, {1, 1, 2, 2, 2, 2}, false},     // batch 33, dilation 2
      {3, 64, 7, 7, 33, 1, 1, {1, 1, 0, 0, 1, 1}, true},       // 1x1
      {2, 3, 8, 8, 64, 3, 3, {1, 1, 1, 1, 1, 1}, true},        // GEMM rows = 128 exactly, CRS = 27
      {1, 8, 3, 43, 1, 1, 1, {1, 1, 0, 0, 1, 1}, false},       // rows = 129, K = 1
      {8, 15, 57, 57, 65, 3, 3, {1, 1, 1, 1, 1, 1}, true},     // CRS = 135, filter split 66 ways
      {128, 1, 28, 28, 32, 5, 5, {1, 1, 2, 2, 1, 1}, true},    // the MNIST CNN at batch 128
      {128, 32, 14, 14, 64, 5, 5, {1, 1, 2, 2, 1, 1}, true},
  };
}

struct PoolShape {
  int64_t n, c, h, w;
  Pool2dParams p;
  std::string name() const {
    const char* mode = p.mode == PoolMode::Max ? "max" : p.mode == PoolMode::AvgIncludePad ? "avg_incl" : "avg_excl";
    return std::string(mode) + "_n" + std::to_string(n) + "c" + std::to_string(c) + "_" +
           std::to_string(h) + "x" + std::to_string(w) + "_k" + std::to_string(p.kernel_h) +
           str({p.kernel_w}) + "_st" + std::to_string(p.stride_h) + str({p.stride_w}) + "_p" +
           std::to_string(p.pad_h) + str({p.pad_w}) + (p.ceil_mode ? "_ceil" : "");
  }
  Shape out() const {
    return {n, c, pool2d_output_size(h, p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode),
            pool2d_output_size(w, p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode)};
  }
};

std::vector<PoolShape> pool_shapes() {
  std::vector<PoolShape> shapes;
  for (PoolMode mode : {PoolMode::Max, PoolMode::AvgIncludePad, PoolMode::AvgExcludePad}) {
    shapes.push_back({2, 3, 8, 8, {mode, 2, 2, 2, 2, 0, 0, false}});
    shapes.push_back({1, 1, 7, 5, {mode, 3, 3, 2, 2, 1, 1, false}});
    shapes.push_back({3, 2, 9, 6, {mode, 3, 2, 2, 1, 1, 0, true}});
    shapes.push_back({2, 300, 5, 5, {mode, 2, 2, 1, 1, 0, 0, true}});
    shapes.push_back({128, 32, 28, 28, {mode, 2, 2, 2, 2, 0, 0, false}});  // the MNIST CNN's pool
  }
  return shapes;
}

// {257, 1031}: odd, not a multiple of 4 (the vectorised GPU kernels' scalar tail).
const std::vector<Shape> kPointwiseShapes = {{1, 1}, {3, 7}, {2, 3, 5, 7}, {4, 300, 3, 3}, {257, 1031}};
// {3, 1000}: a warp per row; {2, 1025} and {3, 4099}: a block per row on the GPU.
const std::vector<Shape> kSoftmaxShapes = {{1, 1},       {5, 10},       {3, 1000},
                                           {2, 1025},    {3, 4099},     {2, 7, 3, 5},
                                           {1, 300, 2, 2}, {128, 10}};

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::ReLU: return "relu";
    case Activation::LeakyReLU: return "leaky_relu";
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Tanh: return "tanh";
  }
  return "?";
}

// Conv and linear: each GPU column's bound and why, per math mode. TF32 keeps
// 10 mantissa bits: ~2^-11 per product, ~1e-3 norm-wise after accumulation.
Tolerance matmul_tolerance() {
  Tolerance t;
  t.overrides = {
      {Backend::Kind::Cuda, MathMode::TF32,
       {5e-3, "cuda under TF32: cuBLAS may multiply on TF32 tensor cores (10-bit mantissas)"}},
      {Backend::Kind::Cudnn, MathMode::FP32,
       {1e-5, "cudnn under FP32: engines with TF32 tensor cores, down-converted inputs, FFT or "
              "Winograd are deselected (conv_graphs.cpp) and cuBLASLt computes in "
              "CUBLAS_COMPUTE_32F, so plain float32"}},
      {Backend::Kind::Cudnn, MathMode::TF32,
       {5e-3, "cudnn under TF32: TF32 tensor-core engines (10-bit mantissas), FFT and Winograd "
              "are allowed"}},
  };
  return t;
}

void add_conv_cases(std::vector<ParityCase>& cases) {
  for (const ConvShape& cs : conv_shapes()) {
    const Shape in{cs.n, cs.c, cs.h, cs.w}, wt{cs.k, cs.c, cs.r, cs.s}, out = cs.out();
    cases.push_back({"conv2d_forward/" + cs.name(), [=](Backend& be, Inputs& in_) {
      Tensor x = in_.randn(in), w = in_.randn(wt, 0.2f), b = in_.randn({cs.k});
      Tensor y = in_.poisoned(out);
      be.conv2d_forward(x, w, cs.bias ? &b : nullptr, cs.p, y);
      return std::vector<Tensor>{y};
    }, matmul_tolerance()});
    // The fused form: the same convolution, then ReLU, in one call.
    cases.push_back({"conv2d_bias_relu_forward/" + cs.name(), [=](Backend& be, Inputs& in_) {
      Tensor x = in_.randn(in), w = in_.randn(wt, 0.2f), b = in_.randn({cs.k});
      Tensor y = in_.poisoned(out);
      be.conv2d_bias_relu_forward(x, w, cs.bias ? &b : nullptr, cs.p, y);
      return std::vector<Tensor>{y};
    }, matmul_tolerance()});
    cases.push_back({"conv2d_backward_data/" + cs.name(), [=](Backend& be, Inputs& in_) {
      Tensor dy = in_.randn(out), w = in_.randn(wt, 0.2f), dx = in_.poisoned(in);
      be.conv2d_backward_data(dy, w, cs.p, dx);
      return std::vector<Tensor>{dx};
    }, matmul_tolerance()});
    cases.push_back({"conv2d_backward_filter/" + cs.name(), [=](Backend& be, Inputs& in_) {
      Tensor x = in_.randn(in), dy = in_.randn(out);
      Tensor dw = in_.poisoned(wt), dw_acc = in_.randn(wt);
      be.conv2d_backward_filter(x, dy, cs.p, dw, false);
      be.conv2d_backward_filter(x, dy, cs.p, dw_acc, true);
      return std::vector<Tensor>{dw, dw_acc};
    }, matmul_tolerance()});
    const double multiply_adds = double(cs.n) * cs.k * cs.c * cs.r * cs.s * out[2] * out[3];
    for (size_t i = cases.size() - 4; i < cases.size(); ++i) cases[i].multiply_adds = multiply_adds;
  }
  for (const Shape& s : std::vector<Shape>{{2, 3, 5, 7}, {1, 300, 2, 2}, {17, 10}, {128, 64, 14, 14}, {1000, 3}}) {
    cases.push_back({"bias_backward/" + s.str(), [=](Backend& be, Inputs& in_) {
      Tensor dy = in_.randn(s), db = in_.poisoned({s[1]}), db_acc = in_.randn({s[1]});
      be.bias_backward(dy, db, false);
      be.bias_backward(dy, db_acc, true);
      return std::vector<Tensor>{db, db_acc};
    }});
  }
}

void add_pool_cases(std::vector<ParityCase>& cases) {
  for (const PoolShape& ps : pool_shapes()) {
    const Shape in{ps.n, ps.c, ps.h, ps.w}, out = ps.out();
    const bool max = ps.p.mode == PoolMode::Max;
    for (bool ties : {false, true}) {
      if (ties && !max) continue;
      const std::string suffix = ties ? "_ties" : "";
      cases.push_back({"pool2d_forward/" + ps.name() + suffix, [=](Backend& be, Inputs& in_) {
        Tensor x = ties ? in_.quantized(in, 3) : in_.randn(in);
        Tensor y = in_.poisoned(out), idx = in_.poisoned(out, DType::I32);
        be.pool2d_forward(x, ps.p, y, max ? &idx : nullptr);
        return max ? std::vector<Tensor>{y, idx} : std::vector<Tensor>{y};
      }});
      cases.push_back({"pool2d_backward/" + ps.name() + suffix, [=](Backend& be, Inputs& in_) {
        Tensor x = ties ? in_.quantized(in, 3) : in_.randn(in), dy = in_.randn(out);
        Tensor y = in_.poisoned(out), idx = in_.poisoned(out, DType::I32);
        be.pool2d_forward(x, ps.p, y, max ? &idx : nullptr);
        Tensor dx = in_.poisoned(in), dx_recomputed = in_.poisoned(in);
        be.pool2d_backward(x, dy, max ? &idx : nullptr, ps.p, dx);
        be.pool2d_backward(x, dy, nullptr, ps.p, dx_recomputed);
        return std::vector<Tensor>{dx, dx_recomputed};
      }});
    }
  }
}

void add_pointwise_cases(std::vector<ParityCase>& cases) {
  for (Activation a : {Activation::ReLU, Activation::LeakyReLU, Activation::Sigmoid, Activation::Tanh}) {
    for (const Shape& s : kPointwiseShapes) {
      cases.push_back({std::string("activation/") + activation_name(a) + "/" + s.str(),
                       [=](Backend& be, Inputs& in_) {
        Tensor x = in_.randn(s, 3.f), dy = in_.randn(s);
        Tensor y = in_.poisoned(s), dx = in_.poisoned(s);
        be.activation_forward(a, 0.1f, x, y);
        be.activation_backward(a, 0.1f, x, y, dy, dx);
        return std::vector<Tensor>{y, dx};
      }});
    }
  }
  for (bool log : {false, true}) {
    for (const Shape& s : kSoftmaxShapes) {
      cases.push_back({std::string(log ? "log_softmax/" : "softmax/") + s.str(),
                       [=](Backend& be, Inputs& in_) {
        Tensor x = in_.randn(s, 20.f), dy = in_.randn(s);
        Tensor y = in_.poisoned(s), dx = in_.poisoned(s);
        be.softmax_forward(x, y, log);
        be.softmax_backward(y, dy, dx, log);
        return std::vector<Tensor>{y, dx};
      }});
    }
  }
  for (const Shape& s : kPointwiseShapes) {
    cases.push_back({"dropout/" + s.str(), [=](Backend& be, Inputs& in_) {
      Tensor x = in_.randn(s), dy = in_.randn(s);
      Tensor y = in_.poisoned(s), mask = in_.poisoned(s), dx = in_.poisoned(s);
      be.dropout_forward(x, 0.3f, 1234, 7, y, mask);
      be.dropout_backward(dy, mask, dx);
      return std::vector<Tensor>{y, mask, dx};
    }});
    cases.push_back({"elementwise/" + s.str(), [=](Backend& be, Inputs& in_) {
      Tensor a = in_.randn(s), b = in_.randn(s);
      Tensor filled = in_.poisoned(s), sum = in_.poisoned(s), scaled = in_.poisoned(s);
      Tensor filled_i = in_.poisoned(s, DType::I32);
      be.fill(filled, 2.5f);
      be.fill(filled_i, 3.f);
      be.add(a, b, sum);
      be.scale(a, -1.5f, scaled);
      Tensor in_place = a.clone();
      be.add(in_place, b, in_place);  // outputs may alias inputs
      return std::vector<Tensor>{filled, filled_i, sum, scaled, in_place};
    }});
  }
}

void add_linear_cases(std::vector<ParityCase>& cases) {
  // Plain locals, not structured bindings: clang before 16 cannot capture those.
  for (const auto& dims : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {3, 7, 5}, {128, 3136, 10}, {2, 300, 257}, {33, 130, 67}}) {
    const int64_t n = dims[0], in = dims[1], out = dims[2];
    const std::string name = str({n, in, out});
    cases.push_back({"linear/" + name, [=](Backend& be, Inputs& in_) {
      Tensor x = in_.randn({n, in}), w = in_.randn({out, in}, 0.1f), b = in_.randn({out});
      Tensor dy = in_.randn({n, out});
      Tensor y = in_.poisoned({n, out}), y_nobias = in_.poisoned({n, out});
      Tensor dx = in_.poisoned({n, in}), dw = in_.poisoned({out, in}), dw_acc = in_.randn({out, in});
      be.linear_forward(x, w, &b, y);
      be.linear_forward(x, w, nullptr, y_nobias);
      be.linear_backward_data(dy, w, dx);
      be.linear_backward_weight(x, dy, dw, false);
      be.linear_backward_weight(x, dy, dw_acc, true);
      return std::vector<Tensor>{y, y_nobias, dx, dw, dw_acc};
    }, matmul_tolerance()});
    cases.push_back({"linear_bias_relu_forward/" + name, [=](Backend& be, Inputs& in_) {
      Tensor x = in_.randn({n, in}), w = in_.randn({out, in}, 0.1f), b = in_.randn({out});
      Tensor y = in_.poisoned({n, out}), y_nobias = in_.poisoned({n, out});
      be.linear_bias_relu_forward(x, w, &b, y);
      be.linear_bias_relu_forward(x, w, nullptr, y_nobias);
      return std::vector<Tensor>{y, y_nobias};
    }, matmul_tolerance()});
  }
}

void add_loss_cases(std::vector<ParityCase>& cases) {
  for (const auto& dims : std::vector<std::array<int64_t, 2>>{{1, 1}, {1, 10}, {7, 3}, {128, 10}, {3, 1000}, {5, 2050}}) {
    const int64_t n = dims[0], c = dims[1];
    const std::string name = str({n, c});
    cases.push_back({"softmax_cross_entropy/" + name, [=](Backend& be, Inputs& in_) {
      Tensor logits = in_.randn({n, c}, 10.f), labels = in_.labels(n, c);
      Tensor loss = in_.poisoned({1}), probs = in_.poisoned({n, c}), grad = in_.poisoned({n, c});
      Tensor correct = in_.poisoned({1}, DType::I32), correct_acc = Tensor::full({1}, 5.f, in_.device(), DType::I32);
      Tensor smooth_loss = in_.poisoned({1}), smooth_probs = in_.poisoned({n, c}),
             smooth_grad = in_.poisoned({n, c});
      be.softmax_cross_entropy_forward(logits, labels, 0.f, loss, probs);
      be.softmax_cross_entropy_backward(probs, labels, 0.f, 0.5f, grad);
      be.softmax_cross_entropy_forward(logits, labels, 0.1f, smooth_loss, smooth_probs);
      be.softmax_cross_entropy_backward(smooth_probs, labels, 0.1f, 0.5f, smooth_grad);
      be.count_correct(logits, labels, correct, false);
      be.count_correct(logits, labels, correct_acc, true);
      return std::vector<Tensor>{loss, probs, grad, correct, correct_acc, smooth_loss, smooth_grad};
    }});
  }
  for (const Shape& s : kPointwiseShapes) {
    cases.push_back({"mse/" + s.str(), [=](Backend& be, Inputs& in_) {
      Tensor p = in_.randn(s), t = in_.randn(s);
      Tensor loss = in_.poisoned({1}), grad = in_.poisoned(s);
      be.mse_forward(p, t, loss);
      be.mse_backward(p, t, 2.f, grad);
      return std::vector<Tensor>{loss, grad};
    }});
    cases.push_back({"bce_with_logits/" + s.str(), [=](Backend& be, Inputs& in_) {
      Tensor x = in_.randn(s, 30.f), t = in_.rand(s, 0.f, 1.f);
      Tensor loss = in_.poisoned({1}), grad = in_.poisoned(s);
      be.bce_with_logits_forward(x, t, loss);
      be.bce_with_logits_backward(x, t, 1.f, grad);
      return std::vector<Tensor>{loss, grad};
    }});
    for (float margin : {0.f, 1.f}) {
      cases.push_back({"hinge/m" + std::to_string(static_cast<int>(margin)) + "/" + s.str(),
                       [=](Backend& be, Inputs& in_) {
        Tensor scores = in_.randn(s), u = in_.rand(s, -1.f, 1.f);
        std::vector<float> t = u.to(Device::cpu()).to_vector<float>();
        for (float& v : t) v = v < 0 ? -1.f : 1.f;
        Tensor target = Tensor::from_vector(t, s, in_.device());
        Tensor loss = in_.poisoned({1}), grad = in_.poisoned(s);
        be.hinge_forward(scores, target, margin, loss);
        be.hinge_backward(scores, target, margin, 1.f, grad);
        return std::vector<Tensor>{loss, grad};
      }});
    }
  }
}

void add_optimizer_cases(std::vector<ParityCase>& cases) {
  cases.push_back({"schedule_step", [](Backend& be, Inputs& in_) {
    Tensor schedule = Tensor::from_vector(std::vector<float>{0.5f, 41.f}, {2}, in_.device());
    be.schedule_step(schedule, 0.25f);
    be.schedule_step(schedule, 0.125f);
    return std::vector<Tensor>{schedule};
  }});
  struct Sgd { const char* name; SgdParams p; };
  for (const Sgd& sgd : {Sgd{"plain", {}}, Sgd{"momentum", {0.9f, 0.1f, 1e-2f, false}},
                         Sgd{"nesterov", {0.9f, 0.f, 5e-4f, true}}}) {
    for (const Shape& s : kPointwiseShapes) {
      cases.push_back({std::string("sgd_update/") + sgd.name + "/" + s.str(), [=](Backend& be, Inputs& in_) {
        Tensor param = in_.randn(s), buf = in_.randn(s);
        Tensor schedule = Tensor::from_vector(std::vector<float>{0.05f, 1.f}, {2}, in_.device());
        for (int step = 1; step <= 3; ++step) {
          schedule.copy_from(Tensor::from_vector(std::vector<float>{0.05f, float(step)}, {2}));
          be.sgd_update(param, in_.randn(s), sgd.p.momentum != 0.f ? &buf : nullptr, sgd.p, schedule);
        }
        return std::vector<Tensor>{param, buf};
      }});
    }
  }
  for (bool decoupled : {false, true}) {
    for (const Shape& s : kPointwiseShapes) {
      cases.push_back({std::string(decoupled ? "adamw_update/" : "adam_update/") + s.str(),
                       [=](Backend& be, Inputs& in_) {
        AdamParams p;
        p.weight_decay = 1e-2f;
        p.decoupled_weight_decay = decoupled;
        Tensor param = in_.randn(s), m = Tensor::zeros(s, in_.device()), v = Tensor::zeros(s, in_.device());
        Tensor schedule = Tensor::from_vector(std::vector<float>{1e-3f, 1.f}, {2}, in_.device());
        for (int step = 1; step <= 3; ++step) {
          schedule.copy_from(Tensor::from_vector(std::vector<float>{1e-3f, float(step)}, {2}));
          be.adam_update(param, in_.randn(s), m, v, p, schedule);
        }
        return std::vector<Tensor>{param, m, v};
      }});
    }
  }
}

}  // namespace

std::vector<ParityCase> all_parity_cases() {
  std::vector<ParityCase> cases;
  add_conv_cases(cases);
  add_pool_cases(cases);
  add_pointwise_cases(cases);
  add_linear_cases(cases);
  add_loss_cases(cases);
  add_optimizer_cases(cases);
  add_tensor_arith_cases(cases);
  add_norm_cases(cases);
  return cases;
}

}  // namespace convnet::parity
