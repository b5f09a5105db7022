// The training loop (Trainer::fit), evaluation and the confusion-matrix text.
//
// Loss sums and correct counts stay in one-element device tensors and are read
// by the host only when the progress line is drawn and at the end of an epoch,
// so a GPU is never stalled by a per-step sync. Each step's loss is also kept
// on the device (LossWatch) and checked for NaN/inf at those same moments.
#include "convnet/train/trainer.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

#include "convnet/io/safetensors.hpp"
#include "convnet/ops.hpp"
#include "train/loss_watch.hpp"
#include "train/progress.hpp"
#include "train/tensorboard_log.hpp"

namespace convnet::train {
namespace {

// The images' gradient is never read: the model skips it for the epoch
// (nn::Layer::set_input_grad), and gets its setting back however the epoch ends.
class NoInputGrad {
 public:
  explicit NoInputGrad(nn::Layer& model) : model_(model), was_(model.input_grad()) {
    model_.set_input_grad(false);
  }
  ~NoInputGrad() { model_.set_input_grad(was_); }
  NoInputGrad(const NoInputGrad&) = delete;
  NoInputGrad& operator=(const NoInputGrad&) = delete;

 private:
  nn::Layer& model_;
  bool was_;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Device-side running totals of one pass over a loader.
struct Totals {
  Tensor loss_sum;  // f32, sum over samples of the per-sample loss
  Tensor correct;   // i32 [1]
  int64_t samples = 0;

  // loss is the batch's mean, so it is weighted by the batch size.
  void add(const Tensor& loss, const Tensor& logits, const Tensor& labels) {
    Backend& be = get_backend(default_backend(loss.device()));
    if (!loss_sum.defined()) {
      loss_sum = Tensor::zeros(loss.shape(), loss.device());
      correct = Tensor::zeros({1}, logits.device(), DType::I32);
    }
    const int64_t batch = labels.size(0);
    ops::add_(be, loss_sum, ops::scale(be, loss, static_cast<float>(batch)));
    ops::count_correct(be, logits, labels, correct, /*accumulate=*/true);
    samples += batch;
  }
  // Host reads (a sync with the device).
  double mean_loss() const { return samples ? loss_sum.item() / samples : 0.0; }
  double accuracy() const {
    return samples ? static_cast<double>(correct.to_vector<int32_t>()[0]) / samples : 0.0;
  }
};

std::string error_text(int err) { return std::strerror(err); }

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

int digits(int64_t value) { return static_cast<int>(std::to_string(value).size()); }

// `value` right-aligned in `width` columns.
std::string right(int64_t value, int width) {
  const std::string text = std::to_string(value);
  return std::string(std::max<int>(0, width - static_cast<int>(text.size())), ' ') + text;
}

const char* kCsvHeader =
    "epoch,train_loss,train_accuracy,test_loss,test_accuracy,lr,seconds,images_per_second";

}  // namespace

EvalResult evaluate(nn::Layer& model, data::DataLoader& loader, int classes,
                    Confusion confusion) {
  const bool want_confusion = confusion == Confusion::Compute;
  CONVNET_CHECK(classes > 0, "evaluate: classes must be positive, got ", classes);
  EvalResult result;
  result.classes = classes;
  if (want_confusion) result.confusion.assign(static_cast<size_t>(classes) * classes, 0);
  Totals totals;
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) {
    const Tensor logits = model.forward(batch.images, nn::Mode::Eval);
    Tensor probs;
    const Tensor loss = ops::softmax_cross_entropy_forward(
        get_backend(default_backend(logits.device())), logits, batch.labels, probs);
    totals.add(loss, logits, batch.labels);
    if (!want_confusion) continue;
    CONVNET_CHECK(logits.size(1) == classes, "evaluate: the model gives ", logits.size(1),
                  " scores a sample but classes = ", classes);
    const std::vector<float> scores = logits.to_vector<float>();
    const std::vector<int32_t> labels = batch.labels.to_vector<int32_t>();
    for (size_t i = 0; i < labels.size(); ++i) {
      CONVNET_CHECK(labels[i] >= 0 && labels[i] < classes, "evaluate: label ", labels[i],
                    " of sample ", totals.samples - static_cast<int64_t>(labels.size()) + i,
                    " is outside [0, ", classes, ")");
      const auto row = scores.begin() + static_cast<std::ptrdiff_t>(i * classes);
      // max_element keeps the first maximum, like count_correct.
      const int64_t predicted = std::max_element(row, row + classes) - row;
      ++result.confusion[static_cast<size_t>(labels[i]) * classes + predicted];
    }
  }
  CONVNET_CHECK(totals.samples > 0, "evaluate: the loader yielded no batches");
  result.samples = totals.samples;
  result.loss = totals.mean_loss();
  result.accuracy = totals.accuracy();
  return result;
}

std::string format_confusion(const EvalResult& result) {
  const int classes = result.classes;
  CONVNET_CHECK(classes > 0 && result.confusion.size() == static_cast<size_t>(classes) * classes,
                "format_confusion: the result holds no ", classes, " x ", classes,
                " confusion matrix (evaluate with Confusion::Compute)");
  const int64_t largest = *std::max_element(result.confusion.begin(), result.confusion.end());
  const int label_width = std::max(2, digits(classes - 1) + 1);
  const int cell_width = std::max(5, std::max(digits(largest), digits(classes - 1)) + 1);
  std::string text(label_width, ' ');
  for (int c = 0; c < classes; ++c) text += right(c, cell_width);
  text += '\n';
  for (int t = 0; t < classes; ++t) {
    text += right(t, label_width);
    for (int p = 0; p < classes; ++p)
      text += right(result.confusion[static_cast<size_t>(t) * classes + p], cell_width);
    text += '\n';
  }
  return text;
}

NonFiniteLoss::NonFiniteLoss(int64_t epoch_number, int64_t batch_number, int64_t epoch_batches,
                             int64_t step_number, float loss_value, float step_lr)
    : Error(::convnet::detail::concat(
          "Trainer::fit: the loss is ", loss_value, " at epoch ", epoch_number, ", step ",
          batch_number, " of ", epoch_batches, " (optimizer step ", step_number, ", learning rate ",
          step_lr, "): training diverged or the data holds NaN/inf; lower the learning rate, or set ",
          "TrainerOptions::allow_nonfinite to train on")),
      epoch(epoch_number), batch(batch_number), batches(epoch_batches), step(step_number),
      loss(loss_value), lr(step_lr) {}

Trainer::Trainer(nn::Layer& model, nn::Loss& loss, nn::Optimizer& optimizer,
                 TrainerOptions options)
    : Trainer(model, loss, optimizer, nullptr, std::move(options)) {}

Trainer::Trainer(nn::Layer& model, nn::Loss& loss, nn::Optimizer& optimizer,
                 const LrSchedule& schedule, TrainerOptions options)
    : Trainer(model, loss, optimizer, &schedule, std::move(options)) {}

Trainer::Trainer(nn::Layer& model, nn::Loss& loss, nn::Optimizer& optimizer,
                 const LrSchedule* schedule, TrainerOptions options)
    : model_(model), loss_(loss), optimizer_(optimizer), schedule_(schedule),
      options_(std::move(options)) {
  CONVNET_CHECK(options_.epochs >= 0, "Trainer: epochs must be >= 0, got ", options_.epochs);
  CONVNET_CHECK(options_.log_every > 0, "Trainer: log_every must be positive, got ",
                options_.log_every);
}

float Trainer::lr_at(int64_t step) const {
  return schedule_ ? schedule_->lr(step) : optimizer_.lr();
}

std::vector<EpochMetrics> Trainer::fit(data::DataLoader& train, data::DataLoader* test) {
  CONVNET_CHECK(options_.best_checkpoint.empty() || test != nullptr,
                "Trainer::fit: best_checkpoint \"", options_.best_checkpoint,
                "\" needs a test loader to judge which epoch is best");
  if (!options_.metrics_csv.empty()) {
    std::ofstream csv(options_.metrics_csv, std::ios::trunc);
    CONVNET_CHECK(csv, "Trainer::fit: cannot open metrics file \"", options_.metrics_csv,
                  "\": ", error_text(errno));
    csv << kCsvHeader << '\n';
  }
  std::unique_ptr<detail::TensorBoardLog> tensorboard;
  if (!options_.tensorboard_dir.empty()) {
    tensorboard = std::make_unique<detail::TensorBoardLog>(options_.tensorboard_dir, model_,
                                                           options_.tensorboard_histograms);
    if (epochs_done_ == 0) tensorboard->write_weights(0);  // the initial weights
  }
  const bool terminal = detail::stderr_is_terminal();
  double best_accuracy = -1;
  std::vector<EpochMetrics> history;
  detail::LossWatch watch;
  for (int64_t epoch = 0; epoch < options_.epochs; ++epoch) {
    detail::ProgressLine progress(std::cerr, terminal);
    detail::ProgressState state;
    state.epoch = epoch + 1;
    state.epochs = options_.epochs;
    state.batches = train.batches_per_epoch();
    Totals totals;
    train.start_epoch(epochs_done_);
    watch.start_epoch(state.batches);
    const int64_t first_step = step_;  // of this epoch
    // Called where the host reads the device anyway; throws unless allowed.
    const auto stop_if_nonfinite = [&] {
      const detail::LossWatch::Finding found = watch.check();
      if (found.step < 0 || options_.allow_nonfinite) return;
      progress.abandon();
      throw NonFiniteLoss(epoch + 1, found.step + 1, state.batches, first_step + found.step + 1,
                          found.loss, lr_at(first_step + found.step));
    };
    const Clock::time_point start = Clock::now();
    data::Batch batch;
    const NoInputGrad no_input_grad(model_);
    while (train.next(batch)) {
      if (schedule_) optimizer_.set_lr(schedule_->lr(step_));
      const Tensor logits = model_.forward(batch.images, nn::Mode::Train);
      const Tensor loss = loss_.forward(logits, batch.labels);
      watch.record(loss);
      totals.add(loss, logits, batch.labels);
      model_.backward(loss_.backward());
      optimizer_.step();
      optimizer_.zero_grad();
      ++step_;
      ++state.batch;
      // The last batch is drawn by finish() below.
      if (options_.progress && state.batch % options_.log_every == 0 &&
          state.batch < state.batches) {
        stop_if_nonfinite();
        state.loss = totals.mean_loss();
        state.accuracy = totals.accuracy();
        state.images_per_second = totals.samples / seconds_since(start);
        progress.update(state);
      }
    }
    CONVNET_CHECK(totals.samples > 0, "Trainer::fit: the training loader yielded no batches");
    stop_if_nonfinite();  // the epoch's last steps, read where the host waits anyway
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.nonfinite_steps = watch.nonfinite_count();
    m.train_loss = totals.mean_loss();  // the read waits for the device: the clock stops after it
    m.train_accuracy = totals.accuracy();
    m.seconds = seconds_since(start);
    m.images_per_second = totals.samples / m.seconds;
    m.lr = lr_at(step_ - 1);
    if (options_.progress) {
      state.loss = m.train_loss;
      state.accuracy = m.train_accuracy;
      state.images_per_second = m.images_per_second;
      progress.finish(state);
    }
    if (test) {
      const EvalResult eval = evaluate(model_, *test);
      m.test_loss = eval.loss;
      m.test_accuracy = eval.accuracy;
    }
    if (!options_.metrics_csv.empty()) {
      // Reopened per row so the file holds every finished epoch if the run dies.
      std::ofstream csv(options_.metrics_csv, std::ios::app);
      CONVNET_CHECK(csv, "Trainer::fit: cannot append to metrics file \"", options_.metrics_csv,
                    "\": ", error_text(errno));
      csv << m.epoch << ',' << fixed(m.train_loss, 6) << ',' << fixed(m.train_accuracy, 6) << ','
          << (test ? fixed(m.test_loss, 6) : "") << ',' << (test ? fixed(m.test_accuracy, 6) : "")
          << ',' << m.lr << ',' << fixed(m.seconds, 3) << ',' << fixed(m.images_per_second, 1)
          << '\n';
      CONVNET_CHECK(csv, "Trainer::fit: cannot write metrics file \"", options_.metrics_csv, "\"");
    }
    if (tensorboard) tensorboard->write_epoch(m, test != nullptr, epochs_done_ + 1);
    if (test && !options_.best_checkpoint.empty() && m.test_accuracy > best_accuracy) {
      best_accuracy = m.test_accuracy;
      io::save_safetensors(model_, options_.best_checkpoint,
                           {{"epoch", std::to_string(m.epoch)},
                            {"test_accuracy", fixed(m.test_accuracy, 6)}});
    }
    ++epochs_done_;
    history.push_back(m);
    if (on_epoch_end) on_epoch_end(m);
  }
  return history;
}

}  // namespace convnet::train
