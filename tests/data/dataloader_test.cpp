// DataLoader: coverage of every sample, batch sizes, seeded order, normalisation,
// prefetch equivalence and safety, and (with a GPU) pinned and device-resident modes.
// The synthetic data set makes each sample identify itself: label = index, and
// every pixel of image i encodes i, so a batch can be checked row by row.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <vector>

#include "convnet/data/dataloader.hpp"
#include "convnet/error.hpp"

namespace convnet::data {
namespace {

constexpr int64_t kPixels = 6;  // images are [N, 1, 2, 3] unless asked otherwise

float pixel_value(int64_t sample, int64_t p) { return static_cast<float>(sample) * 0.01f + p * 0.001f; }

Dataset synthetic(int64_t count, int64_t height = 2, int64_t width = 3) {
  Dataset data;
  data.images = Tensor::empty({count, 1, height, width});
  data.labels = Tensor::empty({count}, Device::cpu(), DType::I32);
  float* pixels = data.images.data<float>();
  const int64_t row = height * width;
  for (int64_t i = 0; i < count; ++i) {
    data.labels.data<int32_t>()[i] = static_cast<int32_t>(i);
    for (int64_t p = 0; p < row; ++p) pixels[i * row + p] = pixel_value(i, p);
  }
  return data;
}

struct Epoch {
  std::vector<int64_t> sizes;
  std::vector<int32_t> labels;  // in delivery order
  std::vector<float> images;
};

// Runs one epoch, copying every batch to the host before asking for the next.
Epoch run_epoch(DataLoader& loader, int64_t epoch) {
  Epoch out;
  loader.start_epoch(epoch);
  Batch batch;
  while (loader.next(batch)) {
    EXPECT_EQ(batch.images.device(), loader.options().device);
    EXPECT_EQ(batch.images.size(0), batch.size());
    out.sizes.push_back(batch.size());
    for (int32_t v : batch.labels.to_vector<int32_t>()) out.labels.push_back(v);
    for (float v : batch.images.to_vector<float>()) out.images.push_back(v);
  }
  return out;
}

std::vector<int32_t> identity(int64_t count) {
  std::vector<int32_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

DataLoaderOptions with_batch(int64_t batch_size) {
  DataLoaderOptions options;
  options.batch_size = batch_size;
  return options;
}

TEST(DataLoader, EverySampleExactlyOncePerEpochWithItsOwnImage) {
  const Dataset data = synthetic(1000);
  for (bool prefetch : {false, true}) {
    DataLoaderOptions options = with_batch(64);
    options.prefetch = prefetch;
    DataLoader loader(data, options);
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      const Epoch e = run_epoch(loader, epoch);
      std::vector<int32_t> sorted = e.labels;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(sorted, identity(1000));
      EXPECT_NE(e.labels, identity(1000));  // shuffled
      for (size_t r = 0; r < e.labels.size(); ++r)
        for (int64_t p = 0; p < kPixels; ++p)
          ASSERT_FLOAT_EQ(e.images[r * kPixels + p], pixel_value(e.labels[r], p));
    }
  }
}

TEST(DataLoader, LastBatchIsRaggedUnlessDropLast) {
  const Dataset data = synthetic(10);
  DataLoader ragged(data, with_batch(4));
  EXPECT_EQ(ragged.size(), 10);
  EXPECT_EQ(ragged.batches_per_epoch(), 3);
  EXPECT_EQ(run_epoch(ragged, 0).sizes, (std::vector<int64_t>{4, 4, 2}));

  DataLoaderOptions options = with_batch(4);
  options.drop_last = true;
  DataLoader dropping(data, options);
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
  const Epoch e = run_epoch(dropping, 0);
  EXPECT_EQ(e.sizes, (std::vector<int64_t>{4, 4}));
  std::vector<int32_t> sorted = e.labels;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());  // still no repeats

  DataLoader one_batch(data, with_batch(1000));  // a batch larger than the data set
  EXPECT_EQ(run_epoch(one_batch, 0).sizes, (std::vector<int64_t>{10}));
}

TEST(DataLoader, OrderDependsOnlyOnSeedAndEpoch) {
  const Dataset data = synthetic(500);
  DataLoaderOptions options = with_batch(32);
  options.seed = 7;
  DataLoader a(data, options), b(data, options);
  const Epoch a0 = run_epoch(a, 0), a1 = run_epoch(a, 1);
  EXPECT_EQ(run_epoch(b, 1).labels, a1.labels);  // b skipped epoch 0: same order anyway
  EXPECT_EQ(run_epoch(b, 0).labels, a0.labels);
  EXPECT_NE(a0.labels, a1.labels);
  options.seed = 8;
  DataLoader c(data, options);
  EXPECT_NE(run_epoch(c, 0).labels, a0.labels);
}

TEST(DataLoader, NoShuffleDeliversTheDataSetInOrder) {
  DataLoaderOptions options = with_batch(7);
  options.shuffle = false;
  DataLoader loader(synthetic(50), options);
  EXPECT_EQ(run_epoch(loader, 0).labels, identity(50));
  EXPECT_EQ(run_epoch(loader, 3).labels, identity(50));
}

TEST(DataLoader, NormalisesEveryPixel) {
  DataLoaderOptions options = with_batch(8);
  options.shuffle = false;
  options.normalization = {0.5f, 0.25f};
  const Dataset data = synthetic(20);
  DataLoader loader(data, options);
  const Epoch e = run_epoch(loader, 0);
  ASSERT_EQ(e.images.size(), static_cast<size_t>(20 * kPixels));
  for (int64_t i = 0; i < 20; ++i)
    for (int64_t p = 0; p < kPixels; ++p)
      ASSERT_FLOAT_EQ(e.images[i * kPixels + p], (pixel_value(i, p) - 0.5f) / 0.25f);
  // The data set itself is untouched.
  EXPECT_FLOAT_EQ(data.images.data<float>()[kPixels + 1], pixel_value(1, 1));
}

TEST(DataLoader, PrefetchOnAndOffGiveIdenticalBatches) {
  const Dataset data = synthetic(777);
  DataLoaderOptions options = with_batch(50);
  options.seed = 3;
  options.prefetch = false;
  DataLoader plain(data, options);
  options.prefetch = true;
  DataLoader prefetched(data, options);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    const Epoch a = run_epoch(plain, epoch), b = run_epoch(prefetched, epoch);
    EXPECT_EQ(a.sizes, b.sizes);
    EXPECT_EQ(a.labels, b.labels);
    EXPECT_EQ(a.images, b.images);
  }
}

TEST(DataLoader, RestartingOrDestroyingMidEpochIsSafe) {
  const Dataset data = synthetic(300);
  const Epoch reference = [&] {
    DataLoader loader(data, with_batch(16));
    return run_epoch(loader, 2);
  }();
  for (int trial = 0; trial < 50; ++trial) {
    DataLoader loader(data, with_batch(16));
    Batch batch;
    loader.start_epoch(5);
    for (int k = 0; k < trial % 7; ++k) ASSERT_TRUE(loader.next(batch));
    EXPECT_EQ(run_epoch(loader, 2).labels, reference.labels);  // restarted mid-epoch
    loader.start_epoch(1);
    for (int k = 0; k < trial % 3; ++k) ASSERT_TRUE(loader.next(batch));
  }  // destroyed mid-epoch, with the worker possibly waiting or gathering
  DataLoader unstarted(data, with_batch(16));  // next() without start_epoch runs epoch 0
  Batch batch;
  ASSERT_TRUE(unstarted.next(batch));
  DataLoader loader(data, with_batch(16));
  const Epoch first = run_epoch(loader, 0);
  EXPECT_EQ(batch.labels.to_vector<int32_t>(),
            std::vector<int32_t>(first.labels.begin(), first.labels.begin() + 16));
}

TEST(DataLoader, EndOfEpochKeepsReturningFalse) {
  DataLoader loader(synthetic(5), with_batch(2));
  Batch batch;
  loader.start_epoch(0);
  int batches = 0;
  while (loader.next(batch)) ++batches;
  EXPECT_EQ(batches, 3);
  EXPECT_FALSE(loader.next(batch));
}

TEST(DataLoader, RejectsBadOptionsAndData) {
  const Dataset data = synthetic(10);
  DataLoaderOptions resident = with_batch(4);
  resident.device_resident = true;  // on the default CPU device
  EXPECT_THROW(DataLoader(data, resident), Error);
  EXPECT_THROW(DataLoader(data, with_batch(0)), Error);
  DataLoaderOptions bad_norm = with_batch(4);
  bad_norm.normalization = {0.f, 0.f};
  EXPECT_THROW(DataLoader(data, bad_norm), Error);
  Dataset mismatched = data;
  mismatched.labels = Tensor::zeros({9}, Device::cpu(), DType::I32);
  EXPECT_THROW(DataLoader(mismatched, with_batch(4)), Error);
  Dataset float_labels = data;
  float_labels.labels = Tensor::zeros({10});
  EXPECT_THROW(DataLoader(float_labels, with_batch(4)), Error);
  EXPECT_THROW(DataLoader(Dataset{}, with_batch(4)), Error);
}

// One epoch of real MNIST at batch 128: every image once, and the throughput.
TEST(DataLoader, RealMnistEpochAtBatch128) {
  const std::string dir = CONVNET_SOURCE_DIR "/data/mnist";
  ASSERT_TRUE(std::filesystem::is_directory(dir))
      << dir << " is missing: run `python3 scripts/fetch_mnist.py` first (CI does)";
  const Dataset train = load_mnist(dir, Split::Train);
  for (bool prefetch : {false, true}) {
    DataLoaderOptions options = with_batch(128);
    options.normalization = kMnistNormalization;
    options.prefetch = prefetch;
    const auto built = std::chrono::steady_clock::now();
    DataLoader loader(train, options);
    const auto start = std::chrono::steady_clock::now();
    loader.start_epoch(0);
    Batch batch;
    int64_t seen = 0;
    double checksum = 0;
    while (loader.next(batch)) {
      seen += batch.size();
      checksum += batch.images.data<float>()[0];
    }
    const auto end = std::chrono::steady_clock::now();
    EXPECT_EQ(seen, 60000);
    const double epoch_s = std::chrono::duration<double>(end - start).count();
    std::printf("[ DataLoader ] prefetch=%d: built in %.0f ms; one epoch of 469 batches in %.1f ms "
                "(%.0f images/s, checksum %.1f)\n",
                prefetch, std::chrono::duration<double, std::milli>(start - built).count(),
                epoch_s * 1000, 60000 / epoch_s, checksum);
  }
}

// ---- GPU modes: pinned staging and device-resident gathering.
class CudaDataLoader : public testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  }
};

TEST_F(CudaDataLoader, PinnedAndDeviceResidentMatchTheHostLoader) {
  // Batches of 25000 28x28 images are 19.6M elements, more than the gather's
  // 65535 x 256 threads, so its grid-stride loop wraps; the last batch is ragged.
  const Dataset data = synthetic(30001, 28, 28);
  DataLoaderOptions options = with_batch(25000);
  options.seed = 11;
  options.normalization = {0.1f, 2.f};
  DataLoader host(data, options);
  options.device = Device::cuda();
  DataLoader pinned(data, options);
  options.device_resident = true;
  DataLoader resident(data, options);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    const Epoch reference = run_epoch(host, epoch);
    const Epoch a = run_epoch(pinned, epoch), b = run_epoch(resident, epoch);
    EXPECT_EQ(a.sizes, reference.sizes);
    EXPECT_EQ(b.sizes, reference.sizes);
    EXPECT_EQ(a.labels, reference.labels);
    EXPECT_EQ(b.labels, reference.labels);
    EXPECT_EQ(a.images, reference.images);
    EXPECT_EQ(b.images, reference.images);
  }
}

// Batches taken one after another and read only at the end: a pinned slot is
// refilled while the copies of earlier batches may still be queued, so the
// loader must wait for each slot's copy before it overwrites the slot. (On the
// emulated device queued copies run only when the host waits, so a loader that
// did not wait would hand out later batches' data here.)
TEST_F(CudaDataLoader, BatchesReadLateAreTheirOwn) {
  const Dataset data = synthetic(130, 5, 4);
  DataLoaderOptions options = with_batch(10);
  options.seed = 5;
  DataLoader host(data, options);
  options.device = Device::cuda();
  DataLoader pinned(data, options);
  const Epoch reference = run_epoch(host, 0);
  pinned.start_epoch(0);
  std::vector<Batch> held;
  Batch batch;
  while (pinned.next(batch)) held.push_back(batch);
  ASSERT_EQ(held.size(), 13u);
  Epoch late;
  for (const Batch& b : held) {
    for (int32_t v : b.labels.to_vector<int32_t>()) late.labels.push_back(v);
    for (float v : b.images.to_vector<float>()) late.images.push_back(v);
  }
  EXPECT_EQ(late.labels, reference.labels);
  EXPECT_EQ(late.images, reference.images);
}

TEST_F(CudaDataLoader, PinnedTensorsAreHostTensors) {
  Tensor staging = Tensor::empty_pinned({4, 3});
  EXPECT_TRUE(staging.pinned());
  EXPECT_TRUE(staging.device().is_cpu());
  staging.fill_(2.5f);
  EXPECT_EQ(staging.to(Device::cuda()).to_vector<float>(), std::vector<float>(12, 2.5f));
}

TEST(DataLoaderStaging, PinnedTensorWorksWithoutAGpuToo) {
  Tensor staging = Tensor::empty_pinned({5}, DType::I32);
  EXPECT_TRUE(staging.pinned());
  EXPECT_TRUE(staging.device().is_cpu());
  staging.fill_(3.f);
  EXPECT_EQ(staging.to_vector<int32_t>(), std::vector<int32_t>(5, 3));
  EXPECT_FALSE(Tensor::zeros({2}).pinned());
}


TEST(Transforms, NormalizeMatchesTheLoaderAndLeavesTheInputAlone) {
  const Tensor images = Tensor::rand({6, 1, 2, 3}, Device::cpu(), 4);
  const std::vector<int32_t> label_values{0, 1, 2, 3, 4, 5};
  const Dataset set{images, Tensor::from_vector(label_values, {6})};
  const Normalize norm{0.5f, 0.25f};
  const Dataset normalised = norm(set);
  const std::vector<float> in = images.to_vector<float>(), out = normalised.images.to_vector<float>();
  for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(out[i], (in[i] - 0.5f) / 0.25f) << i;
  EXPECT_EQ(images.to_vector<float>(), in);  // a new tensor, the input unchanged
  EXPECT_EQ(normalised.labels.to_vector<int32_t>(), label_values);
  // The DataLoader applies exactly this transform.
  DataLoaderOptions options;
  options.batch_size = 6;
  options.shuffle = false;
  options.normalization = norm;
  DataLoader loader(set, options);
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.images.to_vector<float>(), out);
  EXPECT_THROW(Normalize({0.f, 0.f})(images), Error);
  EXPECT_THROW(Normalize({std::nanf(""), 1.f})(set), Error);
}

TEST(Transforms, FirstAndSliceShareStorage) {
  const Dataset set{Tensor::rand({10, 1, 2, 2}, Device::cpu(), 1),
                    Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {10})};
  const Dataset head = set.first(3);
  EXPECT_EQ(head.size(), 3);
  EXPECT_TRUE(head.images.shares_storage_with(set.images));
  EXPECT_EQ(head.labels.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(set.first(100).size(), 10);
  EXPECT_EQ(set.first(0).size(), 0);
  const Dataset middle = set.slice(4, 7);
  EXPECT_EQ(middle.labels.to_vector<int32_t>(), (std::vector<int32_t>{4, 5, 6}));
  const std::vector<float> all = set.images.to_vector<float>();
  EXPECT_EQ(middle.images.to_vector<float>(), std::vector<float>(all.begin() + 16, all.begin() + 28));
  EXPECT_THROW(set.slice(5, 11), Error);
  EXPECT_THROW(set.first(-1), Error);
}

}  // namespace
}  // namespace convnet::data
