#include "convnet/nn/resnet.hpp"

#include "convnet/nn/init.hpp"
#include "convnet/ops.hpp"

namespace convnet::nn {
namespace {

const ResNetOptions& checked(const ResNetOptions& o) {
  CONVNET_CHECK(!o.widths().empty() && o.widths().size() == o.blocks().size(),
                "ResNet: widths (", o.widths().size(), " stages) and blocks (", o.blocks().size(),
                " stages) must be non-empty and of the same length");
  for (size_t k = 0; k < o.widths().size(); ++k)
    CONVNET_CHECK(o.widths()[k] > 0 && o.blocks()[k] > 0, "ResNet: stage ", k + 1, " has width ",
                  o.widths()[k], " and ", o.blocks()[k], " blocks; both must be positive");
  CONVNET_CHECK(o.in_channels() > 0 && o.num_classes() > 0, "ResNet: in_channels ",
                o.in_channels(), " and num_classes ", o.num_classes(), " must be positive");
  CONVNET_CHECK(o.stem_stride() >= 1, "ResNet: stem_stride ", o.stem_stride(),
                " must be at least 1");
  return o;
}

}  // namespace

ResNet::ResNet(const ResNetOptions& options) : options_(checked(options)) {
  const auto& widths = options.widths();
  conv1_ = &register_module(
      "conv1", std::make_unique<Conv2d>(Conv2dOptions(static_cast<int>(options.in_channels()),
                                                      static_cast<int>(widths[0]), 3)
                                            .stride(static_cast<int>(options.stem_stride()))
                                            .padding(1)
                                            .bias(false)));
  init::kaiming_normal_(conv1_->weight().value, init::FanMode::FanOut);
  bn1_ = &register_module("bn1", std::make_unique<BatchNorm2d>(widths[0]));
  register_module("relu", std::make_unique<ReLU>());
  int64_t inplanes = widths[0];
  for (size_t k = 0; k < widths.size(); ++k) {
    auto stage = std::make_unique<Sequential>();
    for (int64_t b = 0; b < options.blocks()[k]; ++b) {
      const int stride = k > 0 && b == 0 ? 2 : 1;
      std::unique_ptr<Layer> downsample;
      if (stride != 1 || inplanes != widths[k])
        downsample = BasicBlock::make_downsample(inplanes, widths[k], stride);
      stage->add(std::make_unique<BasicBlock>(inplanes, widths[k], stride, std::move(downsample),
                                              options.zero_init_residual()));
      inplanes = widths[k];
    }
    stages_.push_back(&register_module("layer" + std::to_string(k + 1), std::move(stage)));
  }
  avgpool_ = &register_module("avgpool", std::make_unique<AdaptiveAvgPool2d>(1));
  fc_ = &register_module("fc", std::make_unique<Linear>(static_cast<int>(inplanes),
                                                        static_cast<int>(options.num_classes())));
}

Shape ResNet::output_shape(const Shape& input_shape) const {
  Shape s = bn1_->output_shape(conv1_->output_shape(input_shape));
  for (const Sequential* stage : stages_) s = stage->output_shape(s);
  s = avgpool_->output_shape(s);
  return fc_->output_shape(Shape{s[0], s[1]});
}

std::vector<Shape> ResNet::child_input_shapes(const Shape& input_shape) const {
  std::vector<Shape> shapes{input_shape};
  try {
    Shape s = conv1_->output_shape(input_shape);
    shapes.push_back(s);  // bn1
    shapes.push_back(s);  // relu
    for (const Sequential* stage : stages_) {
      shapes.push_back(s);
      s = stage->output_shape(s);
    }
    shapes.push_back(s);  // avgpool
    s = avgpool_->output_shape(s);
    shapes.push_back(Shape{s[0], s[1]});  // fc, after the flatten in forward
  } catch (const Error&) {
  }
  return shapes;
}

Tensor ResNet::forward(const Tensor& x, Mode mode) {
  const bool keep = keep_for_backward(mode);
  Tensor out = forward_fused_relu(*bn1_, conv1_->forward(x, mode), mode);
  for (Sequential* stage : stages_) out = stage->forward(out, mode);
  out = avgpool_->forward(out, mode);
  if (keep) pooled_shape_ = out.shape();
  out = out.reshape(Shape{out.size(0), out.size(1)});  // torch.flatten(x, 1)
  return fc_->forward(out, mode);
}

Tensor ResNet::backward(const Tensor& grad_output) {
  check_backward();
  CONVNET_CHECK(pooled_shape_.rank() == 4, name(),
                ": backward needs a forward in Mode::Train that finished; the latest one threw");
  Tensor g = fc_->backward(grad_output).reshape(pooled_shape_);
  g = avgpool_->backward(g);
  for (auto it = stages_.rbegin(); it != stages_.rend(); ++it) g = (*it)->backward(g);
  conv1_->set_input_grad(input_grad());
  return conv1_->backward(bn1_->backward(g));
}

}  // namespace convnet::nn
