// What the oneDNN backend ran for each Backend::Op, for path(): the oneDNN
// implementation's name ("jit:avx512_core") or, where it handed the call to the
// reference, why. A model summary thus names what really ran.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "convnet/backend.hpp"

namespace convnet::onednn {

class RouteLog {
 public:
  void ran(Backend::Op op, const std::string& impl) {
    std::lock_guard<std::mutex> lock(mutex_);
    ops_[op].impls[impl] += 1;
  }
  void fell_back(Backend::Op op, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    ops_[op].reasons[reason] += 1;
  }
  // "onednn jit:avx512_core" / "onednn jit:avx512_core, ref; fallback: <ref> (why)";
  // `reference` is the reference backend's path, `planned` what runs before any call.
  std::string path(Backend::Op op, const std::string& reference, const std::string& planned) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = ops_.find(op);
    if (it == ops_.end()) return planned;
    std::string s;
    if (!it->second.impls.empty()) {
      s = "onednn ";
      bool first = true;
      for (const auto& [impl, n] : it->second.impls) {
        s += (first ? "" : ", ") + impl;
        first = false;
      }
    }
    for (const auto& [reason, n] : it->second.reasons)
      s += (s.empty() ? "" : "; ") + std::string("fallback: ") + reference + " (" + reason + ")";
    return s;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    ops_.clear();
  }

 private:
  struct Routes {
    std::map<std::string, long> impls, reasons;
  };
  mutable std::mutex mutex_;
  std::map<Backend::Op, Routes> ops_;
};

}  // namespace convnet::onednn
