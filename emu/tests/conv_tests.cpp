// Convolution on the emulated device, both algorithms, against a naive loop in
// double. Shapes cross the implicit GEMM's 128 x 64 tile edges, take several
// reduction steps with a partial last one, and split backward filter's reduction.
#include "scenario.hpp"

namespace convnet::emu::testing {
namespace {

using kernels::ConvAlgo;
using kernels::ConvGeometry;

ConvGeometry geometry(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t r, int64_t s,
                      int64_t stride, int64_t pad, int64_t dilation) {
  ConvGeometry g{};
  g.n = n, g.c = c, g.h = h, g.w = w, g.k = k, g.r = r, g.s = s;
  g.stride_h = g.stride_w = stride;
  g.pad_h = g.pad_w = pad;
  g.dilation_h = g.dilation_w = dilation;
  g.p = (h + 2 * pad - dilation * (r - 1) - 1) / stride + 1;
  g.q = (w + 2 * pad - dilation * (s - 1) - 1) / stride + 1;
  return g;
}

// Calls f(n, k, c, p, q, y, x, r, s) for every tap that lands inside the input.
template <typename F>
void for_each_tap(const ConvGeometry& g, F f) {
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t k = 0; k < g.k; ++k)
      for (int64_t p = 0; p < g.p; ++p)
        for (int64_t q = 0; q < g.q; ++q)
          for (int64_t c = 0; c < g.c; ++c)
            for (int64_t r = 0; r < g.r; ++r)
              for (int64_t s = 0; s < g.s; ++s) {
                const int64_t y = p * g.stride_h - g.pad_h + r * g.dilation_h;
                const int64_t x = q * g.stride_w - g.pad_w + s * g.dilation_w;
                if (y >= 0 && y < g.h && x >= 0 && x < g.w) f(n, k, c, p, q, y, x, r, s);
              }
}

struct ConvCase {
  ConvGeometry g;
  std::vector<float> input, weight, bias, grad_output;
};

ConvCase make_case(const ConvGeometry& g) {
  return {g, random_floats(g.n * g.c * g.h * g.w, 1), random_floats(g.k * g.c * g.r * g.s, 2),
          random_floats(g.k, 3), random_floats(g.n * g.k * g.p * g.q, 4)};
}

void check_conv(const ConvCase& cc, ConvAlgo algo) {
  const ConvGeometry& g = cc.g;
  auto in_at = [&](int64_t n, int64_t c, int64_t y, int64_t x) { return ((n * g.c + c) * g.h + y) * g.w + x; };
  auto w_at = [&](int64_t k, int64_t c, int64_t r, int64_t s) { return ((k * g.c + c) * g.r + r) * g.s + s; };
  auto out_at = [&](int64_t n, int64_t k, int64_t p, int64_t q) { return ((n * g.k + k) * g.p + p) * g.q + q; };

  std::vector<double> want_out(cc.grad_output.size()), want_din(cc.input.size()), want_dw(cc.weight.size());
  for (size_t i = 0; i < want_out.size(); ++i) want_out[i] = cc.bias[(i / (g.p * g.q)) % g.k];
  for (size_t i = 0; i < want_dw.size(); ++i) want_dw[i] = 1.0;  // accumulated onto ones
  for_each_tap(g, [&](int64_t n, int64_t k, int64_t c, int64_t p, int64_t q, int64_t y, int64_t x,
                      int64_t r, int64_t s) {
    want_out[out_at(n, k, p, q)] += double{cc.input[in_at(n, c, y, x)]} * cc.weight[w_at(k, c, r, s)];
    want_din[in_at(n, c, y, x)] += double{cc.grad_output[out_at(n, k, p, q)]} * cc.weight[w_at(k, c, r, s)];
    want_dw[w_at(k, c, r, s)] += double{cc.grad_output[out_at(n, k, p, q)]} * cc.input[in_at(n, c, y, x)];
  });

  std::vector<float> out(want_out.size()), din(want_din.size()), dw(want_dw.size(), 1.f);
  std::vector<unsigned char> workspace(kernels::conv2d_backward_filter_workspace(g, algo));
  kernels::conv2d_forward(g, cc.input.data(), cc.weight.data(), cc.bias.data(), out.data(), algo, nullptr);
  kernels::conv2d_backward_data(g, cc.grad_output.data(), cc.weight.data(), din.data(), algo, nullptr);
  kernels::conv2d_backward_filter(g, cc.input.data(), cc.grad_output.data(), dw.data(), true, algo,
                                  workspace.empty() ? nullptr : workspace.data(), nullptr);
  expect_close(out, want_out, 1e-5, "forward");
  expect_close(din, want_din, 1e-5, "backward data");
  expect_close(dw, want_dw, 1e-5, "backward filter");
}

class Conv : public EmuKernel {};

TEST_P(Conv, DirectSmall) { check_conv(make_case(geometry(2, 3, 7, 6, 5, 3, 3, 1, 1, 1)), ConvAlgo::Direct); }

TEST_P(Conv, ImplicitGemmSmall) {
  check_conv(make_case(geometry(2, 3, 7, 6, 5, 3, 3, 1, 1, 1)), ConvAlgo::ImplicitGemm);
}

// rows N*P*Q = 162 > 128 and K = 65 > 64: partial tiles on both edges; C*R*S = 27:
// four reduction steps, the last partial; N*H*W = 162 for backward data too.
TEST_P(Conv, ImplicitGemmAcrossTileEdges) {
  const ConvGeometry g = geometry(2, 3, 9, 9, 65, 3, 3, 1, 1, 1);
  check_conv(make_case(g), ConvAlgo::ImplicitGemm);
}

TEST_P(Conv, DirectAcrossTileEdges) {
  check_conv(make_case(geometry(2, 3, 9, 9, 65, 3, 3, 1, 1, 1)), ConvAlgo::Direct);
}

// Stride, dilation and padding together; N*P*Q = 400 gives backward filter split-K.
TEST_P(Conv, ImplicitGemmStridedDilatedSplit) {
  const ConvGeometry g = geometry(4, 2, 20, 20, 3, 3, 3, 2, 2, 2);
  ASSERT_GT(kernels::conv2d_backward_filter_workspace(g, ConvAlgo::ImplicitGemm), 0u)
      << "the shape should split backward filter's reduction";
  check_conv(make_case(g), ConvAlgo::ImplicitGemm);
}

TEST_P(Conv, DirectStridedDilated) {
  check_conv(make_case(geometry(4, 2, 20, 20, 3, 3, 3, 2, 2, 2)), ConvAlgo::Direct);
}

CONVNET_EMU_SCENARIOS(Conv);

}  // namespace
}  // namespace convnet::emu::testing
