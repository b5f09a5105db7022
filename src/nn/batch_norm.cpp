#include "convnet/nn/batch_norm.hpp"

#include <cmath>
#include <sstream>

#include "nn/format.hpp"

namespace convnet::nn {
namespace {

// Checked when the layer is built, so a bad layer fails before its first batch.
const BatchNorm2dOptions& checked(const BatchNorm2dOptions& o) {
  CONVNET_CHECK(o.num_features() > 0, "BatchNorm2d: num_features ", o.num_features(),
                " must be positive");
  CONVNET_CHECK(std::isfinite(o.eps()) && o.eps() >= 0.0, "BatchNorm2d(", o.num_features(),
                "): eps ", o.eps(), " must be finite and not negative");
  if (o.momentum())
    CONVNET_CHECK(*o.momentum() >= 0.0 && *o.momentum() <= 1.0, "BatchNorm2d(", o.num_features(),
                  "): momentum ", *o.momentum(), " must be in [0, 1] (or nullopt: a cumulative "
                  "average, PyTorch's momentum=None)");
  return o;
}

}  // namespace

BatchNorm2d::BatchNorm2d(const BatchNorm2dOptions& options) : options_(checked(options)) {
  const int64_t c = options.num_features();
  if (options.affine()) {
    weight_ = &register_parameter("weight", Tensor::ones({c}));
    bias_ = &register_parameter("bias", Tensor::zeros({c}));
  }
  if (options.track_running_stats()) {
    running_mean_ = &register_buffer("running_mean", Tensor::zeros({c}));
    running_var_ = &register_buffer("running_var", Tensor::ones({c}));
    num_batches_tracked_ =
        &register_buffer("num_batches_tracked", Tensor::zeros({}, Device::cpu(), DType::I64),
                         /*host_only=*/true);
  }
}

int64_t BatchNorm2d::num_batches_tracked() const {
  return num_batches_tracked_ ? *num_batches_tracked_->value.data<int64_t>() : 0;
}

void BatchNorm2d::check_input(const Shape& s) const {
  CONVNET_CHECK(s.rank() == 4, name(), ": expected a 4-D input [N, C, H, W], got ", s);
  CONVNET_CHECK(s[1] == options_.num_features(), name(), ": input ", s, " has ", s[1],
                " channels but the layer normalises ", options_.num_features());
}

Shape BatchNorm2d::output_shape(const Shape& input_shape) const {
  check_input(input_shape);
  return input_shape;
}

Tensor BatchNorm2d::forward(const Tensor& input, Mode mode) {
  const bool keep = keep_for_backward(mode);
  check_input(input.shape());
  Backend& be = backend_for(input.device());
  const Tensor* w = weight_ ? &weight_->value : nullptr;
  const Tensor* b = bias_ ? &bias_->value : nullptr;
  const bool tracking = running_mean_ != nullptr;
  if (mode == Mode::Eval && tracking)
    return ops::batch_norm_forward_inference(be, input, w, b, running_mean_->value,
                                             running_var_->value, static_cast<float>(options_.eps()),
                                             fuse_relu_);
  // Training, or no running statistics: the batch's.
  float factor = 0.f;
  if (tracking && mode == Mode::Train) {
    int64_t& batches = *num_batches_tracked_->value.data<int64_t>();
    // PyTorch counts the batch before it computes the cumulative factor.
    factor = options_.momentum() ? static_cast<float>(*options_.momentum())
                                 : static_cast<float>(1.0 / static_cast<double>(batches + 1));
    ops::BatchNormSaved saved;
    Tensor output = ops::batch_norm_forward_train(
        be, input, w, b, &running_mean_->value, &running_var_->value, factor,
        static_cast<float>(options_.eps()), fuse_relu_, saved);
    ++batches;  // only once the forward succeeded
    if (keep) {
      input_ = input;
      saved_ = saved;
      if (fuse_relu_) output_ = output;
    }
    return output;
  }
  ops::BatchNormSaved saved;
  Tensor output = ops::batch_norm_forward_train(be, input, w, b, nullptr, nullptr, 0.f,
                                                static_cast<float>(options_.eps()), fuse_relu_,
                                                saved);
  if (keep) {
    input_ = input;
    saved_ = saved;
    if (fuse_relu_) output_ = output;
  }
  return output;
}

Tensor BatchNorm2d::backward(const Tensor& grad_output_in) {
  check_backward(input_);
  Backend& be = backend_for(grad_output_in.device());
  const Tensor grad_output = output_.defined()
      ? ops::activation_backward(be, Activation::ReLU, 0.f, output_, output_, grad_output_in)
      : grad_output_in;
  return ops::batch_norm_backward(be, input_, grad_output, weight_ ? &weight_->value : nullptr,
                                  saved_, weight_ ? &weight_->grad : nullptr,
                                  bias_ ? &bias_->grad : nullptr, true);
}

// torch.nn.BatchNorm2d's repr.
std::string BatchNorm2d::name() const {
  const BatchNorm2dOptions& o = options_;
  std::ostringstream os;
  os << "BatchNorm2d(" << o.num_features() << ", eps=" << detail::python_float(float(o.eps()))
     << ", momentum="
     << (o.momentum() ? detail::python_float(static_cast<float>(*o.momentum())) : "None")
     << ", affine=" << detail::python_bool(o.affine())
     << ", track_running_stats=" << detail::python_bool(o.track_running_stats()) << ")";
  return os.str();
}

}  // namespace convnet::nn
