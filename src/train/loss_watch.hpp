// Watching each training step's loss for NaN and infinity without a host sync
// per step (DESIGN.md: the host reads a number only when it logs).
//
// record() copies the step's one-element loss into the next slot of a device
// buffer (a device-to-device copy on the GPU's stream, a memmove on the CPU);
// check() reads the slots recorded since the previous check in one transfer.
// The Trainer calls check() only where it reads the device anyway (a progress
// update, the end of an epoch), so a non-finite loss is found late by up to
// log_every - 1 steps but named exactly: the first step whose loss went bad.
#pragma once

#include <cstdint>

#include "convnet/tensor.hpp"

namespace convnet::train::detail {

class LossWatch {
 public:
  // Clears the slots for an epoch of `steps` steps (0: the trainer reports the empty loader).
  void start_epoch(int64_t steps);
  // Copies `loss` (one f32 element) into the next slot; no host sync. The
  // buffer is allocated, on the loss's device, by the first record (again only
  // when a later epoch has more steps or its losses live on another device).
  void record(const Tensor& loss);

  struct Finding {
    int64_t step =
        -1;  // 0-based step of the epoch whose loss is the first non-finite one, -1 if none
    float loss = 0.f;  // its value: NaN or +-inf
  };
  // Reads the slots recorded since the previous check (one device read) and
  // returns the first non-finite loss among them.
  Finding check();
  // Non-finite losses among the slots checked this epoch.
  int64_t nonfinite_count() const { return nonfinite_; }
  int64_t recorded() const { return recorded_; }

 private:
  Tensor losses_;  // f32 [capacity] on the loss's device
  int64_t steps_ = 0, recorded_ = 0, checked_ = 0, nonfinite_ = 0;
};

}  // namespace convnet::train::detail
