// DataLoader augmentation (data::Augmentation): random crop with padding and
// random horizontal flip, checked against torchvision's pipeline written out
// here (pad the raw image with 0, cut the window, mirror it, then normalise).
// Every raw pixel of a sample is distinct and non-zero, so a delivered sample
// matches exactly one (top, left, flip) of the reference: the tests recover each
// sample's draw from the batch alone and check its range and distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "convnet/data/dataloader.hpp"
#include "convnet/error.hpp"
#include "support/values.hpp"

namespace convnet::data {
namespace {

using test::error_message;

// Raw images [N, C, H, W] (pixels in [1, 1 + C*H*W], none 0, all distinct within
// a sample, shifted by the sample index so samples differ), labels = index.
Dataset raw_images(int64_t count, int64_t channels, int64_t height, int64_t width) {
  Dataset data;
  data.images = Tensor::empty({count, channels, height, width});
  data.labels = Tensor::empty({count}, Device::cpu(), DType::I32);
  float* pixels = data.images.data<float>();
  const int64_t row = channels * height * width;
  for (int64_t i = 0; i < count; ++i) {
    data.labels.data<int32_t>()[i] = static_cast<int32_t>(i);
    for (int64_t p = 0; p < row; ++p)
      pixels[i * row + p] = static_cast<float>(1 + p) + 0.125f * static_cast<float>(i % 7);
  }
  return data;
}

struct Geometry {
  int64_t channels, height, width;  // the raw sample
  int64_t crop_height, crop_width, padding;
};

// torchvision: Pad(padding, fill=0) -> crop at (top, left) -> mirror -> Normalize.
std::vector<float> reference(const float* raw, const Geometry& g, const Normalize& normalization,
                             int64_t top, int64_t left, bool flip) {
  std::vector<float> out;
  for (int64_t c = 0; c < g.channels; ++c) {
    const size_t k = normalization.channels() == 1 ? 0 : static_cast<size_t>(c);
    for (int64_t y = 0; y < g.crop_height; ++y)
      for (int64_t x = 0; x < g.crop_width; ++x) {
        const int64_t sy = top + y - g.padding;
        const int64_t sx = left + (flip ? g.crop_width - 1 - x : x) - g.padding;
        const bool inside = sy >= 0 && sy < g.height && sx >= 0 && sx < g.width;
        const float value = inside ? raw[(c * g.height + sy) * g.width + sx] : 0.f;
        out.push_back((value - normalization.mean[k]) / normalization.std[k]);
      }
  }
  return out;
}

struct Draw {
  int64_t top, left;
  bool flip;
};

// Every (top, left, flip) whose reference equals `sample` exactly.
std::vector<Draw> matching_draws(const float* sample, const float* raw, const Geometry& g,
                                 const Normalize& normalization) {
  std::vector<Draw> found;
  const int64_t size = g.channels * g.crop_height * g.crop_width;
  for (int64_t top = 0; top <= g.height + 2 * g.padding - g.crop_height; ++top)
    for (int64_t left = 0; left <= g.width + 2 * g.padding - g.crop_width; ++left)
      for (bool flip : {false, true}) {
        const std::vector<float> expected = reference(raw, g, normalization, top, left, flip);
        if (std::vector<float>(sample, sample + size) == expected) found.push_back({top, left, flip});
      }
  return found;
}

struct Delivered {
  std::vector<int32_t> labels;
  std::vector<float> images;
  std::vector<int64_t> sizes;
  Shape first_shape;
};

Delivered run_epoch(DataLoader& loader, int64_t epoch) {
  Delivered out;
  loader.start_epoch(epoch);
  Batch batch;
  while (loader.next(batch)) {
    if (out.sizes.empty()) out.first_shape = batch.images.shape();
    out.sizes.push_back(batch.size());
    for (int32_t v : batch.labels.to_vector<int32_t>()) out.labels.push_back(v);
    for (float v : batch.images.to_vector<float>()) out.images.push_back(v);
  }
  return out;
}

// Recovers the draw of every delivered sample, expecting exactly one match each.
std::vector<Draw> recover_draws(const Delivered& epoch, const Dataset& data, const Geometry& g,
                                const Normalize& normalization) {
  const int64_t raw_size = g.channels * g.height * g.width;
  const int64_t out_size = g.channels * g.crop_height * g.crop_width;
  std::vector<Draw> draws;
  for (size_t r = 0; r < epoch.labels.size(); ++r) {
    const float* raw = data.images.data<float>() + epoch.labels[r] * raw_size;
    const std::vector<Draw> found =
        matching_draws(epoch.images.data() + r * out_size, raw, g, normalization);
    EXPECT_EQ(found.size(), 1u) << "sample " << epoch.labels[r] << " (row " << r
                                << ") is not one window of its padded image";
    if (found.size() == 1) draws.push_back(found[0]);
  }
  return draws;
}

TEST(Augmentation, EveryCropIsAShiftedWindowOfTheZeroPaddedImageAndCoversEveryShift) {
  const Geometry g{3, 6, 5, 6, 5, 3};  // crop = image size: shifts -3..3 both ways
  const Normalize normalization({0.1f, 0.2f, 0.3f}, {0.5f, 0.25f, 2.f});  // pads: -0.2, -0.8, -0.15
  const Dataset data = raw_images(500, g.channels, g.height, g.width);
  DataLoaderOptions options;
  options.batch_size = 64;
  options.seed = 11;
  options.normalization = normalization;
  options.augmentation = Augmentation().random_crop(6, 3);
  ASSERT_EQ(options.augmentation.crop_width(), 6);  // one int: square
  options.augmentation = Augmentation().random_crop({6, 5}, 3);
  DataLoader loader(data, options);
  const Delivered epoch = run_epoch(loader, 0);
  EXPECT_EQ(epoch.first_shape, Shape({64, 3, 6, 5}));
  const std::vector<Draw> draws = recover_draws(epoch, data, g, normalization);
  ASSERT_EQ(draws.size(), 500u);
  std::set<int64_t> vertical, horizontal;
  for (const Draw& d : draws) {
    EXPECT_FALSE(d.flip) << "no flip was asked for";
    vertical.insert(d.top - g.padding);
    horizontal.insert(d.left - g.padding);
  }
  EXPECT_EQ(vertical, (std::set<int64_t>{-3, -2, -1, 0, 1, 2, 3}));
  EXPECT_EQ(horizontal, (std::set<int64_t>{-3, -2, -1, 0, 1, 2, 3}));
}

TEST(Augmentation, CropSmallerThanTheImageDeliversTheCropShape) {
  const Normalize normalization(0.5f, 0.25f);  // pad value -2
  for (const Geometry& g : {Geometry{1, 7, 8, 4, 5, 1}, Geometry{2, 7, 8, 3, 8, 0}}) {
    const Dataset data = raw_images(300, g.channels, g.height, g.width);
    DataLoaderOptions options;
    options.batch_size = 32;
    options.normalization = normalization;
    options.augmentation =
        Augmentation().random_crop({g.crop_height, g.crop_width}, g.padding).horizontal_flip(0.5);
    DataLoader loader(data, options);
    const Delivered epoch = run_epoch(loader, 3);
    EXPECT_EQ(epoch.first_shape, Shape({32, g.channels, g.crop_height, g.crop_width}));
    const std::vector<Draw> draws = recover_draws(epoch, data, g, normalization);
    ASSERT_EQ(draws.size(), 300u);
    std::set<int64_t> tops, lefts;
    std::set<bool> flips;
    for (const Draw& d : draws) {
      tops.insert(d.top);
      lefts.insert(d.left);
      flips.insert(d.flip);
    }
    // Corners 0..H + 2p - h and 0..W + 2p - w, every one drawn.
    EXPECT_EQ(static_cast<int64_t>(tops.size()), g.height + 2 * g.padding - g.crop_height + 1);
    EXPECT_EQ(*tops.rbegin(), g.height + 2 * g.padding - g.crop_height);
    EXPECT_EQ(static_cast<int64_t>(lefts.size()), g.width + 2 * g.padding - g.crop_width + 1);
    EXPECT_EQ(*lefts.rbegin(), g.width + 2 * g.padding - g.crop_width);
    EXPECT_EQ(flips.size(), 2u);
  }
}

TEST(Augmentation, AFlippedSampleIsTheMirroredOriginalExactly) {
  const Geometry g{2, 3, 4, 3, 4, 0};
  const Normalize normalization({0.1f, 0.7f}, {0.3f, 0.9f});
  const Dataset data = raw_images(200, g.channels, g.height, g.width);
  DataLoaderOptions options;
  options.batch_size = 50;
  options.normalization = normalization;
  options.augmentation = Augmentation().horizontal_flip(1.0);
  DataLoader always(data, options);
  const Delivered mirrored = run_epoch(always, 0);
  EXPECT_EQ(mirrored.first_shape, Shape({50, 2, 3, 4}));
  const int64_t size = g.channels * g.height * g.width;
  for (size_t r = 0; r < mirrored.labels.size(); ++r) {
    const float* raw = data.images.data<float>() + mirrored.labels[r] * size;
    const std::vector<float> expected = reference(raw, g, normalization, 0, 0, /*flip=*/true);
    ASSERT_EQ(std::vector<float>(mirrored.images.begin() + r * size,
                                 mirrored.images.begin() + (r + 1) * size), expected)
        << "sample " << mirrored.labels[r];
  }
  // p = 0.5: each sample is the original or its mirror, and both occur.
  options.augmentation = Augmentation().horizontal_flip();
  EXPECT_EQ(options.augmentation.flip_probability(), 0.5);
  DataLoader half(data, options);
  int flipped = 0;
  const std::vector<Draw> draws = recover_draws(run_epoch(half, 0), data, g, normalization);
  for (const Draw& d : draws) flipped += d.flip;
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 200);
}

TEST(Augmentation, FlipOffNeverMirrorsAndNoAugmentationChangesNothing) {
  const Dataset data = raw_images(300, 1, 4, 5);
  DataLoaderOptions options;
  options.batch_size = 64;
  options.seed = 5;
  options.normalization = Normalize(0.25f, 0.5f);
  DataLoader plain(data, options);
  const Delivered reference_epoch = run_epoch(plain, 1);
  EXPECT_FALSE(Augmentation().enabled());
  EXPECT_FALSE(Augmentation().horizontal_flip(0.0).enabled());
  options.augmentation = Augmentation().horizontal_flip(0.0);
  DataLoader never(data, options);
  const Delivered epoch = run_epoch(never, 1);
  EXPECT_EQ(epoch.labels, reference_epoch.labels);
  EXPECT_EQ(epoch.images, reference_epoch.images);
  // A crop without flip (digits): no sample of many epochs is mirrored.
  options.augmentation = Augmentation().random_crop(CropSize(4, 5), 2);
  DataLoader cropped(data, options);
  const Geometry g{1, 4, 5, 4, 5, 2};
  for (int64_t e = 0; e < 3; ++e)
    for (const Draw& d : recover_draws(run_epoch(cropped, e), data, g, options.normalization))
      ASSERT_FALSE(d.flip);
}

TEST(Augmentation, SameSeedGivesTheSameBatchesWithOrWithoutPrefetchAndAnyBatchSize) {
  const Dataset data = raw_images(1000, 1, 8, 8);
  DataLoaderOptions options;
  options.seed = 42;
  options.normalization = kFashionMnistNormalization;
  options.augmentation = Augmentation().random_crop(8, 2).horizontal_flip(0.5);
  options.batch_size = 64;
  options.prefetch = true;
  DataLoader prefetched(data, options);
  options.prefetch = false;
  DataLoader plain(data, options);
  options.batch_size = 7;
  DataLoader small_batches(data, options);
  options.prefetch = true;
  DataLoader small_prefetched(data, options);
  for (int64_t epoch : {0, 1, 2, 1}) {
    const Delivered a = run_epoch(prefetched, epoch);
    for (DataLoader* other : {&plain, &small_batches, &small_prefetched}) {
      const Delivered b = run_epoch(*other, epoch);
      EXPECT_EQ(a.labels, b.labels) << "epoch " << epoch;
      EXPECT_EQ(a.images, b.images) << "epoch " << epoch;
    }
  }
}

TEST(Augmentation, AnotherEpochOrSeedDrawsAnew) {
  const Dataset data = raw_images(400, 1, 6, 6);
  const Geometry g{1, 6, 6, 6, 6, 2};
  DataLoaderOptions options;
  options.batch_size = 100;
  options.shuffle = false;  // the same samples in the same rows: only the draws can differ
  options.seed = 1;
  options.augmentation = Augmentation().random_crop(6, 2).horizontal_flip(0.5);
  DataLoader loader(data, options);
  options.seed = 2;
  DataLoader reseeded(data, options);
  const auto draws = [&](DataLoader& l, int64_t epoch) {
    return recover_draws(run_epoch(l, epoch), data, g, Normalize());
  };
  const std::vector<Draw> e0 = draws(loader, 0), e1 = draws(loader, 1), s2 = draws(reseeded, 0);
  const std::vector<Draw> e0_again = draws(loader, 0);
  ASSERT_EQ(e0.size(), 400u);
  ASSERT_EQ(e1.size(), 400u);
  ASSERT_EQ(s2.size(), 400u);
  ASSERT_EQ(e0_again.size(), 400u);
  int differ_epoch = 0, differ_seed = 0, differ_again = 0;
  const auto same = [](const Draw& a, const Draw& b) {
    return a.top == b.top && a.left == b.left && a.flip == b.flip;
  };
  for (size_t i = 0; i < 400; ++i) {
    differ_epoch += !same(e0[i], e1[i]);
    differ_seed += !same(e0[i], s2[i]);
    differ_again += !same(e0[i], e0_again[i]);
  }
  // 50 equally likely draws: two independent ones agree 1 time in 50.
  EXPECT_GT(differ_epoch, 360);
  EXPECT_GT(differ_seed, 360);
  EXPECT_EQ(differ_again, 0);
}

TEST(Augmentation, FlipRateAndShiftsFollowTheirDistributions) {
  const int64_t count = 20000;
  const Geometry g{1, 4, 4, 4, 4, 2};
  const Dataset data = raw_images(count, 1, 4, 4);
  DataLoaderOptions options;
  options.batch_size = 256;
  options.seed = 7;
  options.augmentation = Augmentation().random_crop(4, 2).horizontal_flip(0.3);
  DataLoader loader(data, options);
  const std::vector<Draw> draws = recover_draws(run_epoch(loader, 0), data, g, Normalize());
  ASSERT_EQ(static_cast<int64_t>(draws.size()), count);
  int64_t flips = 0;
  std::map<int64_t, int64_t> vertical, horizontal;
  double shift_sum = 0;
  for (const Draw& d : draws) {
    flips += d.flip;
    ++vertical[d.top - g.padding];
    ++horizontal[d.left - g.padding];
    shift_sum += static_cast<double>(d.top - g.padding) + static_cast<double>(d.left - g.padding);
  }
  // Flip rate 0.3: standard deviation sqrt(0.3 * 0.7 / 20000) = 0.0032; allow ~5.
  EXPECT_NEAR(static_cast<double>(flips) / count, 0.3, 0.016);
  // Each of the 5 shifts 1/5 of the time: count 4000, standard deviation 57; allow ~5.
  ASSERT_EQ(vertical.size(), 5u);
  ASSERT_EQ(horizontal.size(), 5u);
  for (int64_t shift = -2; shift <= 2; ++shift) {
    EXPECT_NEAR(static_cast<double>(vertical[shift]), 4000.0, 300.0) << "vertical shift " << shift;
    EXPECT_NEAR(static_cast<double>(horizontal[shift]), 4000.0, 300.0) << "horizontal shift " << shift;
  }
  // Mean shift 0: each of the 40000 shifts has variance 2, so the mean's sd is 0.007.
  EXPECT_NEAR(shift_sum / (2.0 * count), 0.0, 0.04);
}

TEST(Augmentation, RejectsBadValuesNamingThem) {
  EXPECT_NE(error_message([] { Augmentation().random_crop(0); }).find("0"), std::string::npos);
  EXPECT_NE(error_message([] { Augmentation().random_crop({3, -2}); }).find("-2"), std::string::npos);
  const std::string padding = error_message([] { Augmentation().random_crop(28, -1); });
  EXPECT_NE(padding.find("padding"), std::string::npos) << padding;
  EXPECT_NE(padding.find("-1"), std::string::npos) << padding;
  for (double p : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    const std::string message = error_message([p] { Augmentation().horizontal_flip(p); });
    EXPECT_NE(message.find("horizontal_flip"), std::string::npos) << message;
    EXPECT_NE(message.find("[0, 1]"), std::string::npos) << message;
  }
  EXPECT_NE(error_message([] { Augmentation().horizontal_flip(1.5); }).find("1.5"),
            std::string::npos);
  EXPECT_NO_THROW(Augmentation().horizontal_flip(0.0).horizontal_flip(1.0).random_crop(1, 0));

  const Dataset images = raw_images(10, 1, 6, 5);
  DataLoaderOptions options;
  options.augmentation = Augmentation().random_crop({9, 5}, 1);  // 9 > 6 + 2
  const std::string too_big = error_message([&] { DataLoader loader(images, options); });
  EXPECT_NE(too_big.find("9 x 5"), std::string::npos) << too_big;
  EXPECT_NE(too_big.find("8 x 7"), std::string::npos) << too_big;
  options.augmentation = Augmentation().random_crop({8, 8}, 1);  // the padded size itself: allowed
  EXPECT_NO_THROW(DataLoader loader(images, options));

  Dataset rows;  // feature rows [N, F]: no image to crop or mirror
  rows.images = Tensor::zeros({10, 4}, Device::cpu());
  rows.labels = Tensor::zeros({10}, Device::cpu(), DType::I32);
  options.augmentation = Augmentation().horizontal_flip(0.5);
  const std::string not_images = error_message([&] { DataLoader loader(rows, options); });
  EXPECT_NE(not_images.find("[N, C, H, W]"), std::string::npos) << not_images;
  EXPECT_NE(not_images.find("[10, 4]"), std::string::npos) << not_images;
  options.augmentation = Augmentation();
  EXPECT_NO_THROW(DataLoader loader(rows, options));  // no augmentation: any rank, as before

  options.augmentation = Augmentation().random_crop(6, 1);
  options.device_resident = true;
  const std::string resident = error_message([&] { DataLoader loader(images, options); });
  EXPECT_NE(resident.find("device_resident"), std::string::npos) << resident;
  EXPECT_NE(resident.find("host mode"), std::string::npos) << resident;
}

// Host mode delivers to a GPU too: the same batches as to the CPU.
TEST(Augmentation, HostModeToACudaDeviceMatchesTheCpuTarget) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  const Dataset data = raw_images(300, 2, 6, 6);
  DataLoaderOptions options;
  options.batch_size = 64;
  options.seed = 9;
  options.augmentation = Augmentation().random_crop(5, 1).horizontal_flip(0.5);
  DataLoader on_cpu(data, options);
  options.device = Device::cuda();
  DataLoader on_gpu(data, options);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    const Delivered a = run_epoch(on_cpu, epoch), b = run_epoch(on_gpu, epoch);
    EXPECT_EQ(b.first_shape, Shape({64, 2, 5, 5}));
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(a.images, b.images);
  }
}

}  // namespace
}  // namespace convnet::data
