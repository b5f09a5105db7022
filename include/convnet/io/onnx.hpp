// ONNX export and import: a model as the standard graph that onnxruntime,
// TensorRT, OpenVINO and browsers run, and such a graph back as a model.
//
//   io::export_onnx(model, {1, 1, 28, 28}, "mnist_cnn.onnx");
//   io::OnnxModel m = io::import_onnx("mnist_cnn.onnx");
//   Tensor logits = m.model->forward(images, nn::Mode::Eval);
//
// Export writes opset 13 (kOnnxOpset): the first opset whose Softmax and
// LogSoftmax normalise one axis, as PyTorch's dim=1 does (earlier opsets
// flatten every axis after it), and one that every runtime reads. Each layer
// maps to standard operators, exactly:
//   Conv2d            Conv (bias as its third input)
//   Linear            Gemm (transB = 1)
//   ReLU, LeakyReLU, Sigmoid, Tanh     Relu, LeakyRelu, Sigmoid, Tanh
//   MaxPool2d         MaxPool (pads, ceil_mode)
//   AvgPool2d         AveragePool (pads, ceil_mode, count_include_pad)
//   AdaptiveAvgPool2d GlobalAveragePool for output 1x1; AveragePool when the
//                     input divides evenly; refused otherwise (the input
//                     shape decides)
//   Flatten           Flatten (axis 1)
//   Dropout           Dropout in its inference form (the identity)
//   Softmax, LogSoftmax                Softmax, LogSoftmax (axis 1)
//   BatchNorm2d       BatchNormalization with the running statistics (eval);
//                     without running statistics eval normalises with the
//                     batch's, which ONNX cannot say: refused
//   Sequential        its layers in order
//   Residual, BasicBlock, ResNet       their layers and an Add (then Relu)
// Any other layer (one of the user's own) is refused with a convnet::Error
// that names it: nothing is exported approximately. The export is what the
// model computes in Mode::Eval. The batch dimension is dynamic ("N"); the
// other input dimensions are those of input_shape. The file passes ONNX's
// checker before it is written, atomically.
//
// Import builds an nn::Sequential (residual branches become nn::Residual)
// from the operators above, in the layouts PyTorch's exporter writes: Flatten
// or Reshape to [N, -1] before Gemm, Gemm with or without transB, Conv with or
// without bias, pads written out, Constant nodes, Identity, BatchNormalization
// in eval form, Dropout. Opsets 13 to 21 of the default domain. Whatever it
// cannot represent exactly (asymmetric pads, groups, dilation, Gemm with
// alpha != 1, a second output in use, an unknown operator) is refused, naming
// the node, its operator and the attribute. The file is untrusted: sizes are
// checked against the data before anything is allocated.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "convnet/nn/layer.hpp"
#include "convnet/nn/sequential.hpp"
#include "convnet/shape.hpp"

namespace convnet::io {

constexpr int64_t kOnnxOpset = 13;

struct OnnxExportOptions {
  std::string input_name = "input";
  std::string output_name = "output";
  std::string graph_name = "convnet";
  // true: the batch dimension is the symbol "N"; false: input_shape[0].
  bool dynamic_batch = true;
};

// Writes `model` (as it computes in Mode::Eval) to `path` for inputs of
// `input_shape` ([N, C, H, W] or [N, features]). Throws convnet::Error for a
// layer without a faithful mapping (naming it), an input shape the model
// refuses, or a path that cannot be written (the old file, if any, is kept).
void export_onnx(nn::Layer& model, const Shape& input_shape, const std::string& path,
                 const OnnxExportOptions& options = OnnxExportOptions());
// The same model as serialized bytes (a ModelProto).
std::string export_onnx_bytes(nn::Layer& model, const Shape& input_shape,
                              const OnnxExportOptions& options = OnnxExportOptions());

struct OnnxModel {
  std::unique_ptr<nn::Sequential> model;  // on the CPU, backend unchosen
  // The graph input's dimensions; -1 where symbolic (the batch).
  std::vector<int64_t> input_shape;
  std::string input_name, output_name;
  int64_t opset = 0;
};

// Reads an ONNX file (or its bytes). Throws convnet::Error for a file that is
// not a well-formed ModelProto, or that uses what convnet cannot represent.
OnnxModel import_onnx(const std::string& path);
OnnxModel import_onnx_bytes(const void* data, size_t size);

// Whether this build has ONNX (CONVNET_ONNX; libonnx-dev). Without it the
// functions above throw convnet::Error saying so.
bool onnx_available();

}  // namespace convnet::io
