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
  // Creates log_dir (and its parents) and the event file. Throws convnet::Error
  // naming the path when either cannot be created or written.
  explicit SummaryWriter(const std::string& log_dir);
  ~SummaryWriter();
  SummaryWriter(SummaryWriter&&) noexcept;
  SummaryWriter& operator=(SummaryWriter&&) noexcept;

  void add_scalar(const std::string& tag, double value, int64_t step);
  // image: [C, H, W] (C = 1 or 3) or [H, W], float, on any device; values are
  // clamped to [0, 1] and stored as 8-bit PNG.
  void add_image(const std::string& tag, const Tensor& image, int64_t step);
  // A histogram of every element of `values` (non-finite ones are skipped and
  // counted out), with TensorBoard's default bucket edges.
  void add_histogram(const std::string& tag, const Tensor& values, int64_t step);
  // Writes what is buffered to the file; throws convnet::Error if that fails.
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
