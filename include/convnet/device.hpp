// Where a tensor's storage lives: host memory or one CUDA device.
#pragma once

#include <ostream>
#include <string>

namespace convnet {

struct Device {
  enum class Type { Cpu, Cuda };
  Type type = Type::Cpu;
  int index = 0;  // CUDA ordinal; always 0 for the CPU

  static Device cpu() { return {Type::Cpu, 0}; }
  static Device cuda(int index = 0) { return {Type::Cuda, index}; }

  bool is_cpu() const { return type == Type::Cpu; }
  bool is_cuda() const { return type == Type::Cuda; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

inline std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

// True when this build has CUDA support compiled in (CONVNET_CUDA found nvcc, cuBLAS, cuDNN).
bool cuda_compiled();
// Number of usable CUDA devices: 0 in a CPU-only build, with no GPU, or with no driver.
int cuda_device_count();
// True when cuda_device_count() > 0.
inline bool cuda_available() { return cuda_device_count() > 0; }
// Why CUDA is not available ("" when it is): printed by GPU tests when they skip.
std::string cuda_unavailable_reason();

}  // namespace convnet
