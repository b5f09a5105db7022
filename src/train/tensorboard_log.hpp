// What Trainer::fit writes to TensorBoard (TrainerOptions::tensorboard_dir):
// the epoch's scalars, the first convolution's filters as an image and,
// optionally, a histogram of every parameter. Kept apart from the loop so
// trainer.cpp reads as the loop.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "convnet/nn/layers.hpp"
#include "convnet/train/tensorboard.hpp"
#include "convnet/train/trainer.hpp"

namespace convnet::train::detail {

// The first Conv2d met walking `model` and its children depth first, in
// registration order, with its dotted name ("0", "conv1"); {nullptr, ""} if none.
std::pair<nn::Conv2d*, std::string> first_conv2d(nn::Layer& model);

class TensorBoardLog {
 public:
  // Opens a writer in `dir` (throws convnet::Error naming it when it cannot).
  TensorBoardLog(const std::string& dir, nn::Layer& model, bool histograms);
  // The filters image and, when asked, the parameter histograms, at `step`.
  void write_weights(int64_t step);
  // The scalars of `m` (test ones only `with_test`), then write_weights, then flush.
  void write_epoch(const EpochMetrics& m, bool with_test, int64_t step);

 private:
  SummaryWriter writer_;
  nn::Layer& model_;
  bool histograms_;
  nn::Conv2d* first_conv_;
  std::string first_conv_name_;
};

}  // namespace convnet::train::detail
