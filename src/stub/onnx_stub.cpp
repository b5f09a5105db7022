// ONNX in a build without libonnx-dev (CONVNET_ONNX=OFF, or not found): every
// call is a clear error.
#include "convnet/error.hpp"
#include "convnet/io/onnx.hpp"

namespace convnet::io {
namespace {
[[noreturn]] void no_onnx(const char* what) {
  CONVNET_FAIL(what, ": convnet was built without ONNX (CONVNET_ONNX=OFF, or libonnx-dev and "
               "libprotobuf-dev not found at configure time); rebuild with them");
}
}  // namespace

void export_onnx(nn::Layer&, const Shape&, const std::string&, const OnnxExportOptions&) {
  no_onnx("export_onnx");
}
std::string export_onnx_bytes(nn::Layer&, const Shape&, const OnnxExportOptions&) {
  no_onnx("export_onnx_bytes");
}
OnnxModel import_onnx(const std::string&) { no_onnx("import_onnx"); }
OnnxModel import_onnx_bytes(const void*, size_t) { no_onnx("import_onnx_bytes"); }
bool onnx_available() { return false; }

}  // namespace convnet::io
