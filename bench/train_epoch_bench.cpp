// Images per second of one training epoch, for the comparison with PyTorch
// (scripts/bench_vs_pytorch.sh; bench/pytorch_train_epoch.py is the other side).
// Models: mnist_cnn's default CNN on MNIST, or resnet_fashion's default ResNet-8
// (no augmentation) on Fashion-MNIST. SGD(lr 0.01, Nesterov momentum 0.9), batch
// 64, no weight decay. The data set is normalised once and held in memory; a
// batch is a view of 64 consecutive images (no copy, no shuffle, no loader
// threads), so the input pipeline costs next to nothing on both sides.
//
//   build/bench/train_epoch_bench [--model cnn|resnet] [--backend cpu|onednn]
//       [--images 60000] [--threads N] [--warmup 5] [--batch 64] [--data DIR]
// Prints one line: train_epoch contender=convnet-<backend> model=... images_per_s=...
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "convnet/convnet.hpp"

using namespace convnet;

namespace {

std::unique_ptr<nn::Layer> build(const std::string& model) {
  if (model == "resnet")  // resnet_fashion's defaults
    return std::make_unique<nn::ResNet>(nn::ResNetOptions().widths({16, 32, 64}).blocks({1, 1, 1}));
  auto net = std::make_unique<nn::Sequential>();  // mnist_cnn's build_model
  net->add<nn::Conv2d>(nn::Conv2dOptions(1, 32, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(32, 64, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Flatten>().add<nn::Linear>(64 * 7 * 7, 10);
  return net;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "cnn", backend = "onednn", dir;
  int64_t images = 60000, batch = 64, warmup = 5;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model") model = value;
    else if (flag == "--backend") backend = value;
    else if (flag == "--images") images = std::atoll(value.c_str());
    else if (flag == "--batch") batch = std::atoll(value.c_str());
    else if (flag == "--warmup") warmup = std::atoll(value.c_str());
    else if (flag == "--threads") threads = std::atoi(value.c_str());
    else if (flag == "--data") dir = value;
    else {
      std::fprintf(stderr, "train_epoch_bench: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if ((model != "cnn" && model != "resnet") || images < 1 || batch < 1 || (argc - 1) % 2) {
    std::fprintf(stderr, "usage: train_epoch_bench [--model cnn|resnet] [--backend cpu|onednn] "
                         "[--images N] [--threads N] [--warmup STEPS] [--batch N] [--data DIR]\n");
    return 2;
  }
  // Read by the CPU backend's pool (and through it oneDNN's OpenMP team) at first use.
  if (threads > 0) setenv("CONVNET_NUM_THREADS", std::to_string(threads).c_str(), 1);
  else if (const char* env = std::getenv("CONVNET_NUM_THREADS")) threads = std::atoi(env);
  if (threads < 1) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  try {
    const bool fashion = model == "resnet";
    if (dir.empty()) dir = fashion ? data::default_fashion_mnist_dir() : data::default_mnist_dir();
    const data::Normalize& norm = fashion ? data::kFashionMnistNormalization : data::kMnistNormalization;
    const data::Dataset train = norm(data::load_mnist(dir, data::Split::Train).first(images));
    images = train.size();

    const Backend::Kind kind = parse_backend_kind(backend);
    manual_seed(1);
    std::unique_ptr<nn::Layer> net = build(model);
    net->set_backend(kind);
    net->set_input_grad(false);  // as Trainer::fit, and as PyTorch for data without requires_grad
    nn::CrossEntropyLoss loss;
    loss.set_backend(kind);
    nn::SGD sgd(net->parameters(), nn::SGDOptions(0.01f).momentum(0.9f).nesterov(true));
    sgd.set_backend(kind);

    double loss_sum = 0;
    const auto step = [&](int64_t begin) {
      const data::Dataset b = train.slice(begin, std::min(begin + batch, images));
      const float value = loss.forward(net->forward(b.images, nn::Mode::Train), b.labels).item();
      net->backward(loss.backward());
      sgd.step();
      sgd.zero_grad();
      return value;
    };
    // Untimed steps first: primitive creation, first-touch of buffers (PyTorch's
    // side warms up the same way).
    for (int64_t s = 0; s < warmup; ++s) step((s * batch) % images);
    const auto t0 = std::chrono::steady_clock::now();
    int64_t steps = 0;
    for (int64_t begin = 0; begin < images; begin += batch, ++steps) loss_sum += step(begin);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("train_epoch contender=convnet-%s model=%s threads=%d batch=%lld images=%lld "
                "seconds=%.3f images_per_s=%.1f mean_loss=%.4f\n",
                backend_name(kind), fashion ? "resnet8" : "mnist_cnn", threads,
                static_cast<long long>(batch), static_cast<long long>(images), seconds, images / seconds,
                loss_sum / static_cast<double>(steps));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_epoch_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
