// The conditions every kernel test runs under: warp order (CONVNET_EMU_ORDER)
// and grid cap (kernels::set_grid_cap, so grid-stride loops wrap).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.hpp"

namespace convnet::emu::testing {

struct Scenario {
  const char* order;
  int grid_cap;
};

inline void PrintTo(const Scenario& s, std::ostream* os) {
  *os << "order " << s.order << ", grid cap " << s.grid_cap;
}

inline std::string scenario_name(const ::testing::TestParamInfo<Scenario>& info) {
  std::string order = info.param.order;
  for (char& c : order)
    if (c == ':') c = '_';
  return order + "_cap" + std::to_string(info.param.grid_cap);
}

class EmuKernel : public ::testing::TestWithParam<Scenario> {
 protected:
  void SetUp() override {
    setenv("CONVNET_EMU_ORDER", GetParam().order, 1);
    kernels::set_grid_cap(GetParam().grid_cap);
  }
  void TearDown() override {
    unsetenv("CONVNET_EMU_ORDER");
    kernels::set_grid_cap(0);
  }
};

#define CONVNET_EMU_SCENARIOS(suite)                                                           \
  INSTANTIATE_TEST_SUITE_P(Orders, suite,                                                      \
                           ::testing::Values(Scenario{"forward", 0}, Scenario{"reverse", 0},   \
                                             Scenario{"forward", 2}, Scenario{"reverse", 3},   \
                                             Scenario{"random:7", 2}),                         \
                           scenario_name)

inline std::vector<float> random_floats(size_t count, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

// Every element within `tolerance` of the reference, relative to max(1, |ref|).
inline void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                         double tolerance, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double scale = std::fmax(1.0, std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= tolerance * scale)) {
      if (++bad <= 3) ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", want " << want[i];
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": elements out of tolerance";
}

}  // namespace convnet::emu::testing
