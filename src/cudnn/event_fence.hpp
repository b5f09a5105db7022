// A fence on a CUDA stream for RetireQueue (retire_queue.hpp): done() once the
// stream has passed the point where the fence was made. The conv and batch-norm
// graphs use it for their evicted plans.
#pragma once

#include <cuda_runtime.h>

#include <utility>

namespace convnet::cudnn {

// Done once `stream` has passed the point where the fence was made. Never
// blocks and never throws. When no event can be made, it waits (by polling)
// for the stream to go idle instead, which is later but still safe.
class EventFence {
 public:
  EventFence(cudaStream_t stream, int device) : stream_(stream) {
    int previous = -1;
    const bool switched = cudaGetDevice(&previous) == cudaSuccess && previous != device &&
                          cudaSetDevice(device) == cudaSuccess;
    if (cudaEventCreateWithFlags(&event_, cudaEventDisableTiming) != cudaSuccess) {
      event_ = nullptr;
    } else if (cudaEventRecord(event_, stream) != cudaSuccess) {
      cudaEventDestroy(event_);
      event_ = nullptr;
    }
    if (!event_) (void)cudaGetLastError();  // reported here, not by the next launch check
    if (switched) (void)cudaSetDevice(previous);
  }
  EventFence(EventFence&& o) noexcept : stream_(o.stream_), event_(o.event_) { o.event_ = nullptr; }
  EventFence& operator=(EventFence&& o) noexcept {
    std::swap(stream_, o.stream_);
    std::swap(event_, o.event_);
    return *this;
  }
  EventFence(const EventFence&) = delete;
  EventFence& operator=(const EventFence&) = delete;
  ~EventFence() {
    if (event_) (void)cudaEventDestroy(event_);
  }
  bool done() {
    const cudaError_t s = event_ ? cudaEventQuery(event_) : cudaStreamQuery(stream_);
    if (s == cudaSuccess) return true;
    // Not ready is no error, but the runtime may keep it as the last error,
    // which the next launch check would report (PyTorch clears it too). Any
    // other error means the context is lost: nothing queued will run.
    (void)cudaGetLastError();
    return s != cudaErrorNotReady;
  }

 private:
  cudaStream_t stream_ = nullptr;
  cudaEvent_t event_ = nullptr;
};

}  // namespace convnet::cudnn
