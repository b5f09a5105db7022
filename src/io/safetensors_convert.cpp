// From the dtypes a safetensors file holds to the two convnet stores: floats
// into F32 (F16 and BF16 exactly, F64 rounded), integers into I32 (I64 only
// when every value fits). The bit-level conversions are in float_bits.hpp.
#include <cstring>
#include <limits>

#include "io/float_bits.hpp"
#include "io/safetensors_view.hpp"

namespace convnet::io::detail {
namespace {

bool is_float(StoredDType dtype) {
  return dtype == StoredDType::F16 || dtype == StoredDType::BF16 || dtype == StoredDType::F32 ||
         dtype == StoredDType::F64;
}

bool is_int(StoredDType dtype) { return dtype == StoredDType::I32 || dtype == StoredDType::I64; }

// Little-endian values read without alignment assumptions: a tensor's offset in
// the buffer need not be a multiple of its element size.
template <typename T>
T load(const unsigned char* bytes, int64_t index) {
  T value;
  std::memcpy(&value, bytes + index * int64_t(sizeof(T)), sizeof(T));
  return value;
}

// "[1, 0]": the row-major position of element `index` in `shape`.
std::string position(const Shape& shape, int64_t index) {
  std::vector<int64_t> coords(shape.rank());
  for (int d = shape.rank() - 1; d >= 0; --d) {
    coords[d] = shape[d] == 0 ? 0 : index % shape[d];
    index = shape[d] == 0 ? 0 : index / shape[d];
  }
  return Shape(coords).str();
}

}  // namespace

std::optional<DType> natural_dtype(StoredDType dtype) {
  if (is_float(dtype)) return DType::F32;
  if (is_int(dtype)) return DType::I32;
  return std::nullopt;
}

bool converts_to(StoredDType from, DType target) {
  // An i64 tensor (num_batches_tracked) takes any integers, exactly.
  if (target == DType::I64) return is_int(from);
  return natural_dtype(from) == target;
}

Tensor to_tensor(const SafetensorsView& view, const StoredTensor& stored, DType target,
                 std::vector<Conversion>& conversions) {
  CONVNET_CHECK(converts_to(stored.dtype, target), view.where, "tensor \"", stored.name, "\" is ",
                stored_dtype_lower(stored.dtype), ", which does not convert to ",
                dtype_name(target));
  Tensor tensor = Tensor::empty(stored.shape, Device::cpu(), target);
  const int64_t n = tensor.numel();
  const unsigned char* in = stored.data;
  Conversion conversion{stored.name, stored_dtype_name(stored.dtype), target, 0};
  if (target == DType::I64) {
    int64_t* out = tensor.data<int64_t>();
    for (int64_t i = 0; i < n; ++i)
      out[i] = stored.dtype == StoredDType::I64 ? load<int64_t>(in, i) : load<int32_t>(in, i);
    if (stored.dtype != StoredDType::I64) conversions.push_back(std::move(conversion));
    return tensor;
  }
  switch (stored.dtype) {
    case StoredDType::F32:
    case StoredDType::I32:
      if (n != 0) std::memcpy(tensor.raw_data(), in, tensor.nbytes());
      return tensor;
    case StoredDType::F16: {
      float* out = tensor.data<float>();
      for (int64_t i = 0; i < n; ++i) out[i] = half_to_float(load<uint16_t>(in, i));
      break;
    }
    case StoredDType::BF16: {
      float* out = tensor.data<float>();
      for (int64_t i = 0; i < n; ++i) out[i] = bfloat16_to_float(load<uint16_t>(in, i));
      break;
    }
    case StoredDType::F64: {
      float* out = tensor.data<float>();
      for (int64_t i = 0; i < n; ++i) {
        bool overflowed;
        out[i] = double_to_float(load<double>(in, i), overflowed);
        conversion.overflowed += overflowed;
      }
      break;
    }
    case StoredDType::I64: {
      int32_t* out = tensor.data<int32_t>();
      for (int64_t i = 0; i < n; ++i) {
        const int64_t value = load<int64_t>(in, i);
        CONVNET_CHECK(value >= std::numeric_limits<int32_t>::min() &&
                          value <= std::numeric_limits<int32_t>::max(),
                      view.where, "tensor \"", stored.name, "\" (I64, read as i32): element ", i,
                      " ", position(stored.shape, i), " is ", value,
                      ", outside the int32 range [-2147483648, 2147483647]");
        out[i] = static_cast<int32_t>(value);
      }
      break;
    }
    default:
      CONVNET_FAIL(view.where, "tensor \"", stored.name, "\": no conversion from ",
                   stored_dtype_name(stored.dtype));
  }
  conversions.push_back(std::move(conversion));
  return tensor;
}

}  // namespace convnet::io::detail
