// Parity cases of batch normalization (training forward with and without the
// running statistics, inference, backward; ReLU fused or not; affine or not)
// and adaptive average pooling: fresh random inputs, poisoned outputs, every
// backend held to the CPU reference.
#include <string>
#include <vector>

#include "parity/parity_harness.hpp"

namespace convnet::parity {
namespace {

// Channel statistics are reductions: the CPU sums in double, a GPU in float in
// another (fixed) order; the inputs have a mean of 0.5 so nothing cancels.
Tolerance statistics_tolerance() {
  Tolerance t;
  t.default_bound = {1e-5,
                     "per-channel float32 sums against the double-accumulated CPU reference "
                     "(another summation order, a few ulps norm-wise)"};
  return t;
}

struct BnShape {
  Shape input;
  std::string name() const { return input.str(); }
  int64_t channels() const { return input[1]; }
};

// [N, C] included: BatchNorm1d's layout is one the backends take.
const std::vector<BnShape>& bn_shapes() {
  static const std::vector<BnShape> shapes = {
      {{2, 3, 5, 7}}, {{1, 4, 3, 3}}, {{8, 1, 2, 2}}, {{2, 16, 28, 28}}, {{5, 6}}, {{2, 1}},
      {{64, 32, 7, 7}}};
  return shapes;
}

std::string flags(bool affine, bool relu) {
  return std::string(affine ? "affine" : "plain") + (relu ? "_relu" : "");
}

void add_batch_norm_cases(std::vector<ParityCase>& cases) {
  for (const BnShape& bs : bn_shapes()) {
    const Shape in = bs.input, ch{bs.channels()};
    for (bool affine : {true, false}) {
      for (bool relu : {false, true}) {
        const std::string suffix = bs.name() + "_" + flags(affine, relu);
        for (bool running : {true, false}) {
          cases.push_back({std::string("batch_norm_forward_train/") + suffix +
                               (running ? "_running" : ""),
                           [=](Backend& be, Inputs& x_) {
                             Tensor x = x_.rand(in, -0.5f, 1.5f);
                             Tensor w = x_.randn(ch), b = x_.randn(ch);
                             Tensor rm = x_.randn(ch), rv = x_.rand(ch, 0.5f, 2.f);
                             Tensor y = x_.poisoned(in), mean = x_.poisoned(ch),
                                    invstd = x_.poisoned(ch);
                             be.batch_norm_forward_train(x, affine ? &w : nullptr,
                                                         affine ? &b : nullptr,
                                                         running ? &rm : nullptr,
                                                         running ? &rv : nullptr, 0.1f, 1e-5f,
                                                         relu, y, mean, invstd);
                             std::vector<Tensor> out{y, mean, invstd};
                             if (running) {
                               out.push_back(rm);
                               out.push_back(rv);
                             }
                             return out;
                           },
                           statistics_tolerance()});
        }
        cases.push_back({"batch_norm_forward_inference/" + suffix, [=](Backend& be, Inputs& x_) {
                           Tensor x = x_.randn(in, 2.f);
                           Tensor w = x_.randn(ch), b = x_.randn(ch);
                           Tensor mean = x_.randn(ch), var = x_.rand(ch, 0.1f, 3.f);
                           Tensor y = x_.poisoned(in);
                           be.batch_norm_forward_inference(x, affine ? &w : nullptr,
                                                           affine ? &b : nullptr, mean, var,
                                                           1e-3f, relu, y);
                           return std::vector<Tensor>{y};
                         }});
      }
      // With two values per channel xhat is +-1 and grad_input is exactly 0 in
      // real arithmetic: a relative bound against a reference of rounding noise
      // means nothing (the emulated and golden tests check that case absolutely).
      if (in.numel() / bs.channels() < 3) continue;
      for (bool accumulate : {false, true}) {
        cases.push_back({"batch_norm_backward/" + bs.name() + "_" + flags(affine, false) +
                             (accumulate ? "_accumulate" : ""),
                         [=](Backend& be, Inputs& x_) {
                           Tensor x = x_.rand(in, -0.5f, 1.5f), dy = x_.randn(in);
                           Tensor w = x_.randn(ch), b = x_.randn(ch);
                           Tensor y = x_.poisoned(in), mean = x_.poisoned(ch),
                                  invstd = x_.poisoned(ch);
                           be.batch_norm_forward_train(x, affine ? &w : nullptr,
                                                       affine ? &b : nullptr, nullptr, nullptr,
                                                       0.f, 1e-5f, false, y, mean, invstd);
                           Tensor dx = x_.poisoned(in);
                           Tensor dw = accumulate ? x_.randn(ch) : x_.poisoned(ch);
                           Tensor db = accumulate ? x_.randn(ch) : x_.poisoned(ch);
                           be.batch_norm_backward(x, dy, affine ? &w : nullptr, mean, invstd, dx,
                                                  affine ? &dw : nullptr, affine ? &db : nullptr,
                                                  accumulate);
                           return affine ? std::vector<Tensor>{dx, dw, db}
                                         : std::vector<Tensor>{dx};
                         },
                         statistics_tolerance()});
      }
    }
  }
}

void add_adaptive_pool_cases(std::vector<ParityCase>& cases) {
  struct PoolCase {
    Shape in;
    int64_t oh, ow;
  };
  const std::vector<PoolCase> shapes = {
      {{2, 3, 7, 7}, 1, 1},  {{2, 3, 8, 8}, 2, 2},   {{1, 2, 7, 5}, 3, 2},
      {{2, 2, 5, 4}, 4, 3},  {{1, 1, 3, 3}, 5, 4},   {{4, 64, 7, 7}, 1, 1},
      {{3, 5, 10, 9}, 3, 5}};
  for (const PoolCase& pc : shapes) {
    const Shape out{pc.in[0], pc.in[1], pc.oh, pc.ow};
    const std::string name = pc.in.str() + "_to_" + std::to_string(pc.oh) + "x" +
                             std::to_string(pc.ow);
    cases.push_back({"adaptive_avg_pool2d_forward/" + name, [=](Backend& be, Inputs& x_) {
                       Tensor x = x_.rand(pc.in, -0.5f, 1.5f), y = x_.poisoned(out);
                       be.adaptive_avg_pool2d_forward(x, y);
                       return std::vector<Tensor>{y};
                     },
                     statistics_tolerance()});
    cases.push_back({"adaptive_avg_pool2d_backward/" + name, [=](Backend& be, Inputs& x_) {
                       Tensor dy = x_.rand(out, -0.5f, 1.5f), dx = x_.poisoned(pc.in);
                       be.adaptive_avg_pool2d_backward(dy, dx);
                       return std::vector<Tensor>{dx};
                     }});
  }
}

}  // namespace

void add_norm_cases(std::vector<ParityCase>& cases) {
  add_batch_norm_cases(cases);
  add_adaptive_pool_cases(cases);
}

}  // namespace convnet::parity
