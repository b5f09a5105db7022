// Process-wide settings: math mode, determinism, autotuning, the default backend.
#include <gtest/gtest.h>

#include <cstdlib>

#include "convnet/convnet.hpp"

namespace convnet {
namespace {

// Restores a setting when the test ends, so test order does not matter.
template <typename T, typename Get, typename Set>
struct Restore {
  Get get;
  Set set;
  T saved;
  Restore(Get g, Set s) : get(g), set(s), saved(g()) {}
  ~Restore() { set(saved); }
};
template <typename Get, typename Set>
auto restore(Get g, Set s) {
  return Restore<decltype(g()), Get, Set>(g, s);
}

TEST(Settings, MathModeDefaultsToFp32AndCanAllowTf32) {
  auto keep = restore(math_mode, set_math_mode);
  if (std::getenv("CONVNET_MATH") == nullptr) {
    EXPECT_EQ(keep.saved, MathMode::FP32);
  }
  set_math_mode(MathMode::TF32);
  EXPECT_EQ(math_mode(), MathMode::TF32);
  EXPECT_STREQ(math_mode_name(math_mode()), "tf32");
  set_math_mode(MathMode::FP32);
  EXPECT_STREQ(math_mode_name(math_mode()), "fp32");
}

TEST(Settings, DeterminismAndAutotuneAreSwitches) {
  auto keep_d = restore(deterministic, set_deterministic);
  auto keep_a = restore(cudnn_autotune, set_cudnn_autotune);
  set_deterministic(true);
  EXPECT_TRUE(deterministic());
  set_cudnn_autotune(true);
  EXPECT_TRUE(cudnn_autotune());
  set_deterministic(false);
  set_cudnn_autotune(false);
  EXPECT_FALSE(deterministic());
  EXPECT_FALSE(cudnn_autotune());
}

TEST(Settings, DefaultBackendChoiceGovernsGpuTensorsOnly) {
  auto keep = restore(default_backend_choice, set_default_backend);
  set_default_backend(Backend::Kind::Cuda);
  EXPECT_EQ(default_backend(Device::cuda()), Backend::Kind::Cuda);
  // a CPU tensor stays on the CPU: oneDNN when built, else the reference
  const Backend::Kind cpu_auto =
      backend_available(Backend::Kind::OneDnn) ? Backend::Kind::OneDnn : Backend::Kind::Cpu;
  EXPECT_EQ(default_backend(Device::cpu()), cpu_auto);
  set_default_backend(Backend::Kind::Cudnn);
  EXPECT_EQ(default_backend(Device::cuda()), Backend::Kind::Cudnn);
  // "cpu" cannot compute on a GPU: GPU tensors keep the automatic rule.
  set_default_backend(Backend::Kind::Cpu);
  EXPECT_NE(default_backend(Device::cuda()), Backend::Kind::Cpu);
  EXPECT_EQ(default_backend(Device::cpu()), Backend::Kind::Cpu);  // cpu means the reference
  set_default_backend(std::nullopt);
  EXPECT_FALSE(default_backend_choice().has_value());
  EXPECT_EQ(default_backend(Device::cpu()), cpu_auto);
  const Backend::Kind automatic = default_backend(Device::cuda());
  EXPECT_EQ(automatic, backend_available(Backend::Kind::Cudnn) ? Backend::Kind::Cudnn
                                                               : Backend::Kind::Cuda);
}

TEST(Settings, UnavailableCudnnSaysWhy) {
  if (backend_available(Backend::Kind::Cudnn)) GTEST_SKIP() << "cuDNN is available here";
  try {
    get_backend(Backend::Kind::Cudnn);
    FAIL() << "get_backend(Cudnn) returned without cuDNN";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cudnn is unavailable"), std::string::npos) << what;
    // No GPU, no CUDA in this build, or no cuDNN library: each names itself.
    EXPECT_TRUE(what.find("GPU") != std::string::npos || what.find("CUDA") != std::string::npos ||
                what.find("driver") != std::string::npos || what.find("cuDNN") != std::string::npos)
        << what;
  }
}

}  // namespace
}  // namespace convnet

namespace convnet {
namespace {

// The cuDNN backend loads libcudnn.so.9 at run time; a machine without a GPU
// still loads it (dlopen and cudnnGetVersion need no GPU), so CI checks the loader.
TEST(CudnnLibrary, LoadsAtRunTimeWhenBuilt) {
  const std::string reason = backend_unavailable_reason(Backend::Kind::Cudnn);
  const std::string library = backend_library(Backend::Kind::Cudnn);
  std::printf("[ cudnn    ] library: %s; unavailable because: %s\n",
              library.empty() ? "(none)" : library.c_str(), reason.empty() ? "(available)" : reason.c_str());
  EXPECT_EQ(backend_available(Backend::Kind::Cudnn), reason.empty());
  if (reason.find("built without") != std::string::npos) {
    EXPECT_TRUE(library.empty());
    GTEST_SKIP() << reason;
  }
  if (library.empty()) {
    EXPECT_NE(reason.find("cuDNN"), std::string::npos) << reason;  // says what it could not load
  } else {
    EXPECT_EQ(library.rfind("cuDNN 9.", 0), 0u) << library;
    EXPECT_NE(library.find("libcudnn.so.9"), std::string::npos) << library;
    // One CUDA runtime per process: the frontend is pinned to the one we link.
    const char* pinned = std::getenv("CUDNN_FRONTEND_CUDART_LIB_NAME");
    ASSERT_NE(pinned, nullptr);
    EXPECT_NE(std::string(pinned).find("libcudart.so.13"), std::string::npos) << pinned;
    EXPECT_NE(library.find(pinned), std::string::npos) << library;
  }
}

}  // namespace
}  // namespace convnet
