// The training loop: epochs over a DataLoader, a progress line with loss,
// accuracy and images/s, evaluation, an optional learning-rate schedule,
// per-epoch metrics in CSV and TensorBoard event files, and saving the best
// checkpoint. It trains any nn::Layer (a Sequential, or a model of the user's
// own that computes its forward and backward), as libtorch's loops take any
// Module.
//
// The loop keeps the GPU busy: the running loss and the correct count are
// accumulated on the device; the host reads them only when it prints. A loss
// that turns NaN or infinite stops training with an error that names the
// epoch and the step (TrainerOptions::allow_nonfinite trains on instead).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "convnet/data/dataloader.hpp"
#include "convnet/error.hpp"
#include "convnet/nn/loss.hpp"
#include "convnet/nn/optim.hpp"
#include "convnet/nn/layer.hpp"
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
EvalResult evaluate(nn::Layer& model, data::DataLoader& loader, int classes = 10,
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
  // Steps of the epoch whose loss was NaN or +-inf (non-zero only with allow_nonfinite).
  int64_t nonfinite_steps = 0;
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
  // A step whose loss is NaN or +-inf: false stops fit() with a NonFiniteLoss
  // naming the epoch and the step; true trains on, and each epoch's
  // EpochMetrics::nonfinite_steps counts such steps. Either way the losses are
  // read only with the progress update (every log_every steps, when progress
  // is on) and at the end of each epoch, never with a sync per step: a GPU
  // run stops up to log_every - 1 steps (or, without progress, up to an epoch)
  // after the step it names, with the parameters of the step where it stopped.
  bool allow_nonfinite = false;
  // "" = none; else TensorBoard event files go to this directory (made when
  // missing), a new file per fit(), as torch.utils.tensorboard.SummaryWriter
  // writes them (train/tensorboard.hpp). Each epoch: the scalars loss/train,
  // accuracy/train, loss/test and accuracy/test (with a test loader), lr and
  // images_per_second, and the first Conv2d's filters (depth first through the
  // model's children) as the image "filters/<name>.weight", flushed to disk at
  // the epoch's end. Every event's step is the epoch's number, counted across
  // fit() calls (1, 2, ...; EpochMetrics::epoch in the first fit), so train
  // and test curves share one axis, as PyTorch loops that log per epoch do.
  // The first fit() also writes the initial filters (and histograms) at step 0.
  // A directory that cannot be made or written fails fit() before training.
  std::string tensorboard_dir;
  // With tensorboard_dir: a histogram of every parameter, "parameters/<name>",
  // each epoch (a host copy of the whole model per epoch).
  bool tensorboard_histograms = false;
};

// What fit() throws when a step's loss is not finite (see allow_nonfinite).
class NonFiniteLoss : public Error {
 public:
  NonFiniteLoss(int64_t epoch, int64_t batch, int64_t batches, int64_t step, float loss, float lr);
  int64_t epoch;    // 1-based
  int64_t batch;    // 1-based step within the epoch: the first whose loss was not finite
  int64_t batches;  // steps in the epoch
  int64_t step;     // 1-based optimizer step across the Trainer's fit() calls
  float loss;       // NaN or +-inf
  float lr;         // the learning rate of that step
};

class Trainer {
 public:
  // Without a schedule the optimizer's learning rate is left as it is (set it
  // with optimizer.set_lr() between fits, if you like).
  Trainer(nn::Layer& model, nn::Loss& loss, nn::Optimizer& optimizer,
          TrainerOptions options = TrainerOptions());
  // Sets the optimizer's learning rate to schedule.lr(step) before each step,
  // step counting from 0 across fit() calls. The schedule must outlive the Trainer.
  // With parameter groups this is optimizer.set_lr(): the first group follows
  // the schedule and the others keep their ratio to it (nn/optim.hpp);
  // EpochMetrics::lr is the first group's.
  Trainer(nn::Layer& model, nn::Loss& loss, nn::Optimizer& optimizer,
          const LrSchedule& schedule, TrainerOptions options = TrainerOptions());
  // A temporary schedule would be gone before fit() reads it.
  Trainer(nn::Layer& model, nn::Loss& loss, nn::Optimizer& optimizer, const LrSchedule&& schedule,
          TrainerOptions options = TrainerOptions()) = delete;
  // Trains for options.epochs over `train`, evaluating on `test` after each
  // epoch (when given). Returns the metrics of every epoch.
  std::vector<EpochMetrics> fit(data::DataLoader& train, data::DataLoader* test);
  // Called after each epoch (e.g. to print a summary line).
  std::function<void(const EpochMetrics&)> on_epoch_end;

 private:
  Trainer(nn::Layer& model, nn::Loss& loss, nn::Optimizer& optimizer, const LrSchedule* schedule,
          TrainerOptions options);
  // The rate of step `step`: the schedule's, or the optimizer's own without one.
  float lr_at(int64_t step) const;

  nn::Layer& model_;
  nn::Loss& loss_;
  nn::Optimizer& optimizer_;
  const LrSchedule* schedule_;  // null: none
  TrainerOptions options_;
  int64_t step_ = 0;         // optimizer steps taken, across fit() calls
  int64_t epochs_done_ = 0;  // across fit() calls, so a second fit() shuffles anew
};

}  // namespace convnet::train
