// The cuDNN plan cache: building a cuDNN graph and its plan costs milliseconds
// (heuristics, engine compilation), running it microseconds, so every plan is
// built once per problem and looked up before anything is built again.
//
// The key is plain data: everything that changes which plan is valid or chosen
// (operation, shapes, stride, padding, dilation, epilogue, math mode,
// determinism, autotuning, device, each operand's pointer alignment). Bounded:
// least recently used plans are dropped past `capacity` (a model meets a handful
// of shapes; a shape sweep must not grow memory without bound). No cuDNN types
// here, so the host tests check it in every build.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>
#include <utility>
#include <vector>

#include "convnet/backend.hpp"

namespace convnet::cudnn {

enum class ConvOp : uint8_t {
  Forward,          // y = conv(x, w)
  ForwardBias,      // y = conv(x, w) + b
  ForwardRelu,      // y = max(conv(x, w), 0)
  ForwardBiasRelu,  // y = max(conv(x, w) + b, 0)
  BackwardData,     // dx = conv_transpose(dy, w)
  BackwardFilter,   // dw = correlate(x, dy)
};

struct ConvKey {
  ConvOp op = ConvOp::Forward;
  int64_t n = 0, c = 0, h = 0, w = 0, k = 0, r = 0, s = 0;
  Conv2dParams p;
  MathMode math = MathMode::FP32;
  bool deterministic = false;
  bool autotune = false;
  int device = 0;
  // Byte alignment (alignment_of) of each operand's pointer, in ConvOperands'
  // roles (x, w, b, y; b is 16 without a bias). Per operand, so one badly aligned
  // tensor (a slice) does not make cuDNN assume less of the others.
  int align_x = 16, align_w = 16, align_b = 16, align_y = 16;

  bool operator==(const ConvKey& o) const {
    return op == o.op && n == o.n && c == o.c && h == o.h && w == o.w && k == o.k && r == o.r &&
           s == o.s && p.stride_h == o.p.stride_h && p.stride_w == o.p.stride_w &&
           p.pad_h == o.p.pad_h && p.pad_w == o.p.pad_w && p.dilation_h == o.p.dilation_h &&
           p.dilation_w == o.p.dilation_w && math == o.math && deterministic == o.deterministic &&
           autotune == o.autotune && device == o.device && align_x == o.align_x &&
           align_w == o.align_w && align_b == o.align_b && align_y == o.align_y;
  }
};

struct ConvKeyHash {
  size_t operator()(const ConvKey& k) const {
    size_t h = 1469598103934665603ull;
    auto mix = [&h](int64_t v) { h = (h ^ static_cast<size_t>(v)) * 1099511628211ull; };
    for (int64_t v : {int64_t(k.op), k.n, k.c, k.h, k.w, k.k, k.r, k.s, int64_t(k.p.stride_h),
                      int64_t(k.p.stride_w), int64_t(k.p.pad_h), int64_t(k.p.pad_w),
                      int64_t(k.p.dilation_h), int64_t(k.p.dilation_w), int64_t(k.math),
                      int64_t(k.deterministic), int64_t(k.autotune), int64_t(k.device),
                      int64_t(k.align_x), int64_t(k.align_w), int64_t(k.align_b), int64_t(k.align_y)})
      mix(v);
    return h;
  }
};

// The largest power of two up to 16 (or `max`) that divides every address
// (cuDNN picks vectorised engines for 16-byte-aligned tensors; a view into a
// batch may be less). An absent pointer (null) counts as the maximum.
inline int alignment_of(const void* pointer, int max = 16) {
  int a = max;
  const auto v = reinterpret_cast<uintptr_t>(pointer);
  while (a > 1 && v % static_cast<uintptr_t>(a) != 0) a /= 2;
  return a;
}
inline int alignment_of(std::initializer_list<const void*> pointers) {
  int a = 16;
  for (const void* p : pointers) a = std::min(a, alignment_of(p));
  return a;
}

// A least-recently-used map of bounded size. Not thread-safe: the owner locks.
template <typename Key, typename Value, typename Hash>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // The value for `key`, now the most recently used; null when absent.
  Value* find(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }
  // Inserts (or replaces) and returns the stored value; evicts the least recently
  // used. Values dropped (evicted, or replaced under the same key) are moved into
  // `dropped` when given, so the owner decides when they die (RetireQueue).
  Value& insert(const Key& key, Value value, std::vector<Value>* dropped = nullptr) {
    if (auto it = index_.find(key); it != index_.end()) {
      if (dropped) dropped->push_back(std::move(it->second->second));
      order_.erase(it->second);
      index_.erase(it);
    }
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    trim(dropped);
    return order_.front().second;
  }
  // A new bound; entries past it are evicted (into `dropped` when given).
  void set_capacity(size_t capacity, std::vector<Value>* dropped = nullptr) {
    capacity_ = capacity == 0 ? 1 : capacity;
    trim(dropped);
  }
  // Calls f(key, value) for every entry, most recent first.
  template <typename F>
  void for_each(F&& f) const {
    for (const Entry& e : order_) f(e.first, e.second);
  }
  void clear() {
    order_.clear();
    index_.clear();
  }
  size_t size() const { return order_.size(); }
  size_t capacity() const { return capacity_; }
  size_t hits() const { return hits_; }
  size_t misses() const { return misses_; }
  size_t evictions() const { return evictions_; }

 private:
  using Entry = std::pair<Key, Value>;
  void trim(std::vector<Value>* dropped) {
    while (order_.size() > capacity_) {
      if (dropped) dropped->push_back(std::move(order_.back().second));
      index_.erase(order_.back().first);
      order_.pop_back();
      ++evictions_;
    }
  }
  size_t capacity_;
  std::list<Entry> order_;  // most recent first
  std::unordered_map<Key, typename std::list<Entry>::iterator, Hash> index_;
  size_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace convnet::cudnn
