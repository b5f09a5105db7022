// CONVNET_TEST_SMALL=1 asks the slowest GPU tests for fewer or smaller shapes.
// The emulated-device CI stage sets it (scripts/test.sh): there every CUDA
// thread is a fiber under AddressSanitizer, so the shapes a GPU runs in
// milliseconds take minutes. Each test still runs every code path it covers.
#pragma once

#include <cstdlib>
#include <cstring>

namespace convnet::testing_support {

// The most multiply-adds a case may have under it: convolutions past this take
// one to three minutes each on the emulated device under ASan.
constexpr double kSmallMultiplyAdds = 25e6;

inline bool small_test_shapes() {
  const char* value = std::getenv("CONVNET_TEST_SMALL");
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

}  // namespace convnet::testing_support
