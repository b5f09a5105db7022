// The cuDNN plan cache: building a cuDNN graph and its plan costs milliseconds
// (heuristics, engine compilation), running it microseconds, so every plan is
// built once per problem and looked up before anything is built again.
//
// The key is plain data: everything that changes which plan is valid or chosen
// (operation, shapes, stride, padding, dilation, epilogue, math mode,
// determinism, autotuning, device, pointer alignment). Bounded: least recently
// used plans are dropped past `capacity` (a model meets a handful of shapes;
// a shape sweep must not grow memory without bound). No cuDNN types here, so
// the host tests check it in every build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>
#include <utility>

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
  int alignment = 16;  // the smallest byte alignment among the operands' pointers

  bool operator==(const ConvKey& o) const {
    return op == o.op && n == o.n && c == o.c && h == o.h && w == o.w && k == o.k && r == o.r &&
           s == o.s && p.stride_h == o.p.stride_h && p.stride_w == o.p.stride_w &&
           p.pad_h == o.p.pad_h && p.pad_w == o.p.pad_w && p.dilation_h == o.p.dilation_h &&
           p.dilation_w == o.p.dilation_w && math == o.math && deterministic == o.deterministic &&
           autotune == o.autotune && device == o.device && alignment == o.alignment;
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
                      int64_t(k.alignment)})
      mix(v);
    return h;
  }
};

// The largest power of two up to 16 that divides every address (cuDNN picks
// vectorised engines for 16-byte-aligned tensors; a view into a batch may be less).
inline int alignment_of(std::initializer_list<const void*> pointers) {
  int a = 16;
  for (const void* p : pointers) {
    if (!p) continue;
    const auto v = reinterpret_cast<uintptr_t>(p);
    while (a > 1 && v % static_cast<uintptr_t>(a) != 0) a /= 2;
  }
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
  // Inserts (or replaces) and returns the stored value; evicts the least recently used.
  Value& insert(const Key& key, Value value) {
    if (auto it = index_.find(key); it != index_.end()) {
      order_.erase(it->second);
      index_.erase(it);
    }
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    while (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
      ++evictions_;
    }
    return order_.front().second;
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
  size_t capacity_;
  std::list<Entry> order_;  // most recent first
  std::unordered_map<Key, typename std::list<Entry>::iterator, Hash> index_;
  size_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace convnet::cudnn
