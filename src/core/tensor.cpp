#include "convnet/tensor.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#include "convnet/random.hpp"
#include "core/cuda_hooks.hpp"
#include "core/host_allocator.hpp"

namespace convnet {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return sizeof(float);
    case DType::I32: return sizeof(int32_t);
    case DType::I64: return sizeof(int64_t);
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
  }
  return "?";
}

bool cuda_compiled() { return cuda_hooks::compiled(); }
int cuda_device_count() { return cuda_hooks::device_count(); }
std::string cuda_unavailable_reason() { return cuda_hooks::unavailable_reason(); }

// ---- Storage

Storage::Storage(size_t nbytes, Device dev, bool pin) : bytes(nbytes), device(dev), pinned(pin) {
  CONVNET_CHECK(!pinned || device.is_cpu(), "allocate: pinned memory is host memory, not ", device);
  if (bytes == 0) return;
  if (pinned) {
    ptr = cuda_hooks::allocate_pinned(bytes);
  } else if (device.is_cpu()) {
    ptr = host_allocator::allocate(bytes);  // 64-byte aligned, cached for reuse
  } else {
    ptr = cuda_hooks::allocate(device.index, bytes);
  }
}

Storage::~Storage() {
  if (!ptr) return;
  if (pinned) {
    cuda_hooks::release_pinned(ptr);
  } else if (device.is_cpu()) {
    host_allocator::release(ptr, bytes);
  } else {
    cuda_hooks::release(device.index, ptr, bytes);
  }
}

// ---- Tensor

namespace {
void check_shape(const Shape& shape, const char* what) {
  for (int64_t d : shape.dims())
    CONVNET_CHECK(d >= 0, what, ": negative extent in shape ", shape);
}

// `what` names the call the user made: "Tensor::to(cuda:0) of [2, 3]".
void check_device(Device device, const std::string& what) {
  if (!device.is_cuda()) return;
  CONVNET_CHECK(cuda_hooks::compiled(), what, ": convnet was built without CUDA");
  const int count = cuda_hooks::device_count();
  if (count == 0) CONVNET_FAIL(what, ": ", cuda_hooks::unavailable_reason());
  CONVNET_CHECK(device.index >= 0 && device.index < count, what, ": no such CUDA device (",
                count, " visible)");
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, Device device, DType dtype) {
  check_shape(shape, "Tensor::empty");
  check_device(device, "Tensor::empty " + shape.str() + " on " + device.str());
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(shape.numel()) * dtype_size(dtype), device);
  return t;
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  check_shape(shape, "Tensor::empty_pinned");
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(shape.numel()) * dtype_size(dtype),
                                         Device::cpu(), /*pinned=*/true);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, Device device, DType dtype) {
  return full(shape, 0.f, device, dtype);
}

Tensor Tensor::ones(const Shape& shape, Device device, DType dtype) {
  return full(shape, 1.f, device, dtype);
}

Tensor Tensor::full(const Shape& shape, float value, Device device, DType dtype) {
  Tensor t = empty(shape, device, dtype);
  t.fill_(value);
  return t;
}

Tensor Tensor::rand(const Shape& shape, Device device, uint64_t seed, float low, float high) {
  Tensor host = empty(shape, Device::cpu());
  float* out = host.data<float>();
  for (int64_t i = 0; i < host.numel(); ++i)
    out[i] = low + (high - low) * philox_uniform(seed, 0, static_cast<uint64_t>(i));
  return host.to(device);
}

Tensor Tensor::randn(const Shape& shape, Device device, uint64_t seed, float mean, float stddev) {
  Tensor host = empty(shape, Device::cpu());
  float* out = host.data<float>();
  for (int64_t i = 0; i < host.numel(); ++i)
    out[i] = mean + stddev * philox_normal(seed, 0, static_cast<uint64_t>(i));
  return host.to(device);
}

template <typename T>
static Tensor from_host_values(const std::vector<T>& values, const Shape& shape, Device device) {
  CONVNET_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "Tensor::from_vector: ",
                values.size(), " values do not fill shape ", shape, " (", shape.numel(),
                " elements)");
  Tensor host = Tensor::empty(shape, Device::cpu(), dtype_of<T>::value);
  if (!values.empty()) std::memcpy(host.raw_data(), values.data(), values.size() * sizeof(T));
  return host.to(device);
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  return from_host_values(values, shape, device);
}

Tensor Tensor::from_vector(const std::vector<int32_t>& values, const Shape& shape, Device device) {
  return from_host_values(values, shape, device);
}

Tensor Tensor::from_vector(const std::vector<int64_t>& values, const Shape& shape, Device device) {
  return from_host_values(values, shape, device);
}

std::vector<int64_t> Tensor::strides() const {
  std::vector<int64_t> s(static_cast<size_t>(dim()), 1);
  for (int i = dim() - 2; i >= 0; --i) s[i] = s[i + 1] * shape_[i + 1];
  return s;
}

Device Tensor::device() const { return storage_ ? storage_->device : Device::cpu(); }

void* Tensor::raw_data() const {
  if (!storage_ || !storage_->ptr) return nullptr;
  return static_cast<char*>(storage_->ptr) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

void Tensor::check_access(DType wanted) const {
  CONVNET_CHECK(defined(), "Tensor::data: the tensor is undefined");
  CONVNET_CHECK(wanted == dtype_, "Tensor::data<", dtype_name(wanted), ">: tensor ", str(),
                " holds ", dtype_name(dtype_));
}

Tensor Tensor::to(Device target) const {
  CONVNET_CHECK(defined(), "Tensor::to(", target, "): the tensor is undefined");
  if (target == device()) return *this;
  check_device(target, "Tensor::to(" + target.str() + ") of " + str());
  Tensor out = empty(shape_, target, dtype_);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::clone() const {
  CONVNET_CHECK(defined(), "Tensor::clone: the tensor is undefined");
  Tensor out = empty(shape_, device(), dtype_);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::reshape(const Shape& shape) const {
  CONVNET_CHECK(defined(), "Tensor::reshape: the tensor is undefined");
  Shape resolved = shape;
  int inferred = -1;
  int64_t known = 1;
  for (int i = 0; i < resolved.rank(); ++i) {
    if (resolved[i] == -1) {
      CONVNET_CHECK(inferred < 0, "Tensor::reshape ", shape_, " -> ", shape,
                    ": only one extent may be -1");
      inferred = i;
    } else {
      CONVNET_CHECK(resolved[i] >= 0, "Tensor::reshape ", shape_, " -> ", shape,
                    ": negative extent");
      known *= resolved[i];
    }
  }
  if (inferred >= 0) {
    CONVNET_CHECK(known > 0 && numel() % known == 0, "Tensor::reshape ", shape_, " -> ", shape,
                  ": ", numel(), " elements do not divide into the known extents");
    resolved[inferred] = numel() / known;
  }
  CONVNET_CHECK(resolved.numel() == numel(), "Tensor::reshape ", shape_, " -> ", shape, ": ",
                numel(), " elements cannot take a shape of ", resolved.numel());
  Tensor view = *this;
  view.shape_ = resolved;
  return view;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  CONVNET_CHECK(defined() && dim() >= 1, "Tensor::slice: needs a defined tensor of rank >= 1, got ",
                str());
  CONVNET_CHECK(0 <= begin && begin <= end && end <= shape_[0], "Tensor::slice [", begin, ", ",
                end, ") out of range for ", shape_);
  Tensor view = *this;
  const int64_t row = shape_[0] == 0 ? 0 : numel() / shape_[0];
  view.offset_ += begin * row;
  view.shape_[0] = end - begin;
  return view;
}

Tensor& Tensor::fill_(float value) {
  CONVNET_CHECK(defined(), "Tensor::fill_: the tensor is undefined");
  if (device().is_cpu()) {
    if (dtype_ == DType::F32) {
      float* p = data<float>();
      for (int64_t i = 0; i < numel(); ++i) p[i] = value;
    } else if (dtype_ == DType::I32) {
      int32_t* p = data<int32_t>();
      const int32_t v = static_cast<int32_t>(value);
      for (int64_t i = 0; i < numel(); ++i) p[i] = v;
    } else {
      int64_t* p = data<int64_t>();
      const int64_t v = static_cast<int64_t>(value);
      for (int64_t i = 0; i < numel(); ++i) p[i] = v;
    }
  } else if (dtype_ == DType::I64) {
    // The device fill writes 4-byte words; an i64 tensor is rare and small.
    Tensor host = Tensor::empty(shape_, Device::cpu(), dtype_);
    host.fill_(value);
    copy_from(host);
  } else if (numel() > 0) {
    cuda_hooks::fill(device().index, raw_data(), dtype_, numel(), value);
  }
  return *this;
}

void Tensor::copy_from(const Tensor& src) {
  CONVNET_CHECK(defined() && src.defined(), "Tensor::copy_from: undefined tensor");
  CONVNET_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, "Tensor::copy_from: source ",
                src.str(), " does not match destination ", str());
  if (nbytes() == 0 || raw_data() == src.raw_data()) return;
  if (device().is_cpu() && src.device().is_cpu()) {
    std::memmove(raw_data(), src.raw_data(), nbytes());
  } else {
    cuda_hooks::copy(raw_data(), device(), src.raw_data(), src.device(), nbytes());
  }
}

float Tensor::item() const {
  CONVNET_CHECK(defined() && numel() == 1 && dtype_ == DType::F32,
                "Tensor::item: needs a one-element f32 tensor, got ", defined() ? str() : "undefined");
  float value = 0.f;
  if (device().is_cpu()) {
    value = *data<float>();
  } else {
    cuda_hooks::copy(&value, Device::cpu(), raw_data(), device(), sizeof(float));
  }
  return value;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  check_access(dtype_of<T>::value);
  std::vector<T> out(static_cast<size_t>(numel()));
  if (out.empty()) return out;
  if (device().is_cpu()) {
    std::memcpy(out.data(), raw_data(), nbytes());
  } else {
    cuda_hooks::copy(out.data(), Device::cpu(), raw_data(), device(), nbytes());
  }
  return out;
}

template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return "Tensor" + shape_.str() + " " + dtype_name(dtype_) + " " + device().str();
}

}  // namespace convnet
