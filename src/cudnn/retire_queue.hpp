// Deferred destruction of values the GPU may still be using. A cuDNN plan
// dropped from the LRU can still have work queued on a stream (runtime-compiled
// engines own their kernels: destroying the plan may unload code a queued launch
// will run), so an evicted plan is parked here with a fence recorded on that
// stream and destroyed only once the fence says the stream has passed that point.
//
// No CUDA types: `Fence` is any object with `bool done()` (conv_graphs.cpp uses a
// cudaEvent; the host tests use a flag). poll() never blocks. Not thread-safe:
// the owner locks.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace convnet::cudnn {

template <typename Value, typename Fence>
class RetireQueue {
 public:
  RetireQueue() = default;
  RetireQueue(const RetireQueue&) = delete;
  RetireQueue& operator=(const RetireQueue&) = delete;
  // Pending values are destroyed with the queue: the owner first polls, then
  // leaks (leak_pending) what the GPU may still use.
  ~RetireQueue() = default;

  // Keeps `value` alive until `fence.done()`.
  void retire(Value value, Fence fence) { pending_.push_back({std::move(value), std::move(fence)}); }

  // Destroys every value whose fence is done; returns how many. Fences complete
  // in any order (one queue serves every device's stream), so all are checked.
  size_t poll() {
    size_t kept = 0, released = 0;
    for (size_t i = 0; i < pending_.size(); ++i) {
      if (pending_[i].fence.done()) {
        ++released;
        continue;
      }
      if (kept != i) pending_[kept] = std::move(pending_[i]);
      ++kept;
    }
    pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(kept), pending_.end());
    return released;
  }

  // Gives up on the pending values without destroying them (at process exit,
  // when waiting is not allowed and destroying could be unsafe).
  void leak_pending() {
    if (pending_.empty()) return;
    new std::vector<Item>(std::move(pending_));  // deliberately never freed
    pending_.clear();
  }

  size_t size() const { return pending_.size(); }

 private:
  struct Item {
    Value value;
    Fence fence;
  };
  std::vector<Item> pending_;
};

}  // namespace convnet::cudnn
