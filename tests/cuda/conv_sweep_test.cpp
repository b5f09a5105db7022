// A seeded sweep of 120 random convolution shapes: both CUDA implementations of
// every direction (the direct kernels and the tiled implicit GEMM) against the
// CPU reference, outputs poisoned with NaN, grid capped on half the shapes.
// Skips with the reason where there is no GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "convnet/convnet.hpp"
#include "support/grid_cap.hpp"
#include "support/small_shapes.hpp"

#if defined(CONVNET_WITH_CUDA)
#include "cuda/cuda_backend.hpp"
#endif

namespace convnet {
namespace {

struct SweepShape {
  int64_t n, c, h, w, k, r, s;
  Conv2dParams p;
  std::string str() const {
    return "n" + std::to_string(n) + " c" + std::to_string(c) + " " + std::to_string(h) + "x" +
           std::to_string(w) + " k" + std::to_string(k) + " " + std::to_string(r) + "x" +
           std::to_string(s) + " stride " + std::to_string(p.stride_h) + "," +
           std::to_string(p.stride_w) + " pad " + std::to_string(p.pad_h) + "," +
           std::to_string(p.pad_w) + " dil " + std::to_string(p.dilation_h) + "," +
           std::to_string(p.dilation_w);
  }
};

// Draws shapes from a Philox stream, keeping those whose output is not empty.
std::vector<SweepShape> sweep_shapes(int count) {
  std::vector<SweepShape> shapes;
  uint64_t i = 0;
  auto draw = [&](int lo, int hi) {  // uniform integer in [lo, hi]
    const float u = philox_uniform(20261128, 0, i++);
    return lo + static_cast<int>(u * static_cast<float>(hi - lo + 1));
  };
  while (static_cast<int>(shapes.size()) < count) {
    SweepShape sh;
    sh.n = draw(1, 5);
    sh.c = draw(0, 3) == 0 ? draw(65, 140) : draw(1, 20);
    sh.k = draw(0, 3) == 0 ? draw(65, 140) : draw(1, 20);
    sh.h = draw(1, 23);
    sh.w = draw(1, 23);
    sh.r = draw(1, 5);
    sh.s = draw(1, 5);
    sh.p = {draw(1, 3), draw(1, 3), draw(0, 2), draw(0, 2), draw(1, 2), draw(1, 2)};
    if (conv2d_output_size(sh.h, static_cast<int>(sh.r), sh.p.stride_h, sh.p.pad_h, sh.p.dilation_h) < 1 ||
        conv2d_output_size(sh.w, static_cast<int>(sh.s), sh.p.stride_w, sh.p.pad_w, sh.p.dilation_w) < 1)
      continue;
    shapes.push_back(sh);
  }
  return shapes;
}

double relative_error(const Tensor& out, const Tensor& ref) {
  const std::vector<float> o = out.to_vector<float>(), r = ref.to_vector<float>();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    if (!std::isfinite(o[i])) return std::numeric_limits<double>::infinity();  // unwritten
    diff += (double(o[i]) - r[i]) * (double(o[i]) - r[i]);
    norm += double(r[i]) * r[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

TEST(CudaConvSweep, BothAlgorithmsMatchTheCpuOn120Shapes) {
#if !defined(CONVNET_WITH_CUDA)
  GTEST_SKIP() << "convnet was built without CUDA";
#else
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  Backend& cpu = get_backend(Backend::Kind::Cpu);
  auto& gpu = static_cast<cuda::CudaBackend&>(get_backend(Backend::Kind::Cuda));
  const kernels::ConvAlgo saved = gpu.conv_algo();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<SweepShape> shapes = sweep_shapes(120);
  if (testing_support::small_test_shapes()) {
    // The first 30 small ones: the direct backward filter runs a block of 256
    // threads through 10 barriers for each weight, so weights count most.
    std::vector<SweepShape> small;
    for (const SweepShape& sh : shapes)
      if (sh.k * sh.c * sh.r * sh.s <= 400 && sh.n * sh.c * sh.k * sh.h * sh.w * sh.r * sh.s <= 150000 &&
          small.size() < 30)
        small.push_back(sh);
    std::cout << "CONVNET_TEST_SMALL: " << small.size() << " of the 120 shapes\n";
    shapes = small;
  }
  for (size_t index = 0; index < shapes.size(); ++index) {
    const SweepShape& sh = shapes[index];
    SCOPED_TRACE("shape " + std::to_string(index) + ": " + sh.str());
    const Shape in{sh.n, sh.c, sh.h, sh.w}, wt{sh.k, sh.c, sh.r, sh.s};
    const Shape out{sh.n, sh.k,
                    conv2d_output_size(sh.h, int(sh.r), sh.p.stride_h, sh.p.pad_h, sh.p.dilation_h),
                    conv2d_output_size(sh.w, int(sh.s), sh.p.stride_w, sh.p.pad_w, sh.p.dilation_w)};
    const Tensor x = Tensor::randn(in, Device::cpu(), 3 * index + 1);
    const Tensor w = Tensor::randn(wt, Device::cpu(), 3 * index + 2, 0.f, 0.3f);
    const Tensor dy = Tensor::randn(out, Device::cpu(), 3 * index + 3);
    const Tensor b = Tensor::randn({sh.k}, Device::cpu(), 7 * index + 5);
    Tensor y_ref = Tensor::empty(out), dx_ref = Tensor::empty(in), dw_ref = Tensor::empty(wt);
    cpu.conv2d_forward(x, w, &b, sh.p, y_ref);
    cpu.conv2d_backward_data(dy, w, sh.p, dx_ref);
    cpu.conv2d_backward_filter(x, dy, sh.p, dw_ref, false);
    const Tensor xg = x.to(Device::cuda()), wg = w.to(Device::cuda()), dyg = dy.to(Device::cuda()),
                 bg = b.to(Device::cuda());
    for (kernels::ConvAlgo algo : {kernels::ConvAlgo::Direct, kernels::ConvAlgo::ImplicitGemm}) {
      SCOPED_TRACE(algo == kernels::ConvAlgo::Direct ? "direct" : "implicit gemm");
      gpu.set_conv_algo(algo);
      testing_support::GridCap cap(index % 2 ? 2 : 0);
      Tensor y = Tensor::full(out, nan, Device::cuda()), dx = Tensor::full(in, nan, Device::cuda()),
             dw = Tensor::full(wt, nan, Device::cuda());
      gpu.conv2d_forward(xg, wg, &bg, sh.p, y);
      gpu.conv2d_backward_data(dyg, wg, sh.p, dx);
      gpu.conv2d_backward_filter(xg, dyg, sh.p, dw, false);
      EXPECT_LE(relative_error(y, y_ref), 1e-5) << "forward";
      EXPECT_LE(relative_error(dx, dx_ref), 1e-5) << "backward data";
      EXPECT_LE(relative_error(dw, dw_ref), 1e-5) << "backward filter";
    }
  }
  gpu.set_conv_algo(saved);
#endif
}

TEST(CudaConvSweep, BackwardFilterIsBitwiseRepeatable) {
#if !defined(CONVNET_WITH_CUDA)
  GTEST_SKIP() << "convnet was built without CUDA";
#else
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  // N*P*Q = 25992: the implicit GEMM splits the reduction; the sum order must not vary.
  Backend& gpu = get_backend(Backend::Kind::Cuda);
  const Conv2dParams p{1, 1, 1, 1, 1, 1};
  // Small: N*P*Q = 800 still splits it (emu/tests/conv_tests.cpp checks a smaller one).
  const bool small = testing_support::small_test_shapes();
  const int64_t n = small ? 2 : 8, hw = small ? 20 : 57;
  const Tensor x = Tensor::randn({n, 15, hw, hw}, Device::cuda(), 1);
  const Tensor dy = Tensor::randn({n, 65, hw, hw}, Device::cuda(), 2);
  Tensor first = Tensor::empty({65, 15, 3, 3}, Device::cuda());
  Tensor second = Tensor::empty({65, 15, 3, 3}, Device::cuda());
  gpu.conv2d_backward_filter(x, dy, p, first, false);
  gpu.conv2d_backward_filter(x, dy, p, second, false);
  EXPECT_EQ(first.to_vector<float>(), second.to_vector<float>());
#endif
}

}  // namespace
}  // namespace convnet
