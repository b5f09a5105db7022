// The implicit-GEMM address math of kernels/conv2d_index.hpp, held against the
// CPU backend on the host. For each geometry, each pass is emulated as the
// plain GEMM the GPU kernels tile (for every row and column, the sum over the
// reduction of A[row, kk] * B[kk, col], operands fetched through the offset
// functions, 0 where they return -1) and compared with CpuBackend's conv2d.
// Also: each decode re-encodes to its index, the backward-data gather visits
// exactly the (pixel, tap) pairs the forward pass reads, and the 64-bit paths.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "convnet/convnet.hpp"
#include "kernels/conv2d_index.hpp"

namespace convnet::test {
namespace {

using kernels::ConvGeometry;
using kernels::GemmShape;
using kernels::Pixel;
using kernels::Tap;

struct Case {
  int64_t n, c, h, w, k, r, s;
  Conv2dParams p;  // {stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w}
};

std::string describe(const Case& cc) {
  std::ostringstream os;
  os << "input [" << cc.n << ", " << cc.c << ", " << cc.h << ", " << cc.w << "], weight [" << cc.k
     << ", " << cc.c << ", " << cc.r << ", " << cc.s << "], stride " << cc.p.stride_h << "x"
     << cc.p.stride_w << ", pad " << cc.p.pad_h << "x" << cc.p.pad_w << ", dilation "
     << cc.p.dilation_h << "x" << cc.p.dilation_w;
  return os.str();
}

ConvGeometry geometry(const Case& cc) {
  return {cc.n,
          cc.c,
          cc.h,
          cc.w,
          cc.k,
          cc.r,
          cc.s,
          conv2d_output_size(cc.h, int(cc.r), cc.p.stride_h, cc.p.pad_h, cc.p.dilation_h),
          conv2d_output_size(cc.w, int(cc.s), cc.p.stride_w, cc.p.pad_w, cc.p.dilation_w),
          cc.p.stride_h,
          cc.p.stride_w,
          cc.p.pad_h,
          cc.p.pad_w,
          cc.p.dilation_h,
          cc.p.dilation_w};
}

// ||actual - expected|| / ||expected||, the DESIGN.md measure.
double relative_error(const std::vector<float>& actual, const std::vector<float>& expected) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double d = double(actual[i]) - double(expected[i]);
    diff += d * d;
    ref += double(expected[i]) * expected[i];
  }
  return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

constexpr double kTolerance = 1e-5;

// The fixed cases: each names the edge it covers.
const std::vector<Case> kCases = {
    {2, 3, 7, 7, 4, 3, 3, {1, 1, 1, 1, 1, 1}},    // same padding
    {1, 1, 5, 5, 1, 3, 3, {1, 1, 0, 0, 1, 1}},    // N = C = K = 1, no padding
    {2, 3, 9, 8, 5, 3, 3, {2, 2, 1, 1, 1, 1}},    // stride 2, odd/even sides
    {2, 2, 9, 9, 3, 3, 3, {1, 1, 2, 2, 2, 2}},    // dilation 2
    {1, 3, 11, 10, 2, 3, 3, {2, 2, 2, 2, 2, 2}},  // stride 2 and dilation 2
    {3, 4, 6, 5, 3, 1, 1, {1, 1, 0, 0, 1, 1}},    // 1x1 (pointwise)
    {2, 3, 7, 6, 4, 1, 1, {2, 2, 0, 0, 1, 1}},    // 1x1, stride 2
    {2, 2, 8, 13, 3, 2, 5, {1, 2, 1, 2, 1, 1}},   // non-square kernel, per-axis params
    {1, 2, 3, 3, 2, 5, 5, {1, 1, 2, 2, 1, 1}},    // kernel larger than the input
    {1, 1, 8, 8, 1, 2, 2, {3, 3, 0, 0, 1, 1}},    // stride > kernel: rows no window reads
    {2, 3, 6, 9, 2, 2, 3, {2, 1, 1, 0, 1, 2}},    // mixed stride, pad, dilation per axis
    {1, 2, 57, 57, 3, 3, 3, {2, 2, 1, 1, 1, 1}},  // 57x57, stride 2 (the GPU parity shape)
    {1, 3, 1, 1, 2, 1, 1, {1, 1, 0, 0, 1, 1}},    // 1x1 image
    {1, 1, 1, 7, 2, 1, 3, {1, 1, 0, 1, 1, 1}},    // a single row
};

// ~100 shapes from a fixed seed; outputs at least 1x1.
std::vector<Case> random_cases() {
  std::mt19937 rng(20240611);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<Case> cases;
  while (cases.size() < 100) {
    Case cc{pick(1, 3), pick(1, 5), pick(1, 12), pick(1, 12), pick(1, 5), pick(1, 4), pick(1, 4),
            {pick(1, 3), pick(1, 3), pick(0, 2), pick(0, 2), pick(1, 2), pick(1, 2)}};
    const ConvGeometry g = geometry(cc);
    if (g.p >= 1 && g.q >= 1) cases.push_back(cc);
  }
  return cases;
}

struct Tensors {
  Tensor input, weight, bias, grad_output;
};

Tensors random_tensors(const Case& cc, const ConvGeometry& g, uint64_t seed) {
  return {Tensor::randn({cc.n, cc.c, cc.h, cc.w}, Device::cpu(), seed),
          Tensor::randn({cc.k, cc.c, cc.r, cc.s}, Device::cpu(), seed + 1),
          Tensor::randn({cc.k}, Device::cpu(), seed + 2),
          Tensor::randn({cc.n, cc.k, g.p, g.q}, Device::cpu(), seed + 3)};
}

// ---- the three passes as plain GEMMs through the index functions

std::vector<float> emulate_forward(const ConvGeometry& g, const float* x, const float* w,
                                   const float* b) {
  const GemmShape shape = kernels::forward_gemm_shape(g);
  std::vector<float> out(size_t(g.n * g.k * g.p * g.q), NAN);  // NaN: unwritten shows
  for (int64_t m = 0; m < shape.rows; ++m) {
    const Pixel o = kernels::forward_row(g, m);
    for (int64_t col = 0; col < shape.cols; ++col) {
      double sum = 0;
      for (int64_t kk = 0; kk < shape.reduction; ++kk) {
        const int64_t a = kernels::forward_input_offset(g, o, kernels::forward_tap(g, kk));
        if (a >= 0) sum += double(x[a]) * w[kernels::forward_weight_offset(g, col, kk)];
      }
      out[size_t(kernels::output_offset(g, o, col))] = float(sum + b[col]);
    }
  }
  return out;
}

std::vector<float> emulate_backward_data(const ConvGeometry& g, const float* dy, const float* w) {
  const GemmShape shape = kernels::backward_data_gemm_shape(g);
  std::vector<float> dx(size_t(g.n * g.c * g.h * g.w), NAN);
  for (int64_t m = 0; m < shape.rows; ++m) {
    const Pixel i = kernels::backward_data_row(g, m);
    for (int64_t col = 0; col < shape.cols; ++col) {
      double sum = 0;
      for (int64_t kk = 0; kk < shape.reduction; ++kk) {
        const Tap t = kernels::backward_data_tap(g, kk);
        const int64_t a = kernels::backward_data_grad_output_offset(g, i, t);
        if (a >= 0) sum += double(dy[a]) * w[kernels::backward_data_weight_offset(g, t, col)];
      }
      dx[size_t(kernels::input_offset(g, i, col))] = float(sum);
    }
  }
  return dx;
}

std::vector<float> emulate_backward_filter(const ConvGeometry& g, const float* x, const float* dy) {
  const GemmShape shape = kernels::backward_filter_gemm_shape(g);
  std::vector<float> dw(size_t(g.k * g.c * g.r * g.s), NAN);
  for (int64_t k = 0; k < shape.rows; ++k) {
    for (int64_t col = 0; col < shape.cols; ++col) {
      const Tap t = kernels::backward_filter_column(g, col);
      double sum = 0;
      for (int64_t kk = 0; kk < shape.reduction; ++kk) {
        const Pixel o = kernels::backward_filter_reduction(g, kk);
        const int64_t b = kernels::backward_filter_input_offset(g, o, t);
        if (b >= 0) sum += double(dy[kernels::backward_filter_grad_output_offset(g, k, o)]) * x[b];
      }
      dw[size_t(kernels::backward_filter_weight_offset(g, k, col))] = float(sum);
    }
  }
  return dw;
}

void expect_passes_match_cpu(const Case& cc, uint64_t seed) {
  SCOPED_TRACE(describe(cc));
  const ConvGeometry g = geometry(cc);
  ASSERT_GE(g.p, 1);
  ASSERT_GE(g.q, 1);
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  const Tensors t = random_tensors(cc, g, seed);

  Tensor y = Tensor::full({cc.n, cc.k, g.p, g.q}, NAN, Device::cpu());
  cpu.conv2d_forward(t.input, t.weight, &t.bias, cc.p, y);
  const std::vector<float> y_gemm = emulate_forward(g, t.input.data<float>(),
                                                    t.weight.data<float>(), t.bias.data<float>());
  EXPECT_LT(relative_error(y_gemm, y.to_vector<float>()), kTolerance) << "forward";

  Tensor dx = Tensor::full({cc.n, cc.c, cc.h, cc.w}, NAN, Device::cpu());
  cpu.conv2d_backward_data(t.grad_output, t.weight, cc.p, dx);
  const std::vector<float> dx_gemm =
      emulate_backward_data(g, t.grad_output.data<float>(), t.weight.data<float>());
  EXPECT_LT(relative_error(dx_gemm, dx.to_vector<float>()), kTolerance) << "backward data";

  Tensor dw = Tensor::full({cc.k, cc.c, cc.r, cc.s}, NAN, Device::cpu());
  cpu.conv2d_backward_filter(t.input, t.grad_output, cc.p, dw, /*accumulate=*/false);
  const std::vector<float> dw_gemm =
      emulate_backward_filter(g, t.input.data<float>(), t.grad_output.data<float>());
  EXPECT_LT(relative_error(dw_gemm, dw.to_vector<float>()), kTolerance) << "backward filter";
}

// Decoding then encoding gives back the index, and the decoded coordinates lie
// in range, for every row, column and reduction index of the three GEMMs.
void expect_round_trips(const Case& cc) {
  SCOPED_TRACE(describe(cc));
  const ConvGeometry g = geometry(cc);
  const int64_t pq = g.n * g.p * g.q, hw = g.n * g.h * g.w;
  for (int64_t m = 0; m < pq; ++m) {
    const Pixel o = kernels::forward_row(g, m);
    ASSERT_TRUE(o.n >= 0 && o.n < g.n && o.y >= 0 && o.y < g.p && o.x >= 0 && o.x < g.q) << m;
    ASSERT_EQ(kernels::encode_pixel(o, g.p, g.q), m);
    const Pixel r = kernels::backward_filter_reduction(g, m);
    ASSERT_EQ(std::make_tuple(r.n, r.y, r.x), std::make_tuple(o.n, o.y, o.x));
  }
  for (int64_t m = 0; m < hw; ++m) {
    const Pixel i = kernels::backward_data_row(g, m);
    ASSERT_TRUE(i.n >= 0 && i.n < g.n && i.y >= 0 && i.y < g.h && i.x >= 0 && i.x < g.w) << m;
    ASSERT_EQ(kernels::encode_pixel(i, g.h, g.w), m);
  }
  for (int64_t kk = 0; kk < g.c * g.r * g.s; ++kk) {
    const Tap t = kernels::forward_tap(g, kk);
    ASSERT_TRUE(t.ch >= 0 && t.ch < g.c && t.r >= 0 && t.r < g.r && t.s >= 0 && t.s < g.s) << kk;
    ASSERT_EQ(kernels::encode_tap(t, g.r, g.s), kk);
    const Tap col = kernels::backward_filter_column(g, kk);
    ASSERT_EQ(std::make_tuple(col.ch, col.r, col.s), std::make_tuple(t.ch, t.r, t.s));
    for (int64_t k = 0; k < g.k; ++k) {
      ASSERT_EQ(kernels::forward_weight_offset(g, k, kk),
                kernels::weight_offset(g, k, t.ch, t.r, t.s));
      ASSERT_EQ(kernels::backward_filter_weight_offset(g, k, kk),
                kernels::weight_offset(g, k, t.ch, t.r, t.s));
    }
  }
  for (int64_t kk = 0; kk < g.k * g.r * g.s; ++kk) {
    const Tap t = kernels::backward_data_tap(g, kk);
    ASSERT_TRUE(t.ch >= 0 && t.ch < g.k && t.r >= 0 && t.r < g.r && t.s >= 0 && t.s < g.s) << kk;
    ASSERT_EQ(kernels::encode_tap(t, g.r, g.s), kk);
  }
}

// The backward-data gather is the exact adjoint of the forward read: the set of
// (output pixel, input pixel, r, s) links found from the input side equals the
// set found from the output side. Exact integers, no rounding to hide behind.
void expect_gather_is_adjoint(const Case& cc) {
  SCOPED_TRACE(describe(cc));
  const ConvGeometry g = geometry(cc);
  using Link = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // output off, input off, r, s
  std::set<Link> forward, backward;
  for (int64_t m = 0; m < g.n * g.p * g.q; ++m) {
    const Pixel o = kernels::forward_row(g, m);
    for (int64_t r = 0; r < g.r; ++r)
      for (int64_t s = 0; s < g.s; ++s) {
        const int64_t in = kernels::forward_input_offset(g, o, Tap{0, r, s});
        if (in >= 0) {
          ASSERT_LT(in, g.n * g.c * g.h * g.w);
          forward.insert({kernels::output_offset(g, o, 0), in, r, s});
        }
      }
  }
  for (int64_t m = 0; m < g.n * g.h * g.w; ++m) {
    const Pixel i = kernels::backward_data_row(g, m);
    for (int64_t r = 0; r < g.r; ++r)
      for (int64_t s = 0; s < g.s; ++s) {
        const int64_t out = kernels::backward_data_grad_output_offset(g, i, Tap{0, r, s});
        if (out >= 0) {
          ASSERT_LT(out, g.n * g.k * g.p * g.q);
          ASSERT_TRUE(backward.insert({out, kernels::input_offset(g, i, 0), r, s}).second);
        }
      }
  }
  EXPECT_EQ(forward, backward);
}

TEST(Conv2dIndex, GemmShapes) {
  const ConvGeometry g = geometry({2, 3, 9, 8, 5, 3, 2, {2, 1, 1, 0, 1, 2}});
  ASSERT_EQ(g.p, 5);  // (9 + 2 - 2 - 1) / 2 + 1
  ASSERT_EQ(g.q, 6);  // (8 + 0 - 2 - 1) / 1 + 1
  const GemmShape f = kernels::forward_gemm_shape(g);
  EXPECT_EQ(std::make_tuple(f.rows, f.cols, f.reduction), std::make_tuple(2 * 5 * 6, 5, 3 * 3 * 2));
  const GemmShape d = kernels::backward_data_gemm_shape(g);
  EXPECT_EQ(std::make_tuple(d.rows, d.cols, d.reduction), std::make_tuple(2 * 9 * 8, 3, 5 * 3 * 2));
  const GemmShape w = kernels::backward_filter_gemm_shape(g);
  EXPECT_EQ(std::make_tuple(w.rows, w.cols, w.reduction), std::make_tuple(5, 3 * 3 * 2, 2 * 5 * 6));
}

TEST(Conv2dIndex, PassesMatchCpuBackendOnFixedCases) {
  for (size_t i = 0; i < kCases.size(); ++i) expect_passes_match_cpu(kCases[i], 1000 + 10 * i);
}

TEST(Conv2dIndex, PassesMatchCpuBackendOnRandomShapes) {
  const std::vector<Case> cases = random_cases();
  for (size_t i = 0; i < cases.size(); ++i) expect_passes_match_cpu(cases[i], 5000 + 10 * i);
}

TEST(Conv2dIndex, DecodedIndicesReencode) {
  for (const Case& cc : kCases) expect_round_trips(cc);
  for (const Case& cc : random_cases()) expect_round_trips(cc);
}

TEST(Conv2dIndex, BackwardDataGatherIsTheAdjointOfTheForwardRead) {
  for (const Case& cc : kCases) expect_gather_is_adjoint(cc);
  for (const Case& cc : random_cases()) expect_gather_is_adjoint(cc);
}

// Indices past 2^32 take div_nonneg's 64-bit path; the decodes must still invert.
TEST(Conv2dIndex, SixtyFourBitIndices) {
  EXPECT_EQ(kernels::div_nonneg(int64_t{7} << 40, 3), (int64_t{7} << 40) / 3);
  EXPECT_EQ(kernels::div_nonneg((int64_t{1} << 32) - 1, 10), ((int64_t{1} << 32) - 1) / 10);
  EXPECT_EQ(kernels::div_nonneg(123456789, int64_t{1} << 33), 0);
  const int64_t height = 3001, width = 2999;
  for (int64_t m : {int64_t{0}, (int64_t{1} << 32) - 1, int64_t{1} << 32, (int64_t{1} << 33) + 12345,
                    int64_t{987654321987}}) {
    const Pixel px = kernels::decode_pixel(m, height, width);
    EXPECT_TRUE(px.y >= 0 && px.y < height && px.x >= 0 && px.x < width) << m;
    EXPECT_EQ(kernels::encode_pixel(px, height, width), m);
    const Tap t = kernels::decode_tap(m, 7, 5);
    EXPECT_TRUE(t.r >= 0 && t.r < 7 && t.s >= 0 && t.s < 5) << m;
    EXPECT_EQ(kernels::encode_tap(t, 7, 5), m);
  }
  // An input offset past 2^31: image 20000 of [N, 64, 56, 56] (about 4e9 elements before it).
  ConvGeometry g{32768, 64, 56, 56, 64, 3, 3, 56, 56, 1, 1, 1, 1, 1, 1};
  const int64_t offset = kernels::forward_input_offset(g, Pixel{20000, 10, 20}, Tap{5, 2, 1});
  EXPECT_EQ(offset, ((int64_t{20000} * 64 + 5) * 56 + 11) * 56 + 20);
}

}  // namespace
}  // namespace convnet::test
