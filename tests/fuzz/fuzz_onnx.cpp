// libFuzzer target: io::import_onnx_bytes, the ONNX importer (protobuf parse,
// initializer sizes, graph walk, residual branches, every operator's
// attributes), on arbitrary bytes. Accepted: a model, or convnet::Error. A
// model that imports must give the same structure a second time, report an
// output shape for its input, and, when it is small, run a Mode::Eval forward
// on a batch of one (so a layer built from bad attributes shows up here).
#include <cstdint>

#include "convnet/convnet.hpp"
#include "convnet/io/onnx.hpp"
#include "fuzz_common.hpp"

namespace {

using convnet_fuzz::fuzz_fail;

constexpr int64_t kMaxForwardElements = 1 << 14;
constexpr int64_t kMaxForwardParameters = 1 << 16;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace convnet;
  io::OnnxModel model;
  try {
    model = io::import_onnx_bytes(data, size);
  } catch (const Error&) {
    return 0;
  }
  if (!model.model) fuzz_fail("fuzz_onnx", "imported without a model");
  const io::OnnxModel again = io::import_onnx_bytes(data, size);
  if (again.model->size() != model.model->size() ||
      again.model->parameter_count() != model.model->parameter_count())
    fuzz_fail("fuzz_onnx", "a second import differs");
  std::vector<int64_t> dims = model.input_shape;
  if (dims.empty() || dims[0] == 0 || dims[0] < -1) fuzz_fail("fuzz_onnx", "bad input shape");
  dims[0] = 1;
  const Shape input(dims);
  Shape output;
  try {
    output = model.model->output_shape(input);
  } catch (const Error&) {
    fuzz_fail("fuzz_onnx", "the imported model refuses its own input shape");
  }
  if (input.numel() > kMaxForwardElements || model.model->parameter_count() > kMaxForwardParameters)
    return 0;
  try {
    const Tensor y = model.model->forward(Tensor::zeros(input), nn::Mode::Eval);
    if (y.shape() != output) fuzz_fail("fuzz_onnx", "forward's shape differs from output_shape");
  } catch (const Error&) {
    // Layers may refuse at run time what shapes allowed (e.g. a huge intermediate).
  }
  return 0;
}
