// TensorBoard event files, as torch.utils.tensorboard.SummaryWriter writes them:
//
//   train::SummaryWriter tb("runs/mnist");        // makes the directory
//   tb.add_scalar("loss/train", 0.31, step);
//   tb.add_image("conv1/filters", grid, epoch);   // [C, H, W] in [0, 1]
//   tb.add_histogram("conv1.weight", weight, epoch);
//
// then `tensorboard --logdir runs`. One file per writer,
// events.out.tfevents.<seconds>.<host>.<pid>.<n>: TFRecord framing (length,
// masked CRC-32C of the length, the record, masked CRC-32C of the record)
// around Event messages from proto/tensorboard.proto, serialized by protobuf.
// Trainer writes loss, accuracy, learning rate and images/s per epoch, the
// first convolution's filters as an image and, when asked, weight histograms
// (TrainerOptions::tensorboard_dir).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "convnet/tensor.hpp"

namespace convnet::train {

class SummaryWriter {
 public:
  // Creates log_dir (and its parents) and the event file, and writes its first
  // record. Throws convnet::Error naming the path when either cannot be
  // created or written. Not thread-safe: one writer per thread.
  explicit SummaryWriter(const std::string& log_dir);
  ~SummaryWriter();
  SummaryWriter(SummaryWriter&&) noexcept;
  SummaryWriter& operator=(SummaryWriter&&) noexcept;

  void add_scalar(const std::string& tag, double value, int64_t step);
  // image: f32 [C, H, W] (C = 1 or 3) or [H, W], on any device; values are
  // clamped to [0, 1] and stored as round(255 v) in an 8-bit PNG.
  void add_image(const std::string& tag, const Tensor& image, int64_t step);
  // A histogram of every element of `values` (f32, non-empty, any device) as
  // PyTorch's add_histogram makes it: TensorBoard's default bucket edges
  // (x1.1 from 1e-12 to 1e20, mirrored, and 0), trimmed to the buckets in use.
  // NaN and +-inf are left out of every field; values beyond +-1e20 go to the
  // outermost buckets (PyTorch drops them from the counts).
  void add_histogram(const std::string& tag, const Tensor& values, int64_t step);
  // Events are buffered (up to 1 MiB) and written here, and when the writer is
  // destroyed. Throws convnet::Error naming the file when the write fails (a
  // full disk); what was not written stays buffered for the next flush.
  void flush();
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The filters of a convolution weight [out, in, kh, kw] tiled into one image
// [1 or 3, H, W] (in = 3: RGB; otherwise each input channel its own tile), each
// filter scaled to [0, 1] by its own min and max, with 1-pixel gaps.
Tensor filter_grid(const Tensor& weight);

// Whether this build writes TensorBoard files (CONVNET_TENSORBOARD; protobuf).
bool tensorboard_available();

}  // namespace convnet::train
