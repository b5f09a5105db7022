// filter_grid's layout and scaling, and which convolution the Trainer shows
// (detail::first_conv2d). Neither needs protobuf: they run in every build.
#include <gtest/gtest.h>

#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/train/tensorboard.hpp"
#include "train/tensorboard_log.hpp"

namespace convnet::train {
namespace {

TEST(FilterGrid, SingleChannelFiltersTileASquareGridEachOnItsOwnScale) {
  // Two 2x2 filters: a ramp (scaled to 0, 1/3, 2/3, 1) and a constant (0.5).
  const Tensor weight = Tensor::from_vector(std::vector<float>{0.f, 1.f, 2.f, 3.f, 5.f, 5.f, 5.f, 5.f}, {2, 1, 2, 2});
  const Tensor grid = filter_grid(weight);
  // ceil(sqrt(2)) = 2 columns, 1 row, 1-pixel gaps around every tile.
  ASSERT_EQ(grid.shape(), Shape({1, 4, 7}));
  const float t = 1.f / 3, u = 2.f / 3;
  const std::vector<float> expected = {
      0, 0, 0, 0, 0,   0,   0,  //
      0, 0, t, 0, .5f, .5f, 0,  //
      0, u, 1, 0, .5f, .5f, 0,  //
      0, 0, 0, 0, 0,   0,   0,  //
  };
  const std::vector<float> got = grid.to_vector<float>();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], expected[i]) << "pixel " << i;
}

TEST(FilterGrid, ThreeInputChannelsMakeAnRgbImageScaledOverTheWholeFilter) {
  const Tensor weight = Tensor::from_vector(std::vector<float>{-1.f, 0.f, 3.f}, {1, 3, 1, 1});  // R, G, B
  const Tensor grid = filter_grid(weight);
  ASSERT_EQ(grid.shape(), Shape({3, 3, 3}));
  const std::vector<float> got = grid.to_vector<float>();
  EXPECT_FLOAT_EQ(got[0 * 9 + 4], 0.f);    // R: the minimum
  EXPECT_FLOAT_EQ(got[1 * 9 + 4], 0.25f);  // G
  EXPECT_FLOAT_EQ(got[2 * 9 + 4], 1.f);    // B: the maximum
  EXPECT_FLOAT_EQ(got[0], 0.f);            // the gap
}

TEST(FilterGrid, OtherChannelCountsGetARowPerFilterAndAColumnPerChannel) {
  // 2 filters of 2 input channels, 1x1: filter 0 = {1, 3}, filter 1 = {4, 2}.
  const Tensor grid = filter_grid(Tensor::from_vector(std::vector<float>{1.f, 3.f, 4.f, 2.f}, {2, 2, 1, 1}));
  ASSERT_EQ(grid.shape(), Shape({1, 5, 5}));
  const std::vector<float> got = grid.to_vector<float>();
  EXPECT_FLOAT_EQ(got[1 * 5 + 1], 0.f);
  EXPECT_FLOAT_EQ(got[1 * 5 + 3], 1.f);
  EXPECT_FLOAT_EQ(got[3 * 5 + 1], 1.f);
  EXPECT_FLOAT_EQ(got[3 * 5 + 3], 0.f);
}

TEST(FilterGrid, RefusesWhatIsNoConvolutionWeight) {
  EXPECT_THROW(filter_grid(Tensor::zeros({4, 4})), Error);
  EXPECT_THROW(filter_grid(Tensor::zeros({0, 1, 3, 3})), Error);
  EXPECT_THROW(filter_grid(Tensor::zeros({2, 1, 3, 3}, Device::cpu(), DType::I32)), Error);
  EXPECT_THROW(filter_grid(Tensor()), Error);
}

TEST(FirstConv2d, WalksChildrenDepthFirstInRegistrationOrder) {
  nn::Sequential net;
  auto inner = std::make_unique<nn::Sequential>();
  inner->add<nn::ReLU>();
  auto innermost = std::make_unique<nn::Sequential>();
  innermost->add<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3));
  inner->add(std::move(innermost));
  net.add(std::move(inner));
  net.add<nn::Conv2d>(nn::Conv2dOptions(2, 2, 3));
  const auto [conv, name] = detail::first_conv2d(net);
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(name, "0.1.0");
  EXPECT_EQ(conv->weight().value.shape(), Shape({2, 1, 3, 3}));

  nn::ResNet resnet(nn::ResNetOptions().widths({4}).blocks({1}));
  EXPECT_EQ(detail::first_conv2d(resnet).second, "conv1");

  nn::Conv2d bare(nn::Conv2dOptions(1, 1, 1));
  EXPECT_EQ(detail::first_conv2d(bare).first, &bare);
  EXPECT_EQ(detail::first_conv2d(bare).second, "");

  nn::Sequential mlp;
  mlp.add<nn::Flatten>().add<nn::Linear>(4, 2);
  EXPECT_EQ(detail::first_conv2d(mlp).first, nullptr);
}

}  // namespace
}  // namespace convnet::train
