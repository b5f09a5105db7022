// The training progress line on stderr:
//   epoch 2/5 [####......] 120/469 loss 0.1234 acc 96.1% 5231 img/s
// On a terminal it is redrawn in place ('\r'); otherwise (a log file, CI) each
// update is a plain line, so logs stay readable. Updates come every log_every
// batches because each one reads the device counters (a host sync).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace convnet::train::detail {

struct ProgressState {
  int64_t epoch = 1, epochs = 1;  // 1-based
  int64_t batch = 0, batches = 0;  // batches done, batches in the epoch
  double loss = 0, accuracy = 0;   // running means; accuracy in [0, 1]
  double images_per_second = 0;
};

// The line without any '\r' or newline.
std::string format_progress(const ProgressState& state, int bar_width = 20);

// True when stderr is a terminal.
bool stderr_is_terminal();

class ProgressLine {
 public:
  ProgressLine(std::ostream& out, bool terminal) : out_(out), terminal_(terminal) {}
  void update(const ProgressState& state);
  // The epoch's final state, then the newline that ends it.
  void finish(const ProgressState& state);
  // Ends a line redrawn in place without drawing it again, so an error printed
  // next starts on a line of its own.
  void abandon();

 private:
  std::ostream& out_;
  bool terminal_;
  size_t shown_ = 0;  // length of the line on screen, to blank a longer one
};

}  // namespace convnet::train::detail
