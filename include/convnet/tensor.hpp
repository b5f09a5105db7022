// Tensor: a contiguous, row-major (NCHW for images) block of float32 or int32
// values on the CPU or one CUDA device. int64 exists for PyTorch's integer
// state (BatchNorm's num_batches_tracked): it is stored, copied, moved, filled,
// printed and saved, but no operation computes on it.
//
// Tensors are cheap handles: copying a Tensor shares its storage (like
// torch::Tensor). clone() and to() make real copies. Every host/device transfer
// is explicit (to(), copy_from(), item(), to_vector()); no operation moves data
// between devices behind the caller's back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "convnet/device.hpp"
#include "convnet/error.hpp"
#include "convnet/shape.hpp"

namespace convnet {

enum class DType { F32, I32, I64 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "f32", "i32", "i64"

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::I32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::I64; };

// Owns one allocation; freed through the allocator of its device.
struct Storage {
  void* ptr = nullptr;
  size_t bytes = 0;
  Device device;
  bool pinned = false;  // page-locked host memory (device is the CPU)
  Storage(size_t bytes, Device device, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  // Uninitialised storage. CUDA tensors come from the caching device allocator.
  static Tensor empty(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::F32);
  // Uninitialised CPU tensor in page-locked (pinned) host memory, which the GPU
  // copies from at full PCIe speed. Ordinary host memory when no GPU is usable.
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::F32);
  static Tensor ones(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::F32);
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu(),
                     DType dtype = DType::F32);
  // Seeded random fills (Philox4x32-10, see random.hpp): the same seed gives the
  // same values on every device and every run.
  static Tensor rand(const Shape& shape, Device device, uint64_t seed, float low = 0.f,
                     float high = 1.f);
  static Tensor randn(const Shape& shape, Device device, uint64_t seed, float mean = 0.f,
                      float stddev = 1.f);
  // Copies host values into a new tensor on `device`; values.size() must equal shape.numel().
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            Device device = Device::cpu());
  static Tensor from_vector(const std::vector<int32_t>& values, const Shape& shape,
                            Device device = Device::cpu());
  static Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape,
                            Device device = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int dim() const { return shape_.rank(); }
  int64_t size(int i) const { return shape_[i]; }
  int64_t numel() const { return shape_.numel(); }
  std::vector<int64_t> strides() const;  // in elements; always contiguous row-major
  DType dtype() const { return dtype_; }
  Device device() const;
  bool pinned() const { return storage_ && storage_->pinned; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  // Typed pointer to the first element (device memory for CUDA tensors).
  // Throws when T does not match dtype() or the tensor is undefined.
  template <typename T> T* data() { check_access(dtype_of<T>::value); return static_cast<T*>(raw_data()); }
  template <typename T> const T* data() const {
    check_access(dtype_of<T>::value);
    return static_cast<const T*>(raw_data());
  }
  void* raw_data() const;

  // Same device: returns *this (shared storage). Other device: a copy there.
  Tensor to(Device device) const;
  Tensor clone() const;
  // A view with a new shape and the same storage; one extent may be -1 (inferred).
  Tensor reshape(const Shape& shape) const;
  // A view of rows [begin, end) along dimension 0, sharing storage.
  Tensor slice(int64_t begin, int64_t end) const;

  Tensor& fill_(float value);  // integer tensors store the value cast to their type
  Tensor& zero_() { return fill_(0.f); }
  // Copies src's values into this tensor (same shape and dtype; any devices).
  void copy_from(const Tensor& src);

  // The value of a one-element float32 tensor, on the host. Synchronises with a CUDA device.
  float item() const;
  // All values, copied to the host.
  template <typename T> std::vector<T> to_vector() const;

  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }
  // "Tensor[8, 1, 28, 28] f32 cuda:0"
  std::string str() const;

 private:
  void check_access(DType wanted) const;

  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements, for slice()
  Shape shape_;
  DType dtype_ = DType::F32;
};

extern template std::vector<float> Tensor::to_vector<float>() const;
extern template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
extern template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

}  // namespace convnet
