// The convnet side of tests/python/check_onnx.py, which checks our ONNX files
// with the real runtime (onnxruntime) and ONNX's own checker.
//
// Usage: onnx_fixture export OUT_DIR
//          writes <name>.onnx for each model below, with <name>.input.npy (a
//          fixed batch) and <name>.output.npy (convnet's Mode::Eval output)
//        onnx_fixture run MODEL.onnx INPUT.npy OUTPUT.npy
//          imports MODEL.onnx and writes its Mode::Eval output on INPUT
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "convnet/io/onnx.hpp"

using namespace convnet;

namespace {

// NumPy's .npy format, version 1.0, little-endian float32, C order.
void write_npy(const std::string& path, const Tensor& tensor) {
  const Tensor host = tensor.to(Device::cpu());
  std::string shape;
  for (int d = 0; d < host.shape().rank(); ++d) shape += std::to_string(host.shape()[d]) + ", ";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t length = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&length), 2);
  out << header;
  out.write(static_cast<const char*>(host.raw_data()), static_cast<std::streamsize>(host.nbytes()));
  CONVNET_CHECK(out.good(), "cannot write ", path);
}

// Reads what write_npy (or numpy.save of a C-order float32 array) writes.
Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[10];
  in.read(magic, 10);
  CONVNET_CHECK(in.good() && std::memcmp(magic, "\x93NUMPY\x01\x00", 8) == 0, path, ": not a .npy v1 file");
  uint16_t length;
  std::memcpy(&length, magic + 8, 2);
  std::string header(length, ' ');
  in.read(header.data(), length);
  CONVNET_CHECK(header.find("'<f4'") != std::string::npos && header.find("False") != std::string::npos,
                path, ": only little-endian float32 in C order");
  const size_t open = header.find('('), close = header.find(')');
  std::vector<int64_t> dims;
  std::string part;
  for (size_t i = open + 1; i <= close; ++i) {
    if (header[i] == ',' || header[i] == ')') {
      if (part.find_first_not_of(' ') != std::string::npos) dims.push_back(std::stoll(part));
      part.clear();
    } else {
      part += header[i];
    }
  }
  Tensor t = Tensor::empty(Shape(dims));
  in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
  CONVNET_CHECK(in.good(), path, ": truncated");
  return t;
}

// Running statistics that are not the defaults, so eval-form BatchNorm is tested.
void train_batch_norm_statistics(nn::Layer& model, const Shape& input_shape) {
  for (uint64_t i = 0; i < 3; ++i) {
    Tensor x = Tensor::randn(input_shape, Device::cpu(), 100 + i, 0.5f, 2.f);
    model.forward(x, nn::Mode::Train);
  }
}

struct Fixture {
  std::string name;
  std::function<std::unique_ptr<nn::Layer>()> build;
  Shape input;
};

std::vector<Fixture> fixtures() {
  return {
      {"mnist_cnn",
       [] {
         auto net = std::make_unique<nn::Sequential>();  // examples/mnist_cnn.cpp's model
         net->add<nn::Conv2d>(nn::Conv2dOptions(1, 32, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
             .add<nn::Conv2d>(nn::Conv2dOptions(32, 64, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
             .add<nn::Flatten>().add<nn::Linear>(64 * 7 * 7, 10);
         return net;
       },
       Shape{4, 1, 28, 28}},
      {"mlp",
       [] {
         auto net = std::make_unique<nn::Sequential>();  // the series' MLP (examples/mlp_mnist.cpp)
         net->add<nn::Flatten>().add<nn::Linear>(28 * 28, 100).add<nn::Sigmoid>().add<nn::Linear>(100, 10);
         return net;
       },
       Shape{4, 1, 28, 28}},
      {"resnet",
       [] {  // the CIFAR-style ResNet-8 (resnet_fashion --stem-stride 1 --widths 16,32,64)
         return std::make_unique<nn::ResNet>(nn::ResNetOptions().widths({16, 32, 64}).blocks({1, 1, 1}));
       },
       Shape{4, 1, 28, 28}},
      {"every_operator",
       [] {  // each exported operator, with padding, ceil_mode and both divisors
         auto net = std::make_unique<nn::Sequential>();
         net->add<nn::Conv2d>(nn::Conv2dOptions(3, 8, 3).padding(1).stride(1).dilation(1))
             .add<nn::BatchNorm2d>(8)
             .add<nn::LeakyReLU>(0.2f)
             .add<nn::MaxPool2d>(nn::MaxPool2dOptions(3).stride(2).padding(1).ceil_mode(true))
             .add<nn::Conv2d>(nn::Conv2dOptions(8, 8, 3).padding(2).dilation(2).bias(false))
             .add<nn::Tanh>()
             .add<nn::AvgPool2d>(
                 nn::AvgPool2dOptions(3).stride(2).padding(1).ceil_mode(true).count_include_pad(false))
             .add<nn::Sigmoid>()
             .add<nn::AvgPool2d>(nn::AvgPool2dOptions(3).stride(1).padding(1).ceil_mode(true))
             .add<nn::AvgPool2d>(nn::AvgPool2dOptions(2).stride(1).padding(1).count_include_pad(false))
             .add<nn::AdaptiveAvgPool2d>(nn::Pair(2))
             .add<nn::Flatten>()
             .add<nn::Dropout>(0.3f)
             .add<nn::Linear>(8 * 2 * 2, 6)
             .add<nn::ReLU>()
             .add<nn::Linear>(6, 5)
             .add<nn::Softmax>();
         return net;
       },
       Shape{3, 3, 15, 15}},
      {"ceil_mode_pools",
       [] {  // PyTorch's ceil_mode: a dropped window that would start in the padding,
             // then extra windows that ONNX gets as end padding
         auto net = std::make_unique<nn::Sequential>();
         net->add<nn::MaxPool2d>(nn::MaxPool2dOptions(2).stride(2).padding(1).ceil_mode(true))
             .add<nn::MaxPool2d>(nn::MaxPool2dOptions(2).stride(2).ceil_mode(true))
             .add<nn::AvgPool2d>(nn::AvgPool2dOptions(2).stride(2).ceil_mode(true).count_include_pad(false))
             .add<nn::Flatten>()
             .add<nn::LogSoftmax>();
         return net;
       },
       Shape{2, 2, 9, 9}},
  };
}

int export_all(const std::string& dir) {
  for (const Fixture& f : fixtures()) {
    manual_seed(7);
    std::unique_ptr<nn::Layer> model = f.build();
    train_batch_norm_statistics(*model, f.input);
    const Tensor x = Tensor::randn(f.input, Device::cpu(), 42);
    const Tensor y = model->forward(x, nn::Mode::Eval);
    io::export_onnx(*model, f.input, dir + "/" + f.name + ".onnx");
    write_npy(dir + "/" + f.name + ".input.npy", x);
    write_npy(dir + "/" + f.name + ".output.npy", y);
    std::cout << f.name << ".onnx\n";
  }
  return 0;
}

int run(const std::string& model_path, const std::string& input, const std::string& output) {
  io::OnnxModel m = io::import_onnx(model_path);
  write_npy(output, m.model->forward(read_npy(input), nn::Mode::Eval));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (!io::onnx_available()) {
      std::cerr << "convnet was built without ONNX\n";
      return 77;
    }
    if (argc == 3 && std::strcmp(argv[1], "export") == 0) return export_all(argv[2]);
    if (argc == 5 && std::strcmp(argv[1], "run") == 0) return run(argv[2], argv[3], argv[4]);
    std::cerr << "usage: onnx_fixture export DIR | run MODEL.onnx INPUT.npy OUTPUT.npy\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "onnx_fixture: " << e.what() << "\n";
    return 1;
  }
}
