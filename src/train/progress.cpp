// The progress line: formatting, and drawing it in place or as plain lines.
#include "train/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace convnet::train::detail {

std::string format_progress(const ProgressState& state, int bar_width) {
  const double done = state.batches > 0 ? static_cast<double>(state.batch) / state.batches : 0.0;
  const int filled = static_cast<int>(done * bar_width);
  const std::string bar = std::string(filled, '#') + std::string(bar_width - filled, '.');
  char text[160];
  std::snprintf(text, sizeof text, "] %lld/%lld loss %.4f acc %.1f%% %.0f img/s",
                static_cast<long long>(state.batch), static_cast<long long>(state.batches),
                state.loss, 100.0 * state.accuracy, state.images_per_second);
  return "epoch " + std::to_string(state.epoch) + "/" + std::to_string(state.epochs) + " [" +
         bar + text;
}

bool stderr_is_terminal() { return isatty(fileno(stderr)) != 0; }

void ProgressLine::update(const ProgressState& state) {
  const std::string line = format_progress(state);
  if (!terminal_) {
    out_ << line << '\n' << std::flush;
    return;
  }
  // Spaces cover what a longer previous line left on screen.
  const size_t pad = shown_ > line.size() ? shown_ - line.size() : 0;
  out_ << '\r' << line << std::string(pad, ' ') << std::flush;
  shown_ = line.size();
}

void ProgressLine::finish(const ProgressState& state) {
  const std::string line = format_progress(state);
  if (terminal_) {
    const size_t pad = shown_ > line.size() ? shown_ - line.size() : 0;
    out_ << '\r' << line << std::string(pad, ' ');
  } else {
    out_ << line;
  }
  out_ << '\n' << std::flush;
  shown_ = 0;
}

void ProgressLine::abandon() {
  if (terminal_ && shown_ > 0) out_ << '\n' << std::flush;
  shown_ = 0;
}

}  // namespace convnet::train::detail
