// Runs every parity case on every backend and holds it to the CPU reference.
// With only the CPU backend this still checks that every output element is
// written (poisoned outputs must come back finite) and that results are
// deterministic; oneDNN and each GPU backend add a column.
#include <gtest/gtest.h>

#include <cmath>

#include "parity/parity_harness.hpp"
#include "support/grid_cap.hpp"
#include "support/small_shapes.hpp"

namespace convnet::parity {
namespace {

const std::vector<ParityCase>& cases() {
  static const std::vector<ParityCase> all = all_parity_cases();
  return all;
}

struct Param {
  size_t case_index;
  Backend::Kind kind;
};

std::vector<Param> all_params() {
  std::vector<Param> params;
  for (size_t i = 0; i < cases().size(); ++i)
    for (Backend::Kind k : {Backend::Kind::Cpu, Backend::Kind::OneDnn, Backend::Kind::Cuda,
                             Backend::Kind::Cudnn})
      params.push_back({i, k});
  return params;
}

std::string param_name(const testing::TestParamInfo<Param>& info) {
  std::string name = cases()[info.param.case_index].name + "_" + backend_name(info.param.kind);
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

Device device_of(Backend::Kind kind) {
  return backend_device(kind);
}

// Every element written: no NaN poison left (f32), no sentinel left (i32).
void expect_written(const Tensor& t, const std::string& what) {
  if (t.dtype() == DType::F32) {
    const std::vector<float> v = t.to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i)
      ASSERT_TRUE(std::isfinite(v[i])) << what << ": element " << i << " is " << v[i]
                                       << " (unwritten or overflowed) in " << t.str();
  } else {
    const std::vector<int32_t> v = t.to_vector<int32_t>();
    for (size_t i = 0; i < v.size(); ++i)
      ASSERT_NE(v[i], -777) << what << ": element " << i << " unwritten in " << t.str();
  }
}

void expect_close(const Tensor& out, const Tensor& ref, const Bound& bound, const std::string& what) {
  ASSERT_EQ(out.shape(), ref.shape()) << what;
  ASSERT_EQ(out.dtype(), ref.dtype()) << what;
  if (ref.dtype() == DType::I32) {
    const std::vector<int32_t> o = out.to_vector<int32_t>(), r = ref.to_vector<int32_t>();
    for (size_t i = 0; i < r.size(); ++i)
      ASSERT_EQ(o[i], r[i]) << what << ": element " << i << " differs (indices must match exactly)";
    return;
  }
  const std::vector<float> o = out.to_vector<float>(), r = ref.to_vector<float>();
  double diff = 0, norm = 0, worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const double d = static_cast<double>(o[i]) - r[i];
    diff += d * d;
    norm += static_cast<double>(r[i]) * r[i];
    if (std::fabs(d) > worst) worst = std::fabs(d), worst_at = i;
  }
  const double relative = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
  EXPECT_LE(relative, bound.relative)
      << what << ": norm-wise relative error " << relative << " exceeds " << bound.relative << " ("
      << bound.why << "); worst element " << worst_at << ": " << o[worst_at] << " vs reference "
      << r[worst_at];
}

class Parity : public testing::TestWithParam<Param> {};

TEST_P(Parity, MatchesCpuReference) {
  const ParityCase& pc = cases()[GetParam().case_index];
  const Backend::Kind kind = GetParam().kind;
  if (!backend_available(kind))
    GTEST_SKIP() << "backend " << backend_name(kind) << " unavailable: "
                 << backend_unavailable_reason(kind);
  if (kind != Backend::Kind::Cpu && testing_support::small_test_shapes() &&
      pc.multiply_adds > testing_support::kSmallMultiplyAdds)
    GTEST_SKIP() << "CONVNET_TEST_SMALL: " << pc.multiply_adds / 1e6 << "M multiply-adds, over the "
                 << testing_support::kSmallMultiplyAdds / 1e6 << "M it allows";
  Backend& reference = get_backend(Backend::Kind::Cpu);
  Backend& backend = get_backend(kind);
  for (uint64_t seed : {1u, 2u}) {
    Inputs ref_inputs(Device::cpu(), seed), inputs(device_of(kind), seed);
    const std::vector<Tensor> expected = pc.run(reference, ref_inputs);
    // Seed 2 runs the GPU kernels with a grid of 3 blocks, so every grid-stride loop wraps.
    testing_support::GridCap cap(seed == 2 ? 3 : 0);
    const std::vector<Tensor> actual = pc.run(backend, inputs);
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      const std::string what = pc.name + " output " + std::to_string(i) + " seed " + std::to_string(seed);
      expect_written(expected[i], what + " (cpu)");
      expect_written(actual[i], what + " (" + backend_name(kind) + ")");
      expect_close(actual[i].to(Device::cpu()), expected[i], pc.tolerance.for_backend(kind), what);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, Parity, testing::ValuesIn(all_params()), param_name);

}  // namespace
}  // namespace convnet::parity
