// Data that is not MNIST: TensorDataset over in-memory tensors, the DataLoader
// on 3-channel images and on [N, F] feature rows, and per-channel Normalize
// against hand-computed values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "convnet/data/dataloader.hpp"
#include "convnet/error.hpp"

namespace convnet::data {
namespace {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no convnet::Error thrown";
  return "";
}

std::vector<int32_t> iota_labels(int64_t count) {
  std::vector<int32_t> labels(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) labels[i] = static_cast<int32_t>(i);
  return labels;
}

// Each sample's values are fresh random numbers; the label is the sample's index,
// so a delivered row can be checked against the source row it claims to be.
void expect_rows_match_their_labels(DataLoader& loader, const Tensor& source,
                                    const std::vector<int64_t>& batch_tail) {
  const std::vector<float> values = source.to_vector<float>();
  const int64_t row = source.numel() / source.size(0);
  std::vector<int32_t> seen;
  Batch batch;
  loader.start_epoch(0);
  while (loader.next(batch)) {
    std::vector<int64_t> expected_shape{batch.size()};
    expected_shape.insert(expected_shape.end(), batch_tail.begin(), batch_tail.end());
    ASSERT_EQ(batch.images.shape(), Shape(expected_shape));
    const std::vector<float> images = batch.images.to_vector<float>();
    const std::vector<int32_t> labels = batch.labels.to_vector<int32_t>();
    for (int64_t r = 0; r < batch.size(); ++r) {
      for (int64_t p = 0; p < row; ++p)
        ASSERT_EQ(images[r * row + p], values[labels[r] * row + p]) << "label " << labels[r];
      seen.push_back(labels[r]);
    }
  }
  std::vector<int32_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, iota_labels(source.size(0)));
  EXPECT_NE(seen, iota_labels(source.size(0)));  // shuffled
}

TEST(TensorDataset, DataLoaderDeliversThreeChannelImages) {
  const Tensor images = Tensor::rand({37, 3, 4, 5}, Device::cpu(), 11);
  const TensorDataset set(images, Tensor::from_vector(iota_labels(37), {37}));
  EXPECT_EQ(set.size(), 37);
  DataLoaderOptions options;
  options.batch_size = 8;
  options.seed = 3;
  DataLoader loader(set, options);
  EXPECT_EQ(loader.batches_per_epoch(), 5);
  expect_rows_match_their_labels(loader, images, {3, 4, 5});
}

TEST(TensorDataset, DataLoaderDeliversFeatureRows) {
  const Tensor features = Tensor::randn({50, 7}, Device::cpu(), 12);
  const TensorDataset set(features, Tensor::from_vector(iota_labels(50), {50}));
  for (bool prefetch : {false, true}) {
    DataLoaderOptions options;
    options.batch_size = 16;
    options.prefetch = prefetch;
    DataLoader loader(set, options);
    expect_rows_match_their_labels(loader, features, {7});
  }
}

TEST(TensorDataset, SharesTheTensorsItIsGiven) {
  const Tensor features = Tensor::rand({4, 2}, Device::cpu(), 13);
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{1, 0, 1, 0}, {4});
  const TensorDataset set(features, labels);
  EXPECT_EQ(set.images.data<float>(), features.data<float>());
  EXPECT_EQ(set.labels.data<int32_t>(), labels.data<int32_t>());
  const Dataset tail = set.slice(2, 4);  // usable as a Dataset
  EXPECT_EQ(tail.labels.to_vector<int32_t>(), (std::vector<int32_t>{1, 0}));
}

TEST(TensorDataset, RefusesMismatchedOrMistypedTensors) {
  const Tensor labels = Tensor::from_vector(iota_labels(6), {6});
  const std::string counts =
      error_of([&] { TensorDataset(Tensor::rand({5, 3}, Device::cpu(), 1), labels); });
  EXPECT_NE(counts.find("TensorDataset: the first dimensions differ: 5 samples in inputs [5, 3] "
                        "but 6 labels"),
            std::string::npos)
      << counts;

  const Tensor float_labels = Tensor::zeros({6});
  const std::string label_dtype =
      error_of([&] { TensorDataset(Tensor::rand({6, 3}, Device::cpu(), 1), float_labels); });
  EXPECT_NE(label_dtype.find("labels must be i32 [N] class indices, got Tensor[6] f32"),
            std::string::npos)
      << label_dtype;

  const std::string label_rank = error_of(
      [&] { TensorDataset(Tensor::rand({6, 3}, Device::cpu(), 1), Tensor::zeros({6, 1}, Device::cpu(), DType::I32)); });
  EXPECT_NE(label_rank.find("labels must be i32 [N]"), std::string::npos) << label_rank;

  const std::string input_dtype =
      error_of([&] { TensorDataset(Tensor::zeros({6, 3}, Device::cpu(), DType::I32), labels); });
  EXPECT_NE(input_dtype.find("inputs must be f32, got Tensor[6, 3] i32"), std::string::npos) << input_dtype;

  const std::string flat = error_of([&] { TensorDataset(Tensor::rand({6}, Device::cpu(), 1), labels); });
  EXPECT_NE(flat.find("one feature per sample is [N, 1]"), std::string::npos) << flat;

  EXPECT_NE(error_of([&] { TensorDataset(Tensor(), labels); }).find("needs defined"), std::string::npos);
}

// ---- per-channel Normalize

// [2, 3, 1, 2]: sample, channel, then two values a channel.
const std::vector<float> kImages{1, 3, 2, 6, 3, 3.5f,    // sample 0: channels 0, 1, 2
                                 5, -1, 10, 0, 2.5f, 4};  // sample 1
// (x - mean[c]) / std[c] with mean {1, 2, 3} and std {2, 4, 0.5}, by hand.
const std::vector<float> kNormalised{0, 1, 0, 1, 0, 1,  //
                                     2, -1, 2, -0.5f, -1, 2};

TEST(Normalize, PerChannelMatchesHandComputedValues) {
  const Tensor images = Tensor::from_vector(kImages, {2, 3, 1, 2});
  const Normalize norm({1.f, 2.f, 3.f}, {2.f, 4.f, 0.5f});
  EXPECT_EQ(norm.channels(), 3);
  EXPECT_EQ(norm(images).to_vector<float>(), kNormalised);
  EXPECT_EQ(images.to_vector<float>(), kImages);  // the input is left alone
}

TEST(Normalize, PerFeatureOnRows) {
  // [3, 2] rows: feature 0 is {1, 3, 5}, feature 1 {10, 20, 30}.
  const Tensor rows = Tensor::from_vector(std::vector<float>{1, 10, 3, 20, 5, 30}, {3, 2});
  EXPECT_EQ(Normalize({3.f, 20.f}, {2.f, 10.f})(rows).to_vector<float>(),
            (std::vector<float>{-1, -1, 0, 0, 1, 1}));
}

TEST(Normalize, OneValueAppliesToEveryChannel) {
  const Tensor images = Tensor::from_vector(kImages, {2, 3, 1, 2});
  std::vector<float> expected;
  for (float x : kImages) expected.push_back((x - 1.f) / 2.f);
  EXPECT_EQ(Normalize(1.f, 2.f)(images).to_vector<float>(), expected);
  EXPECT_EQ(Normalize(std::vector<float>{1.f}, std::vector<float>{2.f})(images).to_vector<float>(),
            expected);
  EXPECT_EQ(Normalize()(images).to_vector<float>(), kImages);  // the default is the identity
}

TEST(Normalize, TheDataLoaderAppliesItPerChannel) {
  const TensorDataset set(Tensor::from_vector(kImages, {2, 3, 1, 2}),
                          Tensor::from_vector(std::vector<int32_t>{0, 1}, {2}));
  DataLoaderOptions options;
  options.shuffle = false;
  options.batch_size = 2;
  options.normalization = Normalize({1.f, 2.f, 3.f}, {2.f, 4.f, 0.5f});
  DataLoader loader(set, options);
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.images.to_vector<float>(), kNormalised);
}

TEST(Normalize, RefusesAChannelCountMismatch) {
  const Tensor images = Tensor::from_vector(kImages, {2, 3, 1, 2});
  const Normalize two({0.f, 0.f}, {1.f, 1.f});
  const std::string message = error_of([&] { two(images); });
  EXPECT_NE(message.find("Normalize: Normalize has values for 2 channels, but [2, 3, 1, 2] has 3 "
                         "channels (dimension 1)"),
            std::string::npos)
      << message;
  DataLoaderOptions options;
  options.normalization = two;
  const TensorDataset set(images, Tensor::from_vector(std::vector<int32_t>{0, 1}, {2}));
  const std::string loader = error_of([&] { DataLoader(set, options); });
  EXPECT_NE(loader.find("DataLoader: normalization: Normalize has values for 2 channels"),
            std::string::npos)
      << loader;
  const std::string flat =
      error_of([&] { two(Tensor::from_vector(std::vector<float>{1, 2}, {2})); });
  EXPECT_NE(flat.find("has no channel dimension"), std::string::npos) << flat;
  const std::string lengths = error_of([&] { Normalize({0.f, 0.f, 0.f}, {1.f, 1.f})(images); });
  EXPECT_NE(lengths.find("got 3 means [0, 0, 0] and 2 stds [1, 1]"), std::string::npos) << lengths;
}

TEST(Normalize, RefusesANonPositiveStd) {
  const Tensor images = Tensor::from_vector(kImages, {2, 3, 1, 2});
  for (float bad : {0.f, -1.f, std::nanf(""), INFINITY}) {
    const std::string message = error_of([&] { Normalize({0.f, 0.f, 0.f}, {1.f, bad, 1.f})(images); });
    EXPECT_NE(message.find("finite, positive std"), std::string::npos) << message;
    EXPECT_NE(message.find("for channel 1"), std::string::npos) << message;
  }
  EXPECT_NE(error_of([&] { Normalize(0.f, 0.f)(images); }).find("finite, positive std"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Normalize(NAN, 1.f)(images); }).find("finite mean"), std::string::npos);
}

}  // namespace
}  // namespace convnet::data
