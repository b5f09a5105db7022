// Where one CPU training step of the ResNet goes: every Backend operation the
// step of nn::ResNet (resnet_fashion's model) calls, timed on its own at the
// step's shapes (median of --reps calls), grouped by operation, next to the
// whole step (forward, cross-entropy, backward, SGD with momentum) timed as
// the Trainer runs it. The sum of the parts and the whole agree when nothing
// is missing; the table says which operation is the first target.
//
//   build/bench/resnet_step_profile [--backend cpu|onednn] [--batch 128] [--reps 5]
//                                   [--widths 16,32,64] [--blocks 3,3,3]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"

using namespace convnet;

namespace {

double median_ms(int reps, const std::function<void()>& f) {
  f();  // warm-up: first-touch allocations, BLAS buffers
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::vector<int64_t> parse_list(const char* text) {
  std::vector<int64_t> out;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) out.push_back(std::stoll(item));
  return out;
}

struct Row {
  std::string group, what;
  int calls;
  double ms_per_call;
};

}  // namespace

int main(int argc, char** argv) {
  int64_t batch = 128;
  int reps = 5;
  std::vector<int64_t> widths = {16, 32, 64}, blocks = {3, 3, 3};
  Backend::Kind kind = Backend::Kind::Cpu;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--batch") batch = std::atoll(argv[i + 1]);
    else if (flag == "--reps") reps = std::atoi(argv[i + 1]);
    else if (flag == "--widths") widths = parse_list(argv[i + 1]);
    else if (flag == "--blocks") blocks = parse_list(argv[i + 1]);
    else if (flag == "--backend") kind = parse_backend_kind(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  Backend& be = get_backend(kind);
  std::vector<Row> rows;
  std::map<std::string, Tensor> cache;
  const auto randn = [](const Shape& s, uint64_t seed) { return Tensor::randn(s, Device::cpu(), seed); };

  // One 3x3 (or 1x1) convolution without bias: forward, backward data, backward filter.
  const auto conv = [&](const std::string& what, int64_t c, int64_t k, int64_t hw, int kernel, int stride,
                        int calls) {
    Conv2dParams p;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = kernel / 2;
    const Tensor x = randn({batch, c, hw, hw}, 1), w = randn({k, c, kernel, kernel}, 2);
    const Tensor y = ops::conv2d_forward(be, x, w, nullptr, p);
    Tensor dw = Tensor::zeros(w.shape());
    rows.push_back({"conv forward", what, calls, median_ms(reps, [&] { ops::conv2d_forward(be, x, w, nullptr, p); })});
    rows.push_back({"conv backward data", what, calls,
                    median_ms(reps, [&] { ops::conv2d_backward_data(be, y, w, x.shape(), p); })});
    rows.push_back({"conv backward filter", what, calls,
                    median_ms(reps, [&] { ops::conv2d_backward_filter(be, x, y, p, dw, true); })});
  };
  // BatchNorm (training): forward (ReLU fused or not) and backward (after ReLU's).
  const auto bn = [&](const std::string& what, int64_t c, int64_t hw, bool relu, int calls) {
    const Tensor x = randn({batch, c, hw, hw}, 3), w = Tensor::ones({c}), b = Tensor::zeros({c});
    Tensor rm = Tensor::zeros({c}), rv = Tensor::ones({c}), dw = Tensor::zeros({c}), db = Tensor::zeros({c});
    ops::BatchNormSaved saved;
    const Tensor y = ops::batch_norm_forward_train(be, x, &w, &b, &rm, &rv, 0.1f, 1e-5f, relu, saved);
    rows.push_back({"batchnorm forward", what, calls, median_ms(reps, [&] {
                      ops::BatchNormSaved s;
                      ops::batch_norm_forward_train(be, x, &w, &b, &rm, &rv, 0.1f, 1e-5f, relu, s);
                    })});
    rows.push_back({"batchnorm backward", what, calls, median_ms(reps, [&] {
                      ops::batch_norm_backward(be, x, x, &w, saved, &dw, &db, true);
                    })});
    if (relu)
      rows.push_back({"relu backward", what, calls, median_ms(reps, [&] {
                        ops::activation_backward(be, Activation::ReLU, 0.f, y, y, x);
                      })});
  };
  // The block's tail: out + identity, ReLU; backward: ReLU's gradient, and the
  // two paths' input gradients added.
  const auto add_relu = [&](const std::string& what, int64_t c, int64_t hw, int calls) {
    const Tensor a = randn({batch, c, hw, hw}, 4), b = randn({batch, c, hw, hw}, 5);
    rows.push_back({"add", what + " (forward + backward)", 2 * calls,
                    median_ms(reps, [&] { ops::add(be, a, b); })});
    rows.push_back({"relu forward", what, calls,
                    median_ms(reps, [&] { ops::activation_forward(be, Activation::ReLU, 0.f, a); })});
    rows.push_back({"relu backward", what, calls, median_ms(reps, [&] {
                      ops::activation_backward(be, Activation::ReLU, 0.f, a, a, b);
                    })});
  };

  const int64_t hw0 = 28;
  conv("stem 1->" + std::to_string(widths[0]) + " @28", 1, widths[0], hw0, 3, 1, 1);
  bn("stem bn+relu", widths[0], hw0, true, 1);
  int64_t in = widths[0], hw = hw0;
  for (size_t k = 0; k < widths.size(); ++k) {
    const int64_t w = widths[k];
    const std::string stage = "layer" + std::to_string(k + 1);
    if (k > 0) {  // the first block: stride 2 and a downsample
      conv(stage + ".0.conv1 " + std::to_string(in) + "->" + std::to_string(w) + " s2", in, w, hw, 3, 2, 1);
      hw = (hw + 1) / 2;
      conv(stage + ".0.downsample 1x1 s2", in, w, hw * 2, 1, 2, 1);
      bn(stage + ".0.downsample bn", w, hw, false, 1);
      conv(stage + ".0.conv2", w, w, hw, 3, 1, 1);
    }
    const int plain_blocks = static_cast<int>(blocks[k]) - (k > 0 ? 1 : 0);
    if (plain_blocks > 0)
      conv(stage + " conv " + std::to_string(w) + "->" + std::to_string(w) + " @" + std::to_string(hw), w, w,
           hw, 3, 1, 2 * plain_blocks);
    bn(stage + " bn1+relu @" + std::to_string(hw), w, hw, true, static_cast<int>(blocks[k]));
    bn(stage + " bn2 @" + std::to_string(hw), w, hw, false, static_cast<int>(blocks[k]));
    add_relu(stage + " @" + std::to_string(hw), w, hw, static_cast<int>(blocks[k]));
    in = w;
  }
  {
    const Tensor x = randn({batch, in, hw, hw}, 6);
    const Tensor y = ops::adaptive_avg_pool2d_forward(be, x, 1, 1);
    rows.push_back({"avgpool", "forward", 1, median_ms(reps, [&] { ops::adaptive_avg_pool2d_forward(be, x, 1, 1); })});
    rows.push_back({"avgpool", "backward", 1, median_ms(reps, [&] { ops::adaptive_avg_pool2d_backward(be, y, x.shape()); })});
    const Tensor f = randn({batch, in}, 7), w = randn({10, in}, 8), b = randn({10}, 9);
    const Tensor logits = ops::linear_forward(be, f, w, &b);
    Tensor dw = Tensor::zeros(w.shape()), db = Tensor::zeros({10});
    rows.push_back({"linear + loss", "fc forward, backward data/weight/bias", 1, median_ms(reps, [&] {
                      ops::linear_forward(be, f, w, &b);
                      ops::linear_backward_data(be, logits, w);
                      ops::linear_backward_weight(be, f, logits, dw, true);
                      ops::bias_backward(be, logits, db, true);
                    })});
    std::vector<int32_t> label_values(static_cast<size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) label_values[i] = static_cast<int32_t>(i % 10);
    const Tensor labels = Tensor::from_vector(label_values, {batch});
    Tensor probs;
    rows.push_back({"linear + loss", "cross-entropy forward + backward", 1, median_ms(reps, [&] {
                      ops::softmax_cross_entropy_forward(be, logits, labels, probs);
                      ops::softmax_cross_entropy_backward(be, probs, labels);
                    })});
  }

  // The whole step, as the Trainer runs it.
  manual_seed(1);
  nn::ResNet net(nn::ResNetOptions().widths(widths).blocks(blocks));
  net.set_backend(kind);
  nn::CrossEntropyLoss loss;
  loss.set_backend(kind);
  nn::SGD sgd(net.parameters(), nn::SGDOptions(0.05f).momentum(0.9f).nesterov(true).weight_decay(5e-4f));
  sgd.set_backend(kind);
  {
    double sgd_ms = median_ms(reps, [&] { sgd.step(); });
    rows.push_back({"sgd step", std::to_string(net.parameter_count()) + " parameters", 1, sgd_ms});
  }
  const Tensor x = randn({batch, 1, 28, 28}, 10);
  std::vector<int32_t> label_values(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) label_values[i] = static_cast<int32_t>((i * 7) % 10);
  const Tensor labels = Tensor::from_vector(label_values, {batch});
  const double step_ms = median_ms(reps, [&] {
    sgd.zero_grad();
    const Tensor logits = net.forward(x, nn::Mode::Train);
    loss.forward(logits, labels);
    net.backward(loss.backward());
    sgd.step();
  });

  std::map<std::string, double> by_group;
  double total = 0;
  std::printf("%-22s %-44s %5s %10s %10s\n", "operation", "where", "calls", "ms/call", "ms/step");
  for (const Row& r : rows) {
    const double ms = r.calls * r.ms_per_call;
    by_group[r.group] += ms;
    total += ms;
    std::printf("%-22s %-44s %5d %10.3f %10.2f\n", r.group.c_str(), r.what.c_str(), r.calls, r.ms_per_call, ms);
  }
  std::vector<std::pair<double, std::string>> sorted;
  for (const auto& [g, ms] : by_group) sorted.emplace_back(ms, g);
  std::sort(sorted.rbegin(), sorted.rend());
  std::printf("\nby operation (batch %lld, backend %s):\n", static_cast<long long>(batch),
              backend_name(kind));
  for (const auto& [ms, g] : sorted) std::printf("  %-22s %9.1f ms  %5.1f%%\n", g.c_str(), ms, 100 * ms / total);
  std::printf("  %-22s %9.1f ms\n", "sum of the parts", total);
  std::printf("  %-22s %9.1f ms  (nn::ResNet forward + loss + backward + SGD, median of %d)\n",
              "whole step", step_ms, reps);
  return 0;
}
