// A CUDA build on a machine with no NVIDIA driver at all (libcuda.so.1 absent,
// the usual machine without a GPU). The CUDA runtime then returns
// cudaErrorInsufficientDriver, whose own text blames an old driver; convnet's
// messages must say there is no driver and name the call that failed. Skips
// where a GPU is usable, where a driver is installed, and in CPU-only builds.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "convnet/convnet.hpp"

namespace convnet {
namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool driver_loads() {
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (driver != nullptr) dlclose(driver);
  return driver != nullptr;
}

// Says there is no driver before CUDA's own words about an insufficient one.
void expect_no_driver(const std::string& message) {
  const size_t no_driver = message.find("no NVIDIA driver is installed or loaded (libcuda.so.1 "
                                        "cannot be loaded");
  EXPECT_NE(no_driver, std::string::npos) << message;
  EXPECT_NE(message.find("cudaGetDeviceCount failed"), std::string::npos) << message;
  const size_t insufficient = message.find("cudaErrorInsufficientDriver");
  EXPECT_NE(insufficient, std::string::npos) << message;  // CUDA's name stays, for searches
  EXPECT_LT(no_driver, insufficient) << message;
}

TEST(CudaWithoutDriver, MessagesSayThereIsNoDriverAndNameTheCall) {
  if (!cuda_compiled()) GTEST_SKIP() << "convnet was built without CUDA";
  if (cuda_available()) GTEST_SKIP() << "a GPU is usable here: no missing driver to report";
  if (driver_loads())
    GTEST_SKIP() << "an NVIDIA driver is installed (libcuda.so.1 loads): " << cuda_unavailable_reason();

  expect_no_driver(cuda_unavailable_reason());

  const Tensor host = Tensor::randn({2, 3}, Device::cpu(), 1);
  const std::string to = message_of([&] { host.to(Device::cuda()); });
  EXPECT_EQ(to.rfind("Tensor::to(cuda:0) of ", 0), 0u) << to;
  expect_no_driver(to);

  const std::string backend = message_of([] { get_backend(Backend::Kind::Cuda); });
  EXPECT_EQ(backend.rfind("backend cuda is unavailable: no usable CUDA device: ", 0), 0u) << backend;
  expect_no_driver(backend);
  expect_no_driver(backend_unavailable_reason(Backend::Kind::Cudnn));

  nn::Sequential net;
  net.add<nn::Linear>(3, 2);
  const std::string model = message_of([&] { net.to(Device::cuda()); });
  expect_no_driver(model);
}

}  // namespace
}  // namespace convnet
