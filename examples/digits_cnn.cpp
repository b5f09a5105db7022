// digits_cnn: a small CNN on scikit-learn's 8x8 handwritten digits (1,797 images,
// Debian's python3-sklearn ships them), trained on the CPU backend in seconds.
// It is the quick end-to-end demo: data in (a CSV read into a TensorDataset,
// batched by the DataLoader), layers, loss, optimizer, accuracy out, with the
// training loop written out step by step.
#include <CLI/CLI.hpp>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/report.hpp"
#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/data/dataset.hpp"
#include "convnet/train/trainer.hpp"

using namespace convnet;

namespace {

const char* kDefaultDigits = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
constexpr int64_t kTestSamples = 300;

struct DigitsFile {
  std::vector<float> images;  // [n, 1, 8, 8], scaled to [0, 1]
  std::vector<int32_t> labels;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// One CSV field as a number; false when it is not one (or not finite).
bool parse_number(const std::string& field, double& value) {
  const char* begin = field.c_str();
  char* end = nullptr;
  value = std::strtod(begin, &end);
  if (end == begin) return false;
  while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') ++end;
  return *end == '\0' && std::isfinite(value);
}

// Each line: 64 pixel values in 0..16, then the label 0..9. gzip or plain text.
DigitsFile read_digits(const std::string& path) {
  std::error_code ec;
  CONVNET_CHECK(std::filesystem::exists(path, ec), "digits_cnn: ", path,
                ": no such file (install Debian's python3-sklearn, or pass --data PATH)");
  CONVNET_CHECK(std::filesystem::is_regular_file(path, ec), "digits_cnn: ", path, ": is not a regular file");
  gzFile file = gzopen(path.c_str(), "rb");
  CONVNET_CHECK(file != nullptr, "digits_cnn: cannot open ", path, ": ", std::strerror(errno));
  // Closes the file on every way out, the errors below included.
  const std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(file, gzclose);
  DigitsFile data;
  char buffer[4096];
  int line_number = 0;
  for (;;) {
    // A line may be longer than the buffer: read until its newline.
    std::string line;
    while (gzgets(file, buffer, sizeof buffer) != nullptr) {
      line += buffer;
      if (!line.empty() && line.back() == '\n') break;
    }
    int error = Z_OK;
    const char* message = gzerror(file, &error);
    // zlib reports a stream cut short as Z_BUF_ERROR, a bad checksum as Z_DATA_ERROR.
    CONVNET_CHECK(error == Z_OK, "digits_cnn: ", path, ": corrupt or truncated gzip data after line ",
                  line_number, " (", message, ")");
    if (line.empty()) break;
    ++line_number;
    if (line.find_first_not_of(" \r\n") == std::string::npos) continue;
    std::stringstream fields(line);
    std::string field;
    std::vector<double> values;
    while (std::getline(fields, field, ',')) {
      double value = 0;
      CONVNET_CHECK(parse_number(field, value), "digits_cnn: ", path, " line ", line_number, " field ",
                    values.size() + 1, " is \"", field.substr(0, 20), "\", not a number");
      values.push_back(value);
    }
    CONVNET_CHECK(values.size() == 65, "digits_cnn: ", path, " line ", line_number, " has ", values.size(),
                  " fields, expected 65 (64 pixels and a label)");
    for (int i = 0; i < 64; ++i) {
      CONVNET_CHECK(values[i] >= 0 && values[i] <= 16, "digits_cnn: ", path, " line ", line_number, " pixel ",
                    i + 1, " is ", values[i], ", outside 0..16");
      data.images.push_back(static_cast<float>(values[i] / 16));
    }
    const double label = values[64];
    CONVNET_CHECK(label == std::floor(label) && label >= 0 && label <= 9, "digits_cnn: ", path, " line ",
                  line_number, " has label ", label, ", expected a digit 0..9");
    data.labels.push_back(static_cast<int32_t>(label));
  }
  // 300 samples are held out for testing; training needs at least one more.
  CONVNET_CHECK(data.size() > kTestSamples, "digits_cnn: ", path, " holds ", data.size(), " samples; ",
                kTestSamples, " are held out for testing, so at least ", kTestSamples + 1, " are needed");
  return data;
}

// The samples in a seeded random order, as a TensorDataset of images
// [n, 1, 8, 8]: its first 300 are the test set, the rest train.
data::TensorDataset shuffled(const DigitsFile& file, uint64_t seed) {
  const int64_t n = file.size();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const std::vector<float> keys = Tensor::rand({n}, Device::cpu(), seed).to_vector<float>();
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  std::vector<float> images(file.images.size());
  std::vector<int32_t> labels(file.labels.size());
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(file.images.begin() + order[i] * 64, 64, images.begin() + i * 64);
    labels[i] = file.labels[order[i]];
  }
  return data::TensorDataset(Tensor::from_vector(images, {n, 1, 8, 8}),
                             Tensor::from_vector(labels, {n}));
}

}  // namespace

int main(int argc, char** argv) {
  using examples::number_in;
  const char* program = "digits_cnn";
  CLI::App app{"Train a small CNN on scikit-learn's 8x8 digits with convnet"};
  std::string data_path = kDefaultDigits, backend_name = "cpu";
  int epochs = 30, batch_size = 32;
  float lr = 0.05f;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "digits.csv.gz (from python3-sklearn), gzip or plain CSV")
      ->check(examples::kNonEmptyPath);
  app.add_option("--backend", backend_name, "cpu, onednn, cuda or cudnn")
      ->check(examples::one_of({"cpu", "onednn", "cuda", "cudnn"}));
  app.add_option("--epochs", epochs, "passes over the training set")->transform(examples::positive<int>());
  app.add_option("--batch-size", batch_size, "samples per step")->transform(number_in<int>(1, 65536));
  app.add_option("--lr", lr, "SGD learning rate (momentum 0.9)")->transform(examples::positive<float>());
  app.add_option("--seed", seed, "seed for initialisation and shuffling")->transform(number_in<uint64_t>(0));
  if (const auto exit_code = examples::parse(app, argc, argv)) return *exit_code;

  return examples::run_reporting_errors(program, [&] {
    const auto start = std::chrono::steady_clock::now();
    const Backend::Kind kind = parse_backend_kind(backend_name);
    const Device device = backend_device(kind);
    get_backend(kind);  // fails here, with the reason, when that backend cannot run

    // Seeded split: 300 held-out test images, the rest for training.
    manual_seed(seed);
    const data::TensorDataset all = shuffled(read_digits(data_path), next_seed());
    const data::Dataset test_set = all.first(kTestSamples);
    const data::Dataset train_set = all.slice(kTestSamples, all.size());

    data::DataLoaderOptions loader_options;  // pixels stay in [0, 1]: no normalisation
    loader_options.batch_size = batch_size;
    loader_options.seed = seed;             // a new order every epoch, seeded
    loader_options.device = device;
    data::DataLoader train_loader(train_set, loader_options);
    loader_options.shuffle = false;
    loader_options.batch_size = 256;
    data::DataLoader train_eval_loader(train_set, loader_options);
    data::DataLoader test_loader(test_set, loader_options);

    nn::Sequential net;
    net.add<nn::Conv2d>(nn::Conv2dOptions(1, 16, 3).padding(1)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
        .add<nn::Conv2d>(nn::Conv2dOptions(16, 32, 3).padding(1)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
        .add<nn::Flatten>().add<nn::Linear>(32 * 2 * 2, 10);
    net.to(device);
    net.set_backend(kind);
    std::printf("%s\n", net.summary({batch_size, 1, 8, 8}, device).c_str());
    std::printf("data: %s — %lld training and %lld test images\n", data_path.c_str(),
                static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()));

    nn::CrossEntropyLoss loss;
    loss.set_backend(kind);
    nn::SGD opt(net.parameters(), nn::SGDOptions(lr).momentum(0.9f));
    opt.set_backend(kind);
    const auto accuracy = [&](data::DataLoader& loader) {
      return 100.0 * train::evaluate(net, loader).accuracy;
    };
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      double loss_sum = 0;
      int batches = 0;
      train_loader.start_epoch(epoch - 1);
      data::Batch batch;
      while (train_loader.next(batch)) {
        Tensor l = loss.forward(net.forward(batch.images, nn::Mode::Train), batch.labels);
        net.backward(loss.backward());
        opt.step();
        opt.zero_grad();
        const float step_loss = l.item();  // host read for the log line
        ++batches;
        CONVNET_CHECK(std::isfinite(step_loss), "the training loss is ", step_loss, " at epoch ", epoch,
                      ", step ", batches, " (learning rate ", lr, "); lower --lr");
        loss_sum += step_loss;
      }
      if (epoch == 1 || epoch % 5 == 0 || epoch == epochs)
        std::printf("epoch %2d  loss %.4f  train acc %.2f%%  test acc %.2f%%\n", epoch, loss_sum / batches,
                    accuracy(train_eval_loader), accuracy(test_loader));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("test accuracy %.2f%% on %lld held-out digits, backend %s, %.1f s\n",
                accuracy(test_loader), static_cast<long long>(test_set.size()), backend_name.c_str(), seconds);
    return 0;
  });
}
