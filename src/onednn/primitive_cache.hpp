// The oneDNN backend's primitive cache: creating a primitive descriptor and its
// primitive costs tens of microseconds to milliseconds (implementation search,
// JIT code generation), running a small one about as much, so every primitive is
// built once per problem (operation and shapes: a string key) and kept. Bounded:
// least recently used entries go past `capacity`. An entry also holds its
// scratch buffers (blocked copies of the operands), so two threads never share
// one while it runs: lookup hands out a shared_ptr and the entry's own mutex.
// The thread count is part of every key: oneDNN fixes a primitive's work split
// for the team size it was created under, so a primitive made for 1 thread
// would run on 1 thread after the pool grew.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "cpu/parallel.hpp"

namespace convnet::onednn {

// Test hook (OneDnnBackend::set_refuse_all): while on, build_entry fails every
// primitive it creates as a refusal by oneDNN would, so the fallback path runs
// on a machine where oneDNN accepts every shape. Keyed apart from real entries.
inline std::atomic<bool>& refuse_all_for_tests() {
  static std::atomic<bool> on{false};
  return on;
}

template <typename Entry>
class PrimitiveCache {
 public:
  explicit PrimitiveCache(size_t capacity) : capacity_(capacity ? capacity : 1) {}

  // The entry for `key`, built by make() on a miss (make may throw: nothing is kept).
  std::shared_ptr<Entry> get(const std::string& problem,
                             const std::function<std::shared_ptr<Entry>()>& make) {
    const std::string key = std::to_string(cpu::parallel_threads()) +
                            (refuse_all_for_tests() ? "t,refused:" : "t:") + problem;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = index_.find(key);
      if (it != index_.end()) {
        order_.splice(order_.begin(), order_, it->second);
        ++hits_;
        return it->second->second;
      }
    }
    std::shared_ptr<Entry> made = make();  // outside the lock: JIT takes a while
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(key);
    if (it != index_.end()) return it->second->second;  // another thread won
    ++misses_;
    order_.emplace_front(key, made);
    index_[key] = order_.begin();
    while (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    return made;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return order_.size();
  }
  size_t hits() const { std::lock_guard<std::mutex> lock(mutex_); return hits_; }
  size_t misses() const { std::lock_guard<std::mutex> lock(mutex_); return misses_; }
  size_t set_capacity(size_t capacity) {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t old = capacity_;
    capacity_ = capacity ? capacity : 1;
    while (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    return old;
  }

 private:
  using Item = std::pair<std::string, std::shared_ptr<Entry>>;
  mutable std::mutex mutex_;
  size_t capacity_;
  size_t hits_ = 0, misses_ = 0;
  std::list<Item> order_;
  std::unordered_map<std::string, typename std::list<Item>::iterator> index_;
};

}  // namespace convnet::onednn
