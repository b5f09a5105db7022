// Every convolution of the MNIST CNN and of ResNet-8 (batch 64), forward,
// backward data and backward filter, two ways:
//   convnet: ops:: through the onednn backend on plain NCHW/OIHW tensors, as a
//            layer calls it (reorders to blocked layouts, output allocation,
//            backward filter accumulating into the gradient, all included);
//   direct:  oneDNN the way benchdnn times it: the primitive made once with
//            `any` layouts, its operands already in the layouts it chose, only
//            execute() + wait timed.
// The ratio is convnet's overhead around the same kernel (issue 19 asks for
// within 10%). The two are timed alternately, call by call, so a load change on
// a shared machine hits both; each cell is the median of --reps.
//
//   build/bench/onednn_conv_direct_bench [--reps 20] [--threads N] [--batch 64]
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "convnet/convnet.hpp"

using namespace convnet;
using dnnl::memory;

namespace {

struct ConvLayer {
  const char* name;
  int64_t in, out, hw;
  int kernel, stride, pad;
  bool bias;
};

// mnist_cnn's two convolutions, then resnet_fashion's default ResNet-8
// (layer1.0's two convolutions share one shape).
const ConvLayer kLayers[] = {
    {"cnn.conv1 1->32 5x5 @28", 1, 32, 28, 5, 1, 2, true},
    {"cnn.conv2 32->64 5x5 @14", 32, 64, 14, 5, 1, 2, true},
    {"resnet.conv1 1->16 3x3 @28", 1, 16, 28, 3, 1, 1, false},
    {"resnet.layer1 16->16 3x3 @28", 16, 16, 28, 3, 1, 1, false},
    {"resnet.layer2.conv1 16->32 s2", 16, 32, 28, 3, 2, 1, false},
    {"resnet.layer2.down 16->32 1x1 s2", 16, 32, 28, 1, 2, 0, false},
    {"resnet.layer2.conv2 32->32 @14", 32, 32, 14, 3, 1, 1, false},
    {"resnet.layer3.conv1 32->64 s2", 32, 64, 14, 3, 2, 1, false},
    {"resnet.layer3.down 32->64 1x1 s2", 32, 64, 14, 1, 2, 0, false},
    {"resnet.layer3.conv2 64->64 @7", 64, 64, 7, 3, 1, 1, false},
};

double ms_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One oneDNN primitive with its operands allocated in the layouts it asked for.
struct Direct {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
  std::string impl;
};

// A memory of `md` holding small pseudo-random values (the values do not
// matter to the timing, as long as none is denormal).
memory filled(const memory::desc& md, const dnnl::engine& eng, dnnl::stream& s) {
  memory m(md, eng);
  const memory::dims dims = md.dims();
  memory::dims strides(dims.size(), 1);
  for (int i = int(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
  memory plain({dims, memory::data_type::f32, strides}, eng);
  float* p = static_cast<float*>(plain.get_data_handle());
  uint32_t state = 12345;
  for (size_t i = 0; i < plain.get_desc().get_size() / sizeof(float); ++i) {
    state = state * 1664525u + 1013904223u;
    p[i] = float(state >> 8) / float(1 << 24) - 0.5f;
  }
  dnnl::reorder(plain, m).execute(s, plain, m);
  s.wait();
  return m;
}

enum class Dir { Forward, BackwardData, BackwardFilter };

Direct make_direct(const ConvLayer& l, int64_t batch, Dir dir, const dnnl::engine& eng, dnnl::stream& s) {
  using dt = memory::data_type;
  const int64_t o = (l.hw + 2 * l.pad - l.kernel) / l.stride + 1;
  const memory::dims src{batch, l.in, l.hw, l.hw}, wei{l.out, l.in, l.kernel, l.kernel},
      dst{batch, l.out, o, o}, strides{l.stride, l.stride}, dil{0, 0}, pad{l.pad, l.pad};
  // Right padding as convnet computes it (whatever gives its output size), so both make the same primitive.
  const int64_t right = (o - 1) * l.stride + l.kernel - l.hw - l.pad;
  const memory::dims pad_r{right, right};
  const auto any = [](const memory::dims& d) { return memory::desc(d, dt::f32, memory::format_tag::any); };
  const memory::desc bias_md({l.out}, dt::f32, memory::format_tag::a);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const bool bias = l.bias && dir == Dir::Forward;  // convnet's backward filter has no bias either
  const auto fwd_desc = bias ? dnnl::convolution_forward::desc(
                                   dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                   any(src), any(wei), bias_md, any(dst), strides, dil, pad, pad_r)
                             : dnnl::convolution_forward::desc(
                                   dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                   any(src), any(wei), any(dst), strides, dil, pad, pad_r);
  const dnnl::convolution_forward::primitive_desc fwd(fwd_desc, attr, eng);
  Direct d;
  if (dir == Dir::Forward) {
    d.prim = dnnl::convolution_forward(fwd);
    d.impl = fwd.impl_info_str();
    d.args = {{DNNL_ARG_SRC, filled(fwd.src_desc(), eng, s)}, {DNNL_ARG_WEIGHTS, filled(fwd.weights_desc(), eng, s)},
              {DNNL_ARG_DST, memory(fwd.dst_desc(), eng)}, {DNNL_ARG_SCRATCHPAD, memory(fwd.scratchpad_desc(), eng)}};
    if (bias) d.args.emplace(DNNL_ARG_BIAS, filled(bias_md, eng, s));
  } else if (dir == Dir::BackwardData) {
    const dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, any(src), any(wei),
                                                     any(dst), strides, dil, pad, pad_r);
    const dnnl::convolution_backward_data::primitive_desc pd(desc, attr, eng, fwd);
    d.prim = dnnl::convolution_backward_data(pd);
    d.impl = pd.impl_info_str();
    d.args = {{DNNL_ARG_DIFF_DST, filled(pd.diff_dst_desc(), eng, s)},
              {DNNL_ARG_WEIGHTS, filled(pd.weights_desc(), eng, s)},
              {DNNL_ARG_DIFF_SRC, memory(pd.diff_src_desc(), eng)},
              {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), eng)}};
  } else {
    const dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, any(src), any(wei),
                                                        any(dst), strides, dil, pad, pad_r);
    const dnnl::convolution_backward_weights::primitive_desc pd(desc, attr, eng, fwd);
    d.prim = dnnl::convolution_backward_weights(pd);
    d.impl = pd.impl_info_str();
    d.args = {{DNNL_ARG_SRC, filled(pd.src_desc(), eng, s)},
              {DNNL_ARG_DIFF_DST, filled(pd.diff_dst_desc(), eng, s)},
              {DNNL_ARG_DIFF_WEIGHTS, memory(pd.diff_weights_desc(), eng)},
              {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), eng)}};
  }
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 20, threads = 0;
  int64_t batch = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--batch") batch = std::atoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: onednn_conv_direct_bench [--reps N] [--threads N] [--batch N]\n");
      return 2;
    }
  }
  if (threads > 0) setenv("CONVNET_NUM_THREADS", std::to_string(threads).c_str(), 1);
  else if (const char* env = std::getenv("CONVNET_NUM_THREADS")) threads = std::atoi(env);
  if (threads < 1) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(threads);  // the direct side's team; convnet sets the same from CONVNET_NUM_THREADS

  Backend& be = get_backend(Backend::Kind::OneDnn);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  std::printf("oneDNN %d.%d.%d, batch %lld, %d threads, median of %d (ms per call)\n", dnnl_version()->major,
              dnnl_version()->minor, dnnl_version()->patch, static_cast<long long>(batch), threads, reps);
  std::printf("%-34s %-15s %9s %9s %7s  %s\n", "layer", "direction", "convnet", "direct", "ratio", "direct impl");
  double total_convnet = 0, total_direct = 0;
  for (const ConvLayer& l : kLayers) {
    Conv2dParams p;
    p.stride_h = p.stride_w = l.stride;
    p.pad_h = p.pad_w = l.pad;
    const Tensor x = Tensor::randn({batch, l.in, l.hw, l.hw}, Device::cpu(), 1);
    const Tensor w = Tensor::randn({l.out, l.in, l.kernel, l.kernel}, Device::cpu(), 2);
    const Tensor b = Tensor::randn({l.out}, Device::cpu(), 3);
    const Tensor dy = ops::conv2d_forward(be, x, w, l.bias ? &b : nullptr, p);
    Tensor dw = Tensor::zeros(w.shape());
    const std::pair<const char*, Dir> dirs[] = {
        {"forward", Dir::Forward}, {"backward data", Dir::BackwardData}, {"backward filter", Dir::BackwardFilter}};
    for (const auto& [dir_name, dir] : dirs) {
      const std::function<void()> ours = [&, dir = dir] {
        if (dir == Dir::Forward) ops::conv2d_forward(be, x, w, l.bias ? &b : nullptr, p);
        else if (dir == Dir::BackwardData) ops::conv2d_backward_data(be, dy, w, x.shape(), p);
        else ops::conv2d_backward_filter(be, x, dy, p, dw, true);  // accumulate, as Conv2d::backward does
      };
      Direct d = make_direct(l, batch, dir, eng, s);
      const std::function<void()> direct = [&] {
        d.prim.execute(s, d.args);
        s.wait();
      };
      ours();  // warm-up: convnet's primitive cache, first touch
      direct();
      std::vector<double> ours_ms, direct_ms;
      for (int r = 0; r < reps; ++r) {
        ours_ms.push_back(ms_of(ours));
        direct_ms.push_back(ms_of(direct));
      }
      const double a = median(ours_ms), c = median(direct_ms);
      total_convnet += a;
      total_direct += c;
      std::printf("%-34s %-15s %9.3f %9.3f %7.2f  %s\n", l.name, dir_name, a, c, a / c, d.impl.c_str());
    }
  }
  std::printf("%-34s %-15s %9.3f %9.3f %7.2f\n", "all layers above", "all", total_convnet, total_direct,
              total_convnet / total_direct);
  return 0;
}
