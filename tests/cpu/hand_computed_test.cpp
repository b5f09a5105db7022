// Small cases of the CPU backend with values computed by hand.
//
// Where a value is not obvious, the comment says how it was obtained: the
// convolution and pooling numbers were worked out by hand and confirmed with a
// plain-Python loop (no libraries) implementing PyTorch's definitions; the
// softmax and cross-entropy numbers with Python's math module in double
// precision; the optimizer trajectories with a plain-Python transcription of
// torch.optim.SGD / Adam / AdamW's update rules (as documented in
// include/convnet/backend.hpp), printed with 9 significant digits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "support/values.hpp"

namespace convnet::test {
namespace {

Backend& cpu() { return get_backend(Backend::Kind::Cpu); }

std::vector<float> iota(int n, float start = 1.f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<float>(i);
  return v;
}

Conv2dParams conv_params(int stride, int pad, int dilation) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.dilation_h = p.dilation_w = dilation;
  return p;
}

// ---------------------------------------------------------------- output sizes

TEST(HandComputed, OutputSizeFormulas) {
  EXPECT_EQ(conv2d_output_size(3, 2, 2, 1, 1), 2);
  EXPECT_EQ(conv2d_output_size(7, 3, 2, 1, 1), 4);
  EXPECT_EQ(conv2d_output_size(4, 2, 1, 0, 2), 2);  // effective kernel 3
  EXPECT_EQ(conv2d_output_size(28, 5, 1, 2, 1), 28);
  EXPECT_EQ(pool2d_output_size(3, 2, 2, 0, false), 1);
  EXPECT_EQ(pool2d_output_size(3, 2, 2, 0, true), 2);
  EXPECT_EQ(pool2d_output_size(4, 3, 2, 1, false), 2);
  EXPECT_EQ(pool2d_output_size(4, 3, 2, 1, true), 3);
  // ceil would give 4, but the last window would start in the right padding.
  EXPECT_EQ(pool2d_output_size(5, 2, 2, 1, true), 3);
}

// ---------------------------------------------------------------- convolution

// x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,2],[3,4]], b = 0.5, stride 2, padding 1.
// The padded input is 5x5; windows start at padded (0,0), (0,2), (2,0), (2,2):
//   [[0,0],[0,1]] -> 4*1 = 4        [[0,0],[2,3]] -> 3*2 + 4*3 = 18
//   [[0,4],[0,7]] -> 2*4 + 4*7 = 36 [[5,6],[8,9]] -> 5 + 12 + 24 + 36 = 77   (+0.5 each)
TEST(HandComputed, Conv2dForwardPaddingStrideBias) {
  const Tensor x = Tensor::from_vector(iota(9), {1, 1, 3, 3});
  const Tensor w = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
  const Tensor b = Tensor::from_vector(std::vector<float>{0.5f}, {1});
  const Tensor y = ops::conv2d_forward(cpu(), x, w, &b, conv_params(2, 1, 1));
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(values_near(y, {4.5f, 18.5f, 36.5f, 77.5f}));
  // Without the bias.
  EXPECT_TRUE(values_near(ops::conv2d_forward(cpu(), x, w, nullptr, conv_params(2, 1, 1)),
                          {4.f, 18.f, 36.f, 77.f}));
}

// x = 1..16 as 4x4, w = [[1,2],[3,4]], dilation 2 (taps at (0,0),(0,2),(2,0),(2,2)):
// y[i][j] = x[i][j] + 2 x[i][j+2] + 3 x[i+2][j] + 4 x[i+2][j+2]
// y[0][0] = 1 + 2*3 + 3*9 + 4*11 = 78; each step right adds 10, each step down 40.
TEST(HandComputed, Conv2dForwardDilation) {
  const Tensor x = Tensor::from_vector(iota(16), {1, 1, 4, 4});
  const Tensor w = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
  const Tensor y = ops::conv2d_forward(cpu(), x, w, nullptr, conv_params(1, 0, 2));
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(values_near(y, {78.f, 88.f, 118.f, 128.f}));
}

// Two input and two output channels (confirmed with the Python loop):
// x channel 0 = 1..9, channel 1 = 4.5, 4, ..., 0.5; w[k][c] below; bias {1, -1}.
// clang-format off
const std::vector<float> kTwoChannelX = {1, 2, 3, 4, 5, 6, 7, 8, 9,
                                         4.5f, 4, 3.5f, 3, 2.5f, 2, 1.5f, 1, 0.5f};
const std::vector<float> kTwoChannelW = {1, 0, -1, 2,      0.5f, -0.5f, 1, 0,   // filter 0: c0, c1
                                         -1, 1, 0, 0.25f,  2, 0, 1, -1};        // filter 1: c0, c1
// clang-format on

TEST(HandComputed, Conv2dForwardTwoChannels) {
  const Tensor x = Tensor::from_vector(kTwoChannelX, {1, 2, 3, 3});
  const Tensor w = Tensor::from_vector(kTwoChannelW, {2, 2, 2, 2});
  const Tensor b = Tensor::from_vector(std::vector<float>{1, -1}, {2});
  const Tensor y = ops::conv2d_forward(cpu(), x, w, &b, conv_params(1, 0, 1));
  ASSERT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
  // y[0][0][0][0] = (1*1 + 0*2 - 1*4 + 2*5) + (0.5*4.5 - 0.5*4 + 1*3 + 0) + 1 = 7 + 3.25 + 1
  EXPECT_TRUE(values_near(y, {11.25f, 12.75f, 15.75f, 17.25f, 10.75f, 10.f, 8.5f, 7.75f}));
}

// Backward of the stride-2, padding-1 case above with dy = [[1,2],[3,4]]:
// dx[i][j] = sum over taps with 2p + r - 1 = i, 2q + s - 1 = j of dy[p][q] w[r][s];
// each input cell is hit by exactly one tap:
//   dx = [[1*4, 2*3, 2*4], [3*2, 4*1, 4*2], [3*4, 4*3, 4*4]]
// dw[r][s] = sum_pq x[2p+r-1][2q+s-1] dy[p][q]:
//   dw[0][0] = 5*4 = 20, dw[0][1] = 4*3 + 6*4 = 36, dw[1][0] = 2*2 + 8*4 = 36,
//   dw[1][1] = 1*1 + 3*2 + 7*3 + 9*4 = 64;  db = 1 + 2 + 3 + 4 = 10.
TEST(HandComputed, Conv2dBackwardDataFilterBias) {
  const Conv2dParams p = conv_params(2, 1, 1);
  const Tensor x = Tensor::from_vector(iota(9), {1, 1, 3, 3});
  const Tensor w = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
  const Tensor dy = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
  const Tensor dx = ops::conv2d_backward_data(cpu(), dy, w, x.shape(), p);
  ASSERT_EQ(dx.shape(), x.shape());
  EXPECT_TRUE(values_near(dx, {4, 6, 8, 6, 4, 8, 12, 12, 16}));

  Tensor dw = Tensor::full({1, 1, 2, 2}, std::numeric_limits<float>::quiet_NaN());
  ops::conv2d_backward_filter(cpu(), x, dy, p, dw, /*accumulate=*/false);
  EXPECT_TRUE(values_near(dw, {20, 36, 36, 64}));
  ops::conv2d_backward_filter(cpu(), x, dy, p, dw, /*accumulate=*/true);
  EXPECT_TRUE(values_near(dw, {40, 72, 72, 128}));

  Tensor db = Tensor::full({1}, std::numeric_limits<float>::quiet_NaN());
  ops::bias_backward(cpu(), dy, db, /*accumulate=*/false);
  EXPECT_TRUE(values_near(db, {10}));
  ops::bias_backward(cpu(), dy, db, /*accumulate=*/true);
  EXPECT_TRUE(values_near(db, {20}));
}

// The two-channel case, backward with dy = {1,-1,0.5,2 | 0,1,-2,0.5}
// (values from the Python loop; spot check dx[0][0][0][0] = dy[0][0][0][0]*w[0][0][0][0]
// + dy[0][1][0][0]*w[1][0][0][0] = 1*1 + 0*(-1) = 1).
TEST(HandComputed, Conv2dBackwardTwoChannels) {
  const Conv2dParams p = conv_params(1, 0, 1);
  const Tensor x = Tensor::from_vector(kTwoChannelX, {1, 2, 3, 3});
  const Tensor w = Tensor::from_vector(kTwoChannelW, {2, 2, 2, 2});
  const Tensor dy =
      Tensor::from_vector(std::vector<float>{1, -1, 0.5f, 2, 0, 1, -2, 0.5f}, {1, 2, 2, 2});
  EXPECT_TRUE(values_near(ops::conv2d_backward_data(cpu(), dy, w, x.shape(), p),
                          {1.f, -2.f, 1.f, 1.5f, 2.5f, -1.25f, -0.5f, -1.5f, 4.125f, 0.5f, 1.f,
                           0.5f, -2.75f, 1.75f, -2.f, -1.5f, 4.5f, -0.5f}));
  Tensor dw = Tensor::zeros(w.shape());
  ops::conv2d_backward_filter(cpu(), x, dy, p, dw, false);
  EXPECT_TRUE(values_near(dw, {11.f, 13.5f, 18.5f, 21.f, 7.f, 5.75f, 3.25f, 2.f, -3.5f, -4.f, -5.f,
                               -5.5f, -0.75f, -0.5f, 0.f, 0.25f}));
  Tensor db = Tensor::zeros({2});
  ops::bias_backward(cpu(), dy, db, false);
  EXPECT_TRUE(values_near(db, {2.5f, -0.5f}));
}

// The same numbers through the Conv2d layer (weights set by hand).
TEST(HandComputed, Conv2dLayerUsesTheSameArithmetic) {
  nn::Conv2d conv(nn::Conv2dOptions(1, 1, 2).stride(2).padding(1));
  conv.weight().value.copy_from(Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2}));
  conv.bias()->value.copy_from(Tensor::from_vector(std::vector<float>{0.5f}, {1}));
  conv.zero_grad();
  const Tensor x = Tensor::from_vector(iota(9), {1, 1, 3, 3});
  EXPECT_TRUE(values_near(conv.forward(x, nn::Mode::Train), {4.5f, 18.5f, 36.5f, 77.5f}));
  const Tensor dx =
      conv.backward(Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2}));
  EXPECT_TRUE(values_near(dx, {4, 6, 8, 6, 4, 8, 12, 12, 16}));
  EXPECT_TRUE(values_near(conv.weight().grad, {20, 36, 36, 64}));
  EXPECT_TRUE(values_near(conv.bias()->grad, {10}));
  EXPECT_EQ(conv.name(), "Conv2d(1, 1, kernel_size=(2, 2), stride=(2, 2), padding=(1, 1))");
}

// ---------------------------------------------------------------- pooling

Pool2dParams pool_params(PoolMode mode, int kernel, int stride, int pad, bool ceil) {
  Pool2dParams p;
  p.mode = mode;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.ceil_mode = ceil;
  return p;
}

// Windows [[1,3],[3,2]] and [[3,0],[1,3]] each hold the maximum 3 twice; the
// gradient goes to the first in row-major order: (0,1) and (0,2).
TEST(HandComputed, MaxPoolTiesGoToTheFirstMaximum) {
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 3, 3, 0, 3, 2, 1, 3}, {1, 1, 2, 4});
  const Pool2dParams p = pool_params(PoolMode::Max, 2, 2, 0, false);
  Tensor argmax;
  const Tensor y = ops::pool2d_forward(cpu(), x, p, &argmax);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 1, 2}));
  EXPECT_TRUE(values_near(y, {3, 3}));
  ASSERT_EQ(argmax.dtype(), DType::I32);
  EXPECT_EQ(argmax.to_vector<int32_t>(), (std::vector<int32_t>{1, 2}));  // h*W + w
  const Tensor dy = Tensor::from_vector(std::vector<float>{10, 20}, {1, 1, 1, 2});
  const std::vector<float> expected = {0, 10, 20, 0, 0, 0, 0, 0};
  EXPECT_TRUE(values_near(ops::pool2d_backward(cpu(), x, dy, &argmax, p), expected));
  // Without argmax the maximum is found again, with the same tie rule.
  EXPECT_TRUE(values_near(ops::pool2d_backward(cpu(), x, dy, nullptr, p), expected));
  // And through the layer.
  nn::MaxPool2d layer(2);
  EXPECT_TRUE(values_near(layer.forward(x, nn::Mode::Train), {3, 3}));
  EXPECT_TRUE(values_near(layer.backward(dy), expected));
}

// Overlapping windows (kernel 3, stride 1): a shared maximum receives the sum.
TEST(HandComputed, MaxPoolOverlappingWindowsAccumulate) {
  // 3x4 input; the first window holds 9 at (1,1), the second holds 9 at (1,1) and
  // (1,3): both pick (1,1), which receives 1.5 + 2.
  const Tensor x =
      Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 9, 6, 9, 7, 8, 0, 1}, {1, 1, 3, 4});
  const Pool2dParams p = pool_params(PoolMode::Max, 3, 1, 0, false);
  const Tensor y = ops::pool2d_forward(cpu(), x, p);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 1, 2}));
  EXPECT_TRUE(values_near(y, {9, 9}));
  const Tensor dy = Tensor::from_vector(std::vector<float>{1.5f, 2.f}, {1, 1, 1, 2});
  EXPECT_TRUE(values_near(ops::pool2d_backward(cpu(), x, dy, nullptr, p),
                          {0, 0, 0, 0, 0, 3.5f, 0, 0, 0, 0, 0, 0}));
}

// NaN propagates wherever it sits in the window; other windows are unaffected.
TEST(HandComputed, MaxPoolPropagatesNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // 2x6 input, three 2x2 windows: NaN first, NaN last, no NaN.
  const Tensor x = Tensor::from_vector(std::vector<float>{nan, 5, 1, 2, 3, 4,  //
                                                          1, 2, 7, nan, 8, -1},
                                       {1, 1, 2, 6});
  const Tensor y = ops::pool2d_forward(cpu(), x, pool_params(PoolMode::Max, 2, 2, 0, false));
  const std::vector<float> v = y.to_vector<float>();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_EQ(v[2], 8.f);
}

// Padding counts as -infinity for max pooling: an all-negative input stays negative.
TEST(HandComputed, MaxPoolPaddingIsMinusInfinity) {
  const Tensor x = Tensor::from_vector(std::vector<float>{-5, -6, -7, -8}, {1, 1, 2, 2});
  const Tensor y = ops::pool2d_forward(cpu(), x, pool_params(PoolMode::Max, 2, 2, 1, false));
  ASSERT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(values_near(y, {-5, -6, -7, -8}));
}

// x = 1..9 as 3x3, kernel 2, stride 2, ceil_mode -> 2x2 (floor would give 1x1).
// Windows: [[1,2],[4,5]], [[3],[6]], [[7,8]], [[9]]; with no padding the divisor is
// the part of the window inside the input in both modes (PyTorch clips windows
// to input + padding): 12/4 = 3, 9/2 = 4.5, 15/2 = 7.5, 9/1 = 9.
TEST(HandComputed, PoolingCeilMode) {
  const Tensor x = Tensor::from_vector(iota(9), {1, 1, 3, 3});
  Tensor argmax;
  const Tensor ymax =
      ops::pool2d_forward(cpu(), x, pool_params(PoolMode::Max, 2, 2, 0, true), &argmax);
  ASSERT_EQ(ymax.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(values_near(ymax, {5, 6, 8, 9}));
  EXPECT_EQ(argmax.to_vector<int32_t>(), (std::vector<int32_t>{4, 5, 7, 8}));
  for (PoolMode mode : {PoolMode::AvgIncludePad, PoolMode::AvgExcludePad}) {
    const Pool2dParams p = pool_params(mode, 2, 2, 0, true);
    EXPECT_TRUE(values_near(ops::pool2d_forward(cpu(), x, p), {3.f, 4.5f, 7.5f, 9.f}));
    // Backward: each cell gets dy / divisor of its window.
    const Tensor dy = Tensor::from_vector(std::vector<float>{4, 2, 6, 1}, {1, 1, 2, 2});
    EXPECT_TRUE(
        values_near(ops::pool2d_backward(cpu(), x, dy, nullptr, p), {1, 1, 1, 1, 1, 1, 3, 3, 1}));
  }
}

// x = 1..9 as 3x3, kernel 2, stride 2, padding 1 -> 2x2 windows over the padded 5x5:
//   {1}, {2,3}, {4,7}, {5,6,8,9}
// count_include_pad: divisor 4 everywhere -> 0.25, 1.25, 2.75, 7
// exclude padding:   divisors 1, 2, 2, 4  -> 1, 2.5, 5.5, 7
TEST(HandComputed, AvgPoolPaddingBothWays) {
  const Tensor x = Tensor::from_vector(iota(9), {1, 1, 3, 3});
  const Tensor dy = Tensor::from_vector(std::vector<float>{4, 8, 12, 16}, {1, 1, 2, 2});
  {
    const Pool2dParams p = pool_params(PoolMode::AvgIncludePad, 2, 2, 1, false);
    EXPECT_TRUE(values_near(ops::pool2d_forward(cpu(), x, p), {0.25f, 1.25f, 2.75f, 7.f}));
    EXPECT_TRUE(
        values_near(ops::pool2d_backward(cpu(), x, dy, nullptr, p), {1, 2, 2, 3, 4, 4, 3, 4, 4}));
    nn::AvgPool2d layer(nn::AvgPool2dOptions(2).padding(1));  // count_include_pad defaults to true
    EXPECT_TRUE(values_near(layer.forward(x, nn::Mode::Eval), {0.25f, 1.25f, 2.75f, 7.f}));
  }
  {
    const Pool2dParams p = pool_params(PoolMode::AvgExcludePad, 2, 2, 1, false);
    EXPECT_TRUE(values_near(ops::pool2d_forward(cpu(), x, p), {1.f, 2.5f, 5.5f, 7.f}));
    EXPECT_TRUE(
        values_near(ops::pool2d_backward(cpu(), x, dy, nullptr, p), {4, 4, 4, 6, 4, 4, 6, 4, 4}));
    nn::AvgPool2d layer(nn::AvgPool2dOptions(2).stride(2).padding(1).count_include_pad(false));
    EXPECT_TRUE(values_near(layer.forward(x, nn::Mode::Eval), {1.f, 2.5f, 5.5f, 7.f}));
  }
}

// x = 1..16 as 4x4, kernel 3, stride 2, padding 1, ceil_mode -> 3x3 (floor gives 2x2).
// The third row/column of windows starts at index 3 and is clipped to input + padding
// = 5, so with count_include_pad its divisor is 3*2 = 6 (or 2*2 = 4 at the corner),
// not 9 (PyTorch's rule; values from the Python loop).
TEST(HandComputed, AvgPoolCeilModeWithPadding) {
  const Tensor x = Tensor::from_vector(iota(16), {1, 1, 4, 4});
  const Pool2dParams incl = pool_params(PoolMode::AvgIncludePad, 3, 2, 1, true);
  const Pool2dParams excl = pool_params(PoolMode::AvgExcludePad, 3, 2, 1, true);
  const Tensor yi = ops::pool2d_forward(cpu(), x, incl);
  ASSERT_EQ(yi.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_TRUE(values_near(yi, {14.f / 9, 30.f / 9, 2.f, 57.f / 9, 11.f, 6.f, 4.5f, 7.5f, 4.f}));
  EXPECT_TRUE(values_near(ops::pool2d_forward(cpu(), x, excl),
                          {3.5f, 5.f, 6.f, 9.5f, 11.f, 12.f, 13.5f, 15.f, 16.f}));
  // Backward of the corner window alone: only cell (3,3) is inside it.
  std::vector<float> dy(9, 0.f);
  dy[8] = 8.f;
  const Tensor g = Tensor::from_vector(dy, {1, 1, 3, 3});
  std::vector<float> expected(16, 0.f);
  expected[15] = 2.f;  // 8 / 4
  EXPECT_TRUE(values_near(ops::pool2d_backward(cpu(), x, g, nullptr, incl), expected));
  expected[15] = 8.f;  // 8 / 1
  EXPECT_TRUE(values_near(ops::pool2d_backward(cpu(), x, g, nullptr, excl), expected));
}

// ---------------------------------------------------------------- softmax

// softmax([1,2,3]) = e^k / (e + e^2 + e^3), log-softmax = k - 3 - log(1 + e^-1 + e^-2)
// (Python math, double precision).
TEST(HandComputed, SoftmaxOfAKnownRow) {
  const std::vector<float> p = {0.0900305732f, 0.244728471f, 0.665240956f};
  const std::vector<float> lp = {-2.40760596f, -1.40760596f, -0.407605964f};
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3}, {1, 3});
  EXPECT_TRUE(values_near(ops::softmax_forward(cpu(), x), p, 1e-6, 1e-7));
  EXPECT_TRUE(values_near(ops::log_softmax_forward(cpu(), x), lp, 1e-6, 1e-7));
  // Logits 1000, 1001, 1002 give the same answer without overflowing exp.
  const Tensor big = Tensor::from_vector(std::vector<float>{1000, 1001, 1002}, {1, 3});
  EXPECT_TRUE(values_near(ops::softmax_forward(cpu(), big), p, 1e-6, 1e-7));
  EXPECT_TRUE(values_near(ops::log_softmax_forward(cpu(), big), lp, 1e-5, 1e-6));
  const Tensor neg = Tensor::from_vector(std::vector<float>{-1002, -1001, -1000}, {1, 3});
  EXPECT_TRUE(values_near(ops::softmax_forward(cpu(), neg), p, 1e-6, 1e-7));
  // A second row: softmax([0.5, -1, 2, 0]).
  const Tensor x2 = Tensor::from_vector(std::vector<float>{0.5f, -1, 2, 0}, {1, 4});
  EXPECT_TRUE(values_near(ops::softmax_forward(cpu(), x2),
                          {0.15844471f, 0.0353537934f, 0.710099923f, 0.0961015742f}, 1e-6, 1e-7));
  EXPECT_TRUE(values_near(ops::log_softmax_forward(cpu(), x2),
                          {-1.84234958f, -3.34234958f, -0.342349582f, -2.34234958f}, 1e-6, 1e-7));
}

// Backward: softmax dx = y * (dy - sum(dy * y)); log-softmax dx = dy - softmax * sum(dy).
TEST(HandComputed, SoftmaxBackwardOfAKnownRow) {
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3}, {1, 3});
  const Tensor dy = Tensor::from_vector(std::vector<float>{1, 0, 0}, {1, 3});
  const double p0 = 0.0900305732, p1 = 0.244728471, p2 = 0.665240956;
  const Tensor y = ops::softmax_forward(cpu(), x);
  EXPECT_TRUE(values_near(ops::softmax_backward(cpu(), y, dy),
                          {static_cast<float>(p0 * (1 - p0)), static_cast<float>(-p1 * p0),
                           static_cast<float>(-p2 * p0)},
                          1e-5, 1e-7));
  const Tensor ly = ops::log_softmax_forward(cpu(), x);
  EXPECT_TRUE(values_near(
      ops::log_softmax_backward(cpu(), ly, dy),
      {static_cast<float>(1 - p0), static_cast<float>(-p1), static_cast<float>(-p2)}, 1e-5, 1e-7));
}

// ---------------------------------------------------------------- cross-entropy

// Rows [1,2,3] label 2, [3,1,2.5] label 1, [0,0,0] label 0; mean NLL and
// (softmax - onehot) / 3 from Python's math module.
TEST(HandComputed, CrossEntropyOfAKnownCase) {
  const Tensor logits =
      Tensor::from_vector(std::vector<float>{1, 2, 3, 3, 1, 2.5f, 0, 0, 0}, {3, 3});
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{2, 1, 0}, {3});
  Tensor probs;
  const Tensor loss = ops::softmax_cross_entropy_forward(cpu(), logits, labels, probs);
  ASSERT_EQ(loss.numel(), 1);
  EXPECT_NEAR(loss.item(), 1.35372506, 1e-6);
  ASSERT_EQ(probs.shape(), logits.shape());
  const std::vector<float> grad = {0.0300101911f, 0.081576157f,  -0.111586348f,
                                   0.191365664f,  -0.307434807f, 0.116069143f,
                                   -0.222222222f, 0.111111111f,  0.111111111f};
  EXPECT_TRUE(
      values_near(ops::softmax_cross_entropy_backward(cpu(), probs, labels), grad, 1e-5, 1e-7));
  std::vector<float> scaled = grad;
  for (float& g : scaled) g *= 4.f;
  EXPECT_TRUE(values_near(ops::softmax_cross_entropy_backward(cpu(), probs, labels, 4.f), scaled,
                          1e-5, 1e-7));
  // Through the loss object.
  nn::CrossEntropyLoss ce;
  EXPECT_NEAR(ce.forward(logits, labels).item(), 1.35372506, 1e-6);
  EXPECT_TRUE(values_near(ce.backward(), grad, 1e-5, 1e-7));
}

// e = 0.5 over 2 classes: targets 0.75 / 0.25. Row [0, 0] (label 0): p = [1/2, 1/2],
// loss ln 2. Row [ln 3, 0] (label 1): p = [3/4, 1/4], loss -(ln(3/4) + 3 ln(1/4)) / 4.
// Mean 0.902394; gradient (p - target) / 2 = [-1/8, 1/8], [1/4, -1/4].
TEST(HandComputed, CrossEntropyWithLabelSmoothing) {
  const Tensor logits = Tensor::from_vector(std::vector<float>{0.f, 0.f, 1.09861229f, 0.f}, {2, 2});
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1}, {2});
  nn::CrossEntropyLoss ce(0.5f);
  EXPECT_NEAR(ce.forward(logits, labels).item(), 0.90239423, 1e-6);
  EXPECT_TRUE(values_near(ce.backward(), {-0.125f, 0.125f, 0.25f, -0.25f}, 1e-6, 1e-7));
  // e = 1: the uniform target; the label no longer matters.
  nn::CrossEntropyLoss uniform(1.f);
  const Tensor other = Tensor::from_vector(std::vector<int32_t>{1, 0}, {2});
  const float a = uniform.forward(logits, labels).item();
  EXPECT_FLOAT_EQ(uniform.forward(logits, other).item(), a);
}

TEST(HandComputed, CrossEntropyWithHugeLogitsIsFinite) {
  // Row [1000, 0]: label 0 costs ~0, label 1 costs 1000.
  const Tensor logits = Tensor::from_vector(std::vector<float>{1000, 0, 1000, 0}, {2, 2});
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1}, {2});
  nn::CrossEntropyLoss ce;
  EXPECT_NEAR(ce.forward(logits, labels).item(), 500.0, 1e-3);
  EXPECT_TRUE(values_near(ce.backward(), {0.f, 0.f, 0.5f, -0.5f}, 1e-6, 1e-7));
}

// ---------------------------------------------------------------- count_correct

TEST(HandComputed, CountCorrectUsesTheFirstMaximum) {
  // Row argmaxes: 1, 0 (tie 0.5/0.5 -> first), 0, 2.
  const Tensor logits = Tensor::from_vector(
      std::vector<float>{0.1f, 0.9f, 0.f, 0.5f, 0.5f, 0.2f, 3.f, 1.f, 2.f, 0.f, 0.f, 1.f}, {4, 3});
  Tensor correct = Tensor::full({1}, -7.f, Device::cpu(), DType::I32);
  ops::count_correct(cpu(), logits, Tensor::from_vector(std::vector<int32_t>{1, 1, 0, 2}, {4}),
                     correct, /*accumulate=*/false);
  EXPECT_EQ(correct.to_vector<int32_t>(), std::vector<int32_t>{3});
  ops::count_correct(cpu(), logits, Tensor::from_vector(std::vector<int32_t>{1, 0, 0, 2}, {4}),
                     correct, /*accumulate=*/true);
  EXPECT_EQ(correct.to_vector<int32_t>(), std::vector<int32_t>{7});
  ops::count_correct(cpu(), logits, Tensor::from_vector(std::vector<int32_t>{0, 2, 1, 0}, {4}),
                     correct, /*accumulate=*/false);
  EXPECT_EQ(correct.to_vector<int32_t>(), std::vector<int32_t>{0});
}

// ---------------------------------------------------------------- elementwise

TEST(HandComputed, ElementwiseAddScaleFill) {
  const Tensor a = Tensor::from_vector(std::vector<float>{1, -2, 3.5f}, {3});
  const Tensor b = Tensor::from_vector(std::vector<float>{0.5f, 2, -1}, {3});
  EXPECT_TRUE(values_near(ops::add(cpu(), a, b), {1.5f, 0.f, 2.5f}));
  EXPECT_TRUE(values_near(ops::scale(cpu(), a, -2.f), {-2.f, 4.f, -7.f}));
  Tensor c = a.clone();
  ops::add_(cpu(), c, b);
  EXPECT_TRUE(values_near(c, {1.5f, 0.f, 2.5f}));
  ops::fill(cpu(), c, 0.25f);
  EXPECT_TRUE(values_near(c, {0.25f, 0.25f, 0.25f}));
}

// ---------------------------------------------------------------- optimizers

// A 2-element parameter p0 = {1, -2} with gradients g1 = {0.5, -1},
// g2 = {-0.25, 0.75}, g3 = {1, 0.5}; the expected values after each step come
// from a plain-Python transcription of torch.optim (see the note at the top):
//   SGD:  d = g + wd*p; buf = d (first step) else momentum*buf + (1-dampening)*d;
//         d = nesterov ? d + momentum*buf : buf; p -= lr*d
//   Adam: g += wd*p (Adam) or p *= 1 - lr*wd (AdamW); m = b1 m + (1-b1) g;
//         v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
using Trajectory = std::vector<std::vector<float>>;

template <typename MakeOptimizer>
void expect_trajectory(MakeOptimizer make, const Trajectory& expected) {
  nn::Parameter param{"w", Tensor::from_vector(std::vector<float>{1.f, -2.f}, {2}),
                      Tensor::zeros({2})};
  auto opt = make(std::vector<nn::Parameter*>{&param});
  const Trajectory grads = {{0.5f, -1.f}, {-0.25f, 0.75f}, {1.f, 0.5f}};
  for (size_t step = 0; step < grads.size(); ++step) {
    SCOPED_TRACE("step " + std::to_string(step + 1));
    param.grad.copy_from(Tensor::from_vector(grads[step], {2}));
    opt.step();
    EXPECT_EQ(opt.step_count(), static_cast<int64_t>(step + 1));
    EXPECT_TRUE(values_near(param.value, expected[step], 2e-6, 1e-7));
  }
  opt.zero_grad();
  EXPECT_TRUE(values_near(param.grad, {0.f, 0.f}, 0.0, 0.0));
}

nn::SGD make_sgd(std::vector<nn::Parameter*> params, float lr, float momentum, float dampening,
                 float weight_decay, bool nesterov) {
  return nn::SGD(std::move(params), nn::SGDOptions(lr)
                                        .momentum(momentum)
                                        .dampening(dampening)
                                        .weight_decay(weight_decay)
                                        .nesterov(nesterov));
}

TEST(HandComputed, SgdPlain) {
  expect_trajectory([](auto ps) { return make_sgd(ps, 0.1f, 0, 0, 0, false); },
                    {{0.95f, -1.9f}, {0.975f, -1.975f}, {0.875f, -2.025f}});
}

TEST(HandComputed, SgdMomentum) {
  expect_trajectory([](auto ps) { return make_sgd(ps, 0.1f, 0.9f, 0, 0, false); },
                    {{0.95f, -1.9f}, {0.93f, -1.885f}, {0.812f, -1.9215f}});
}

TEST(HandComputed, SgdNesterov) {
  expect_trajectory([](auto ps) { return make_sgd(ps, 0.1f, 0.9f, 0, 0, true); },
                    {{0.905f, -1.81f}, {0.912f, -1.8715f}, {0.7058f, -1.95435f}});
}

// torch: the first step sets buf = d without dampening.
TEST(HandComputed, SgdMomentumDampening) {
  expect_trajectory([](auto ps) { return make_sgd(ps, 0.1f, 0.9f, 0.5f, 0, false); },
                    {{0.95f, -1.9f}, {0.9175f, -1.8475f}, {0.83825f, -1.82525f}});
}

TEST(HandComputed, SgdWeightDecay) {
  expect_trajectory([](auto ps) { return make_sgd(ps, 0.1f, 0, 0, 0.1f, false); },
                    {{0.94f, -1.88f}, {0.9556f, -1.9362f}, {0.846044f, -1.966838f}});
  expect_trajectory([](auto ps) { return make_sgd(ps, 0.1f, 0.5f, 0, 0.01f, false); },
                    {{0.949f, -1.898f}, {0.947551f, -1.920102f}, {0.845878949f, -1.9792329f}});
}

nn::Adam make_adam(std::vector<nn::Parameter*> params, float lr, float b1, float b2, float eps,
                   float wd) {
  return nn::Adam(std::move(params),
                  nn::AdamOptions(lr).betas({b1, b2}).eps(eps).weight_decay(wd));
}

TEST(HandComputed, Adam) {
  expect_trajectory(
      [](auto ps) { return make_adam(ps, 0.1f, 0.9f, 0.999f, 1e-8f, 0); },
      {{0.900000002f, -1.9f}, {0.873366299f, -1.8910675f}, {0.80755514f, -1.90839896f}});
  expect_trajectory(
      [](auto ps) { return make_adam(ps, 0.05f, 0.8f, 0.9f, 1e-3f, 0); },
      {{0.9500998f, -1.95004995f}, {0.939415856f, -1.9484687f}, {0.905789769f, -1.96085156f}});
}

TEST(HandComputed, AdamL2WeightDecay) {
  expect_trajectory(
      [](auto ps) { return make_adam(ps, 0.1f, 0.9f, 0.999f, 1e-8f, 0.1f); },
      {{0.900000002f, -1.9f}, {0.854441367f, -1.87076728f}, {0.7815044f, -1.86348057f}});
}

TEST(HandComputed, AdamWDecoupledWeightDecay) {
  expect_trajectory(
      [](auto ps) {
        return nn::AdamW(std::move(ps), nn::AdamWOptions(0.1f).weight_decay(0.1f));
      },
      {{0.890000002f, -1.88f}, {0.854466299f, -1.8522675f}, {0.780110477f, -1.85107628f}});
}

}  // namespace
}  // namespace convnet::test
