// The training loop: epochs over a DataLoader, a progress line with loss,
// accuracy and images/s, evaluation, a learning-rate schedule, per-epoch metrics
// in CSV and saving the best checkpoint.
//
// The loop keeps the GPU busy: the running loss and the correct count are
// accumulated on the device; the host reads them only when it prints.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "convnet/data/dataloader.hpp"
#include "convnet/nn/loss.hpp"
#include "convnet/nn/optim.hpp"
#include "convnet/nn/sequential.hpp"
#include "convnet/train/schedule.hpp"

namespace convnet::train {

struct EvalResult {
  double loss = 0;      // mean cross-entropy over the data set
  double accuracy = 0;  // fraction correct, in [0, 1]
  int64_t samples = 0;
  std::vector<int64_t> confusion;  // [true class * classes + predicted class], when asked for
  int classes = 0;
};

// Evaluates `model` in Eval mode on every batch of `loader` (one epoch, in order).
// Confusion::Compute also fills the confusion matrix, bringing the predictions
// to the host once per batch (an enum, not a positional bool, so calls read).
enum class Confusion { Skip, Compute };
EvalResult evaluate(nn::Sequential& model, data::DataLoader& loader, int classes = 10,
                    Confusion confusion = Confusion::Skip);

// "      0    1 ...\n 0  975    0 ..." with row = true class, column = predicted.
std::string format_confusion(const EvalResult& result);

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
  double lr = 0;  // at the epoch's last step
  // Wall time of the epoch's training pass (evaluation excluded) and samples / seconds.
  double seconds = 0, images_per_second = 0;
};

struct TrainerOptions {
  int64_t epochs = 1;
  // "" = none; else overwritten at the start of fit() with a header, then one row
  // per epoch (test columns empty without a test loader). Unopenable: convnet::Error.
  std::string metrics_csv;
  // "" = none; else the model (io::save_safetensors, metadata "epoch" and
  // "test_accuracy") whenever test accuracy improves. Needs a test loader.
  std::string best_checkpoint;
  bool progress = true;          // a progress line on stderr (redrawn in place on a terminal)
  int64_t log_every = 50;        // batches between progress updates
};

class Trainer {
 public:
  Trainer(nn::Sequential& model, nn::Loss& loss, nn::Optimizer& optimizer,
          const LrSchedule& schedule, TrainerOptions options);
  // Trains for options.epochs over `train`, evaluating on `test` after each
  // epoch (when given). Returns the metrics of every epoch.
  std::vector<EpochMetrics> fit(data::DataLoader& train, data::DataLoader* test);
  // Called after each epoch (e.g. to print a summary line).
  std::function<void(const EpochMetrics&)> on_epoch_end;

 private:
  nn::Sequential& model_;
  nn::Loss& loss_;
  nn::Optimizer& optimizer_;
  const LrSchedule& schedule_;
  TrainerOptions options_;
  int64_t step_ = 0;         // optimizer steps taken, across fit() calls
  int64_t epochs_done_ = 0;  // across fit() calls, so a second fit() shuffles anew
};

}  // namespace convnet::train
