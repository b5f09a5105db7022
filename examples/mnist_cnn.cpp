// mnist_cnn: the main job. The CNN of DESIGN.md's contract —
//   conv 5x5 (1->32) ReLU maxpool2, conv 5x5 (32->64) ReLU maxpool2, linear 3136->10 —
// trained on MNIST (or Fashion-MNIST) with SGD + momentum under a one-cycle
// learning-rate schedule, then evaluated on the 10,000 test images.
//
// Why these layers: a convolution shares one small filter across the image, so
// a 5x5 edge or stroke detector learned at one place works everywhere; pooling
// makes the result tolerant to small shifts; the final linear layer reads the
// 64 feature maps of 7x7 and scores the ten digits. Backpropagation is the same
// chain rule as in mlp_mnist, through convolutions instead of matrix products.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/training.hpp"
#include "common/mnist_data.hpp"
#include "common/pgm.hpp"
#include "common/report.hpp"
#include "convnet/convnet.hpp"
#include "convnet/data/dataloader.hpp"
#include "convnet/io/safetensors.hpp"
#include "convnet/train/trainer.hpp"

using namespace convnet;

namespace {

const char* kProgram = "mnist_cnn";

struct Flags {
  std::string backend = "auto", data, dataset = "mnist", save, load, predict, metrics, export_onnx, schedule = "onecycle";
  std::string tensorboard;  // a log directory
  bool tensorboard_histograms = false;
  int epochs = 3;
  int64_t batch_size = 64;
  float lr = 0.05f, momentum = 0.9f, weight_decay = 5e-4f;
  uint64_t seed = 1;
  bool eval_only = false, device_resident = false, allow_nonfinite = false;
};

void build_model(nn::Sequential& net) {
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 32, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Conv2d>(nn::Conv2dOptions(32, 64, 5).padding(2)).add<nn::ReLU>().add<nn::MaxPool2d>(2)
      .add<nn::Flatten>().add<nn::Linear>(64 * 7 * 7, 10);
}

// `pixels`: the --predict image as read_pgm returned it, [1, 1, 28, 28] in [0, 1].
// MNIST digits are white on black; an image drawn black on white must be inverted first.
void predict(nn::Sequential& net, const std::string& path, const Tensor& pixels, data::Normalization norm,
             Device device, Backend& backend) {
  Tensor image = norm(pixels);
  Tensor probs = ops::softmax_forward(backend, net.forward(image.to(device), nn::Mode::Eval));
  const std::vector<float> p = probs.to_vector<float>();
  int best = 0;
  for (int c = 1; c < 10; ++c)
    if (p[c] > p[best]) best = c;
  std::printf("prediction for %s: %d (probability %.4f)\n  probabilities:", path.c_str(), best, p[best]);
  for (int c = 0; c < 10; ++c) std::printf(" %d:%.3f", c, p[c]);
  std::printf("\n");
}

int run(const Flags& f) {
  const auto start = std::chrono::steady_clock::now();
  // Every file the command line names is checked before any data is read:
  // outputs must be writable, inputs readable and well-formed.
  examples::check_writable(kProgram, "--save", f.save);
  if (!f.save.empty()) examples::check_writable(kProgram, "--save", examples::optimizer_path(f.save));
  examples::check_writable(kProgram, "--metrics", f.metrics);
  examples::check_onnx_export(kProgram, f.export_onnx);
  examples::check_tensorboard_folder(kProgram, "--tensorboard", f.tensorboard);
  if (!f.load.empty()) examples::check_readable_file(kProgram, "--load", f.load);
  const Tensor image = f.predict.empty() ? Tensor() : examples::read_pgm(f.predict);
  const std::string dir = !f.data.empty() ? f.data
                          : f.dataset == "fashion" ? data::default_fashion_mnist_dir()
                                                   : data::default_mnist_dir();
  examples::check_data_folder(kProgram, dir);

  const Backend::Kind kind = examples::pick_backend(f.backend);
  Backend& backend = get_backend(kind);  // throws with the reason when unavailable
  const Device device = backend_device(kind);
  const bool fashion = f.dataset == "fashion";
  const data::Normalization norm = fashion ? data::kFashionMnistNormalization : data::kMnistNormalization;

  manual_seed(f.seed);
  nn::Sequential net;
  build_model(net);
  net.to(device);
  net.set_backend(kind);
  std::printf("%s\n", net.summary({f.batch_size, 1, 28, 28}, device).c_str());
  std::printf("backend: %s on %s, math %s%s\n", backend_name(kind), device.str().c_str(),
              math_mode_name(math_mode()), deterministic() ? ", deterministic" : "");
  if (kind == Backend::Kind::Cudnn) std::printf("%s\n", backend_library(kind).c_str());

  if (!f.load.empty()) {
    io::load_safetensors(net, f.load);
    std::printf("loaded %s\n", f.load.c_str());
  }
  nn::SGD optimizer(net.parameters(), nn::SGDOptions(f.lr)
                                          .momentum(f.momentum)
                                          .weight_decay(f.weight_decay)
                                          .nesterov(true));
  optimizer.set_backend(kind);
  if (!f.eval_only && !f.load.empty() && std::ifstream(examples::optimizer_path(f.load)).good()) {
    io::load_optimizer(optimizer, examples::optimizer_path(f.load));
    std::printf("loaded %s\n", examples::optimizer_path(f.load).c_str());
  }
  if (!f.predict.empty() && f.eval_only) {
    predict(net, f.predict, image, norm, device, backend);
    return 0;
  }

  const data::Dataset test_set = examples::load_mnist(dir, data::Split::Test);
  data::DataLoaderOptions test_options;
  test_options.batch_size = 500;
  test_options.shuffle = false;
  test_options.normalization = norm;
  test_options.device = device;
  test_options.device_resident = f.device_resident && device.is_cuda();
  data::DataLoader test_loader(test_set, test_options);

  nn::CrossEntropyLoss loss;
  loss.set_backend(kind);

  if (!f.eval_only) {
    const data::Dataset train_set = examples::load_mnist(dir, data::Split::Train);
    std::printf("data: %s, %lld training and %lld test images\n", dir.c_str(),
                static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()));
    data::DataLoaderOptions train_options = test_options;
    train_options.batch_size = f.batch_size;
    train_options.shuffle = true;
    train_options.seed = f.seed;
    data::DataLoader train_loader(train_set, train_options);

    const int64_t total_steps = f.epochs * train_loader.batches_per_epoch();
    auto schedule = train::make_schedule(f.schedule, f.lr, total_steps, train_loader.batches_per_epoch());
    std::printf("optimizer: SGD(momentum=%g, nesterov, weight_decay=%g), %s, batch %lld, %d epochs\n",
                f.momentum, f.weight_decay, schedule->name().c_str(),
                static_cast<long long>(f.batch_size), f.epochs);
    train::TrainerOptions options;
    options.epochs = f.epochs;
    options.metrics_csv = f.metrics;
    options.tensorboard_dir = f.tensorboard;
    options.tensorboard_histograms = f.tensorboard_histograms;
    options.allow_nonfinite = f.allow_nonfinite;
    train::Trainer trainer(net, loss, optimizer, *schedule, options);
    const int64_t batches = train_loader.batches_per_epoch();
    trainer.on_epoch_end = [batches](const train::EpochMetrics& m) {
      std::printf("epoch %lld: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | %.1f s, %.0f img/s\n",
                  static_cast<long long>(m.epoch), m.train_loss, 100 * m.train_accuracy, m.test_loss,
                  100 * m.test_accuracy, m.seconds, m.images_per_second);
      std::fflush(stdout);
      if (m.nonfinite_steps > 0)
        std::fprintf(stderr, "%s: warning: %lld of %lld steps of epoch %lld had a non-finite loss "
                     "(trained on: --allow-nonfinite)\n", kProgram, static_cast<long long>(m.nonfinite_steps),
                     static_cast<long long>(batches), static_cast<long long>(m.epoch));
    };
    trainer.fit(train_loader, &test_loader);
    if (!f.save.empty()) {
      io::save_safetensors(net, f.save, {{"model", "mnist_cnn"}, {"dataset", f.dataset}});
      io::save_optimizer(optimizer, examples::optimizer_path(f.save));
      std::printf("saved %s and %s\n", f.save.c_str(), examples::optimizer_path(f.save).c_str());
    }
  }

  const train::EvalResult result = train::evaluate(net, test_loader, 10, train::Confusion::Compute);
  std::printf("\nconfusion matrix (rows: true class, columns: predicted)\n%s\n",
              train::format_confusion(result).c_str());
  if (!f.export_onnx.empty()) {
    io::export_onnx(net, Shape{1, 1, 28, 28}, f.export_onnx);
    std::printf("exported %s (ONNX opset %lld, input [N, 1, 28, 28] normalised as for training)\n",
                f.export_onnx.c_str(), static_cast<long long>(io::kOnnxOpset));
  }
  if (!f.predict.empty()) predict(net, f.predict, image, norm, device, backend);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("test accuracy: %.2f%% (%lld images), test loss %.4f, backend %s, wall time %.1f s\n",
              100 * result.accuracy, static_cast<long long>(result.samples), result.loss,
              backend_name(kind), seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using examples::number_in;
  CLI::App app{"Train the convnet MNIST CNN and report its test accuracy"};
  Flags f;
  app.add_option("--backend", f.backend, "auto (best present: cudnn, cuda, onednn, cpu), cpu (the reference), onednn, cuda or cudnn")
      ->check(examples::one_of({"auto", "cpu", "onednn", "cuda", "cudnn"}));
  app.add_option("--epochs", f.epochs, "passes over the 60,000 training images; 0 trains nothing and "
                                       "evaluates the --load checkpoint, like --eval-only")
      ->transform(number_in<int>(0));
  app.add_option("--batch-size", f.batch_size, "images per step")->transform(number_in<int64_t>(1, 65536));
  app.add_option("--lr", f.lr, "peak learning rate of the schedule")->transform(examples::positive<float>());
  app.add_option("--momentum", f.momentum, "SGD momentum (Nesterov, so above 0)")
      ->transform(number_in<float>(0.f, 0.999f, examples::Lower::Exclusive));
  app.add_option("--weight-decay", f.weight_decay, "L2 weight decay")->transform(number_in<float>(0.f, 1.f));
  app.add_option("--schedule", f.schedule, "constant, step, cosine or onecycle")
      ->check(examples::one_of({"constant", "step", "cosine", "onecycle"}));
  app.add_option("--seed", f.seed, "seed for initialisation and shuffling")->transform(number_in<uint64_t>(0));
  app.add_option("--data", f.data, "directory with the four IDX files (default data/mnist, or "
                                    "/usr/share/datasets/fashion-mnist for --dataset fashion)")
      ->check(examples::kNonEmptyPath);
  app.add_option("--dataset", f.dataset, "mnist or fashion")->check(examples::one_of({"mnist", "fashion"}));
  app.add_option("--save", f.save, "write the trained model (safetensors) and its optimizer state")
      ->check(examples::kNonEmptyPath);
  app.add_option("--load", f.load, "start from this safetensors checkpoint (and its optimizer state "
                                    "beside it, when present)")
      ->check(examples::kNonEmptyPath);
  app.add_flag("--eval-only", f.eval_only, "only evaluate the --load checkpoint on the test set");
  app.add_option("--predict", f.predict, "classify a 28x28 PGM image (white digit on black)")
      ->check(examples::kNonEmptyPath);
  app.add_option("--metrics", f.metrics, "write per-epoch metrics to this CSV file")
      ->check(examples::kNonEmptyPath);
  app.add_option("--export-onnx", f.export_onnx, "write the model as ONNX (opset 13, batch dimension "
                                                 "dynamic) for onnxruntime, TensorRT, OpenVINO")
      ->check(examples::kNonEmptyPath);
  CLI::Option* tensorboard =
      app.add_option("--tensorboard", f.tensorboard, "write TensorBoard logs (loss, accuracy, learning rate, "
                                                     "images/s, the first layer's filters) to this folder")
          ->check(examples::kNonEmptyPath);
  app.add_flag("--tensorboard-histograms", f.tensorboard_histograms,
               "with --tensorboard, also a histogram of every parameter each epoch")
      ->needs(tensorboard);
  app.add_flag("--device-resident", f.device_resident, "keep the whole data set on the GPU");
  app.add_flag("--allow-nonfinite", f.allow_nonfinite,
               "train on when a step's loss is NaN or infinite (by default training stops with an error "
               "naming the epoch and the step)");
  if (const auto exit_code = examples::parse(app, argc, argv)) return *exit_code;

  // Combinations no single flag's check can see, refused before anything is read.
  const auto refuse = [](const std::string& message) { return examples::usage_error(kProgram, message); };
  if (f.eval_only && app.count("--epochs") > 0 && f.epochs > 0)
    return refuse("--eval-only trains nothing, but --epochs " + std::to_string(f.epochs) +
                  " asks for training; give one of them");
  if (f.epochs == 0 && f.load.empty())
    return refuse("--epochs 0 trains nothing and evaluates a saved model: it needs --load CHECKPOINT");
  if (f.eval_only && f.load.empty()) return refuse("--eval-only needs --load CHECKPOINT");
  f.eval_only = f.eval_only || f.epochs == 0;
  if (f.eval_only && !f.save.empty())
    return refuse("--save: nothing is trained with --eval-only or --epochs 0, so there is nothing new to save");
  if (f.eval_only && !f.metrics.empty())
    return refuse("--metrics: --eval-only and --epochs 0 run no epochs to write metrics for");
  if (f.eval_only && !f.tensorboard.empty())
    return refuse("--tensorboard: --eval-only and --epochs 0 run no epochs to log");
  return examples::run_reporting_errors(kProgram, [&] { return run(f); });
}
