// DataLoader: batches of a Dataset (any f32 [N, ...] inputs with i32 [N]
// labels: images [N, C, H, W], feature rows [N, F]) for training and evaluation.
//
// - Seeded shuffling: epoch e visits the samples in a permutation that depends
//   only on (seed, e), so runs are reproducible and every sample is seen exactly
//   once per epoch.
// - The last batch is ragged (smaller) unless drop_last is set.
// - Normalisation (x - mean[c]) / std[c] per channel c (options.normalization)
//   is applied to every sample once, when the loader is built.
// - Host mode: batches are gathered on the host by a background thread into
//   pinned memory (when the target is a GPU) while the previous batch computes,
//   then copied to the target device.
// - Device-resident mode (a CUDA target only): the whole normalised data set is
//   copied to the GPU once and batches are gathered there by a kernel; nothing
//   crosses PCIe during an epoch except the permutation.
// - Augmentation (options.augmentation: random crop with padding, random
//   horizontal flip; see data::Augmentation in dataset.hpp) is applied per sample
//   while a batch is gathered on the host (by the prefetch thread when prefetch
//   is on), for any target device. Sample i of epoch e draws from (seed, e, i)
//   alone, so batches do not depend on prefetch, threading or batch size.
//   Device-resident mode does not augment: asking for both throws a
//   convnet::Error (use host mode, which prefetches while the GPU computes).
#pragma once

#include <cstdint>
#include <memory>

#include "convnet/data/dataset.hpp"

namespace convnet::data {

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;
  Normalization normalization{};
  Device device = Device::cpu();  // where batches are delivered
  bool device_resident = false;   // only for a CUDA device
  bool prefetch = true;           // host mode: gather the next batch on a background thread
  Augmentation augmentation{};    // none by default; host mode only; seeded by `seed`
};

struct Batch {
  Tensor images;  // f32 [B, ...]: the data set's sample shape (cropped by an augmentation), on the loader's device
  Tensor labels;  // i32 [B]
  int64_t size() const { return labels.size(0); }
};

class DataLoader {
 public:
  DataLoader(const Dataset& dataset, DataLoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts epoch `epoch` (0-based): fixes its order and rewinds.
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch; false when the epoch is exhausted.
  // Called before any start_epoch(), it starts epoch 0.
  // The returned tensors stay valid until the next call.
  bool next(Batch& batch);

  int64_t size() const;               // samples in the data set
  int64_t batches_per_epoch() const;
  const DataLoaderOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace convnet::data
