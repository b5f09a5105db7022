// Small pieces every oneDNN operation file uses: our tensors as oneDNN memory,
// blocked scratch copies, and the one place oneDNN's errors become ours.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "convnet/error.hpp"
#include "convnet/tensor.hpp"
#include "cpu/parallel.hpp"
#include "onednn/omp_team.hpp"

namespace convnet::onednn {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// The process-wide CPU engine and its in-order stream (execution is synchronous
// on the CPU runtime: a primitive has finished when execute returns and the
// stream is waited on).
dnnl::engine& engine();
dnnl::stream& stream();

inline memory::dims dims_of(const Tensor& t) {
  memory::dims d;
  for (int i = 0; i < t.dim(); ++i) d.push_back(t.size(i));
  return d;
}
inline tag plain_tag(size_t rank) {
  switch (rank) {
    case 1: return tag::a;
    case 2: return tag::ab;
    case 3: return tag::abc;
    case 4: return tag::abcd;
    default: return tag::abcde;
  }
}
// A plain (row-major: nchw, oihw, nc, ...) f32 descriptor of these dims.
inline memory::desc plain_md(const memory::dims& d) { return memory::desc(d, dt::f32, plain_tag(d.size())); }
// Our tensor's storage seen as oneDNN memory (no copy).
inline memory wrap(const Tensor& t, const memory::dims& d) {
  return memory(plain_md(d), engine(), t.raw_data());
}
inline memory wrap(const Tensor& t) { return wrap(t, dims_of(t)); }

// An operand the primitive may want in another layout: `plain` is our tensor,
// `want` the primitive's descriptor. When they differ, a reorder into a scratch
// buffer owned by the cache entry (made once per shape) is built here.
struct Staged {
  memory::desc want;
  memory scratch;            // empty when `want` is the plain layout
  dnnl::reorder to_want;     // plain -> want (inputs)
  dnnl::reorder from_want;   // want -> plain (outputs)
  bool blocked() const { return static_cast<bool>(scratch); }
};
inline Staged stage(const memory::desc& plain, const memory::desc& want, bool input, bool output) {
  Staged s;
  s.want = want;
  if (plain == want) return s;
  s.scratch = memory(want, engine());
  if (input) s.to_want = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), plain, engine(), want));
  if (output) s.from_want = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), want, engine(), plain));
  return s;
}
// The memory the primitive reads: our tensor itself, or the scratch copy after
// the reorder ran.
inline memory stage_in(Staged& s, memory plain) {
  if (!s.blocked()) return plain;
  s.to_want.execute(stream(), plain, s.scratch);
  return s.scratch;
}
inline memory out_target(Staged& s, const memory& plain) { return s.blocked() ? s.scratch : plain; }
inline void stage_out(Staged& s, memory plain) {
  if (s.blocked()) s.from_want.execute(stream(), s.scratch, plain);
}

// A plain f32 descriptor with explicit strides (a transposed view of a plain matrix).
inline memory::desc strided_md(const memory::dims& d, const memory::dims& strides) {
  return memory::desc(d, dt::f32, strides);
}
inline float* floats(const memory& m) { return static_cast<float*>(m.get_data_handle()); }

// oneDNN's ReLU (post-op, eltwise, fuse_norm_relu) turns NaN into 0 (its JIT takes
// max(x, 0)), where torch.relu and our reference keep NaN: a NaN that vanishes
// hides a diverged run. So the fused ReLUs run here, after the primitive, as the
// reference writes them.
inline void relu_in_place(Tensor& y) {
  float* v = y.data<float>();
  TeamScope team;  // on OpenMP's team, whose workers are spinning after the primitive
  cpu::parallel_chunks(y.numel(), cpu::kElementwiseGrain, [v](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) v[i] = v[i] < 0.f ? 0.f : v[i];
  });
}

// What path() adds after oneDNN's implementation where relu_in_place ran.
constexpr const char* kOurRelu = ", relu (ours, keeps NaN)";

// The fallback reason for a problem with no elements: oneDNN's zero-volume
// primitives write nothing, while the reference still fills what it must
// (a linear layer's gradient over an empty batch is 0).
constexpr const char* kEmpty = "empty tensor";

// Float bits for cache keys (eps): exact, unlike a printed decimal.
inline std::string bits_key(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return std::to_string(u);
}
inline std::string dims_key(const memory::dims& d) {
  std::string k;
  for (int64_t v : d) k += "," + std::to_string(v);
  return k;
}

// Runs body(); a dnnl::error becomes convnet::Error naming `what`.
template <typename Body>
void checked(const char* what, Body body) {
  try {
    body();
  } catch (const dnnl::error& e) {
    CONVNET_FAIL("oneDNN ", what, ": ", e.what(), " (status ", static_cast<int>(e.status), ")");
  }
}

// A primitive's scratchpad (user-managed, so the entry owns it and no hidden
// allocation happens per call).
inline dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

}  // namespace convnet::onednn
