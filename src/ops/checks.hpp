// Validation shared by convnet::ops (and the layers' output_shape). Every check
// throws convnet::Error with a message that starts with the op's name and names
// the tensors by role and shape, so a user can tell which argument is wrong.
#pragma once

#include <initializer_list>
#include <string_view>

#include "convnet/backend.hpp"
#include "convnet/error.hpp"
#include "convnet/tensor.hpp"

namespace convnet::ops::detail {

// Defined, of `dtype`, and of rank `rank` (-1: any rank). `layout` ("[N, C, H, W]")
// tells the user what the rank means.
inline void check_tensor(std::string_view op, std::string_view role, const Tensor& t, DType dtype,
                         int rank = -1, std::string_view layout = "") {
  CONVNET_CHECK(t.defined(), op, ": ", role, " is undefined");
  CONVNET_CHECK(t.dtype() == dtype, op, ": ", role, " ", t.shape(), " is ", dtype_name(t.dtype()),
                " but must be ", dtype_name(dtype));
  CONVNET_CHECK(rank < 0 || t.dim() == rank, op, ": ", role, " ", t.shape(), " must be ", rank,
                "-D", layout.empty() ? "" : " ", layout, " but has rank ", t.dim());
}

inline void check_min_rank(std::string_view op, std::string_view role, const Tensor& t,
                           int min_rank) {
  CONVNET_CHECK(t.dim() >= min_rank, op, ": ", role, " ", t.shape(), " needs rank >= ", min_rank,
                " but has rank ", t.dim());
}

inline void check_not_empty(std::string_view op, std::string_view role, const Tensor& t) {
  CONVNET_CHECK(t.numel() > 0, op, ": ", role, " ", t.shape(),
                " has no elements (an empty batch or a zero extent)");
}

// `t`'s shape equals `expected`, which is described as `expected_what`.
inline void check_shape(std::string_view op, std::string_view role, const Tensor& t,
                        const Shape& expected, std::string_view expected_what) {
  CONVNET_CHECK(t.shape() == expected, op, ": ", role, " ", t.shape(), " must match ",
                expected_what, " ", expected);
}

struct TensorArg {
  std::string_view role;
  const Tensor* tensor;  // null: an optional argument that was not given
};

// Every given tensor lives where `be` computes, and all on the same device.
// Call after check_tensor (an undefined tensor reports the CPU as its device).
inline void check_devices(std::string_view op, const Backend& be,
                          std::initializer_list<TensorArg> args) {
  const bool be_cpu = be.device_type() == Device::Type::Cpu;
  const TensorArg* first = nullptr;
  for (const TensorArg& arg : args) {
    if (!arg.tensor) continue;
    const Device device = arg.tensor->device();
    CONVNET_CHECK(device.type == be.device_type(), op, ": backend ", backend_name(be.kind()),
                  " computes on ", be_cpu ? "CPU" : "CUDA", " tensors but ", arg.role, " is on ",
                  device, " — move it with .to(Device::", be_cpu ? "cpu" : "cuda", "())");
    if (!first) {
      first = &arg;
    } else {
      CONVNET_CHECK(device == first->tensor->device(), op, ": ", arg.role, " is on ", device,
                    " but ", first->role, " is on ", first->tensor->device(),
                    " — every tensor of one op must be on the same device");
    }
  }
}

// Validates the convolution (input [N,C,H,W], weight [K,C,R,S], params) and
// returns the output shape [N,K,P,Q]. Defined in conv_ops.cpp.
Shape conv2d_output_shape(std::string_view op, const Shape& input, const Shape& weight,
                          const Conv2dParams& p);
// Validates the pooling (input [N,C,H,W], params) and returns [N,C,P,Q].
// Defined in pool_ops.cpp.
Shape pool2d_output_shape(std::string_view op, const Shape& input, const Pool2dParams& p);

// scores f32 [N, C] (N, C > 0) and labels i32 [N]. On the CPU every label must
// lie in [0, C); GPU backends flag bad labels without a host sync, so their
// values are not read here. Devices are checked by the caller. In loss_ops.cpp.
void check_scores_and_labels(std::string_view op, std::string_view role, const Tensor& scores,
                             const Tensor& labels);

}  // namespace convnet::ops::detail
