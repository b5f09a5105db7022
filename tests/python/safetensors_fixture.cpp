// Writes checkpoints for tests/python/check_safetensors.py, which reads them with
// the Python `safetensors` package. Next to each file it writes the expected
// names, dtypes, shapes and metadata (expected.json) and the raw values
// (<file>.values.bin, plain fwrite in tensor order), so the check does not
// trust our own writer for the answer.
//
// Usage: safetensors_fixture OUT_DIR
//        safetensors_fixture --dump FILE   (prints what read_safetensors finds, as JSON,
//                                           conversions included, to check that we read
//                                           the package's files)
#include <cstdio>
#include <cstring>
#include <iostream>
#include <tuple>
#include <nlohmann/json.hpp>

#include "convnet/convnet.hpp"
#include "convnet/io/safetensors.hpp"

using namespace convnet;

namespace {

void write_values(const std::string& path, const io::NamedTensors& tensors) {
  std::FILE* out = std::fopen(path.c_str(), "wb");
  CONVNET_CHECK(out != nullptr, "cannot create ", path);
  for (const auto& entry : tensors) {
    const Tensor host = entry.second.to(Device::cpu());
    if (host.nbytes() != 0) std::fwrite(host.raw_data(), 1, host.nbytes(), out);
  }
  CONVNET_CHECK(std::fclose(out) == 0, "cannot write ", path);
}

nlohmann::json describe(const std::string& file, const io::NamedTensors& tensors,
                        const io::Metadata& metadata) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& [name, tensor] : tensors)
    entries.push_back({{"name", name},
                       {"dtype", tensor.dtype() == DType::F32 ? "float32" : "int32"},
                       {"shape", tensor.shape().dims()}});
  return {{"file", file}, {"values", file + ".values.bin"}, {"tensors", entries},
          {"metadata", metadata}};
}

// Every tensor's name, dtype, shape and values (and, for float32, the bit
// patterns, which JSON cannot spell for NaN and inf), the metadata, and the
// conversions read_safetensors made.
int dump(const std::string& path) {
  const io::SafetensorsFile file = io::read_safetensors(path);
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& [name, tensor] : file.tensors) {
    const bool f32 = tensor.dtype() == DType::F32;
    nlohmann::json entry = {{"name", name},
                            {"dtype", f32 ? "float32" : "int32"},
                            {"shape", tensor.shape().dims()},
                            {"values", f32 ? nlohmann::json(tensor.to_vector<float>())
                                           : nlohmann::json(tensor.to_vector<int32_t>())}};
    if (f32) {
      std::vector<uint32_t> bits(static_cast<size_t>(tensor.numel()));
      if (!bits.empty()) std::memcpy(bits.data(), tensor.raw_data(), tensor.nbytes());
      entry["bits"] = bits;
    }
    tensors.push_back(entry);
  }
  nlohmann::json conversions = nlohmann::json::array();
  for (const io::Conversion& c : file.conversions)
    conversions.push_back({{"name", c.name}, {"from", c.from}, {"to", dtype_name(c.to)},
                           {"overflowed", c.overflowed}});
  std::cout << nlohmann::json{{"tensors", tensors}, {"metadata", file.metadata},
                              {"conversions", conversions}}
                   .dump()
            << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--dump") {
    try {
      return dump(argv[2]);
    } catch (const std::exception& e) {
      std::cerr << "safetensors_fixture: " << e.what() << "\n";
      return 1;
    }
  }
  if (argc != 2) {
    std::cerr << "usage: safetensors_fixture OUT_DIR | --dump FILE\n";
    return 2;
  }
  const std::string dir = std::string(argv[1]) + "/";
  try {
    // The MNIST CNN of DESIGN.md, seeded.
    manual_seed(2024);
    nn::Sequential net;
    net.add<nn::Conv2d>(nn::Conv2dOptions(1, 32, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
        .add<nn::Conv2d>(nn::Conv2dOptions(32, 64, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
        .add<nn::Flatten>().add<nn::Linear>(64 * 7 * 7, 10);
    io::NamedTensors params;
    for (nn::Parameter* p : net.parameters()) params.emplace_back(p->name, p->value);
    const io::Metadata model_meta{{"model", "mnist_cnn"}, {"seed", "2024"}};
    io::save_safetensors(net, dir + "mnist_cnn.safetensors", model_meta);

    // Both dtypes, odd and empty shapes.
    const io::NamedTensors mixed{
        {"odd", Tensor::randn({3, 5, 7}, Device::cpu(), 7)},
        {"labels", Tensor::from_vector(std::vector<int32_t>{3, -1, 2147483647, 0}, {2, 2})},
        {"one", Tensor::full({1}, 0.25f)},
        {"empty", Tensor::zeros({0})},
        {"empty_i32", Tensor::zeros({2, 0}, Device::cpu(), DType::I32)}};
    io::write_safetensors(dir + "mixed.safetensors", mixed);

    // A forward pass, for the PyTorch comparison when torch is installed.
    const Tensor input = Tensor::randn({2, 1, 28, 28}, Device::cpu(), 5);
    const io::NamedTensors forward{{"input", input}, {"logits", net.forward(input, nn::Mode::Eval)}};
    io::write_safetensors(dir + "forward.safetensors", forward);

    nlohmann::json expected = nlohmann::json::array();
    for (const auto& [file, tensors, meta] :
         {std::tuple{"mnist_cnn.safetensors", params, model_meta},
          std::tuple{"mixed.safetensors", mixed, io::Metadata{}},
          std::tuple{"forward.safetensors", forward, io::Metadata{}}}) {
      write_values(dir + file + ".values.bin", tensors);
      expected.push_back(describe(file, tensors, meta));
    }
    std::FILE* out = std::fopen((dir + "expected.json").c_str(), "w");
    CONVNET_CHECK(out != nullptr, "cannot create ", dir, "expected.json");
    std::fputs(expected.dump(1).c_str(), out);
    std::fclose(out);
  } catch (const std::exception& e) {
    std::cerr << "safetensors_fixture: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
