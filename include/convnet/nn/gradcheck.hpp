// nn::gradcheck: checks a layer's backward against central finite differences,
// as torch.autograd.gradcheck does, for the input gradient and every
// parameter gradient. For a layer you wrote yourself (docs/custom_layers.md):
//
//   nn::GradcheckResult r = nn::gradcheck(my_layer, Tensor::randn({2, 3, 5, 5}, Device::cpu(), 1));
//   if (!r) std::cerr << r.str();        // names the tensor and element that failed
//
// It returns a result rather than throwing, so a test can print it; errors from
// the layer itself (a shape it refuses, an input on the wrong device) propagate
// as convnet::Error.
//
// Method. The layer becomes a scalar through a random upstream gradient R
// (seeded, normal): L(x, params) = sum(forward(x, Mode::Train) * R), summed in
// double. The analytic gradients are backward(R) for the input and what that
// backward adds to each parameter's grad. The numerical gradient of an element
// v is (L(v + eps) - L(v - eps)) / ((v + eps) - (v - eps)), the denominator
// taken from the float32 values actually stored, for every element of a small
// tensor and a seeded sample of `max_elements` of a big one.
//
// Tolerances (float32: every op computes in float32, hence the large eps). An
// element passes when |analytic - numerical| <= atol * max|numerical| + rtol *
// |numerical| + noise, where max|numerical| is over the tensor's checked
// elements (so the check does not depend on the gradient's overall scale) and
// noise the resolution of a float32 objective (objective_ulps ulp of |L| over
// 2 eps); the tensor passes when every element does and the norm-wise error
// ||analytic - numerical|| / ||numerical|| is below norm_tol.
//
// What it leaves: the layer's parameter values and gradients as they were (the
// gradients are saved and restored), and the kept tensors of a Train forward at
// `input`. The layer must be deterministic in Mode::Train (Dropout draws a new
// mask per forward: check it with p = 0 or not at all), and smooth around the
// input: keep inputs away from kinks (ReLU at 0, max-pool ties) by at least
// eps, or set skip_nonsmooth. CPU and CUDA tensors: a device tensor is
// perturbed through a host copy written back whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convnet/nn/layer.hpp"

namespace convnet::nn {

struct GradcheckOptions {
  float eps = 1e-2f;      // the finite-difference step
  double atol = 2e-3;     // times the tensor's largest |numerical gradient|
  double rtol = 2e-2;     // times |numerical gradient| of the element
  double norm_tol = 1e-2; // norm-wise relative error per tensor
  int max_elements = 200; // checked per tensor: all of a smaller one, a seeded sample of a bigger
  uint64_t seed = 0x5eed; // the upstream gradient R and the samples
  // Elements whose one-sided differences disagree (a kink was crossed) are
  // left out, and at least min_checked_fraction of the sample must remain:
  // for composites of ReLU and max-pool, where no input avoids every kink.
  bool skip_nonsmooth = false;
  double min_checked_fraction = 0.85;
  double objective_ulps = 4.0;  // float32 rounding of L, see the top
};

// One checked tensor: the input or a parameter.
struct GradcheckTensor {
  std::string name;          // "input", or the parameter's dotted name ("conv1.weight")
  Shape shape;
  int64_t checked = 0;       // elements compared
  int64_t skipped = 0;       // left out as non-smooth (skip_nonsmooth)
  double max_abs_error = 0;  // max |analytic - numerical| over the checked elements
  double norm_error = 0;     // ||analytic - numerical|| / ||numerical||
  bool passed = true;
  // The element that exceeded its bound the most (or came closest to it).
  int64_t worst_index = -1;  // flat index
  double worst_analytic = 0, worst_numerical = 0, worst_bound = 0;
  std::string problem;       // why it failed, when not the numbers ("only 3 of 20 ...")
};

struct GradcheckResult {
  std::string layer;  // layer.name()
  bool passed = true;
  std::vector<GradcheckTensor> tensors;  // the input first, then the parameters
  explicit operator bool() const { return passed; }
  // One line per tensor: "conv1.weight [2, 2, 3, 3]: ok, max |error| 1e-05 over 36 elements"
  // or "FAILED ... worst element, flat index 7: analytic 0.5, numerical 0.25, bound 0.01".
  std::string str() const;
};

// Checks layer.backward against finite differences at `input` (see the top).
GradcheckResult gradcheck(Layer& layer, const Tensor& input, const GradcheckOptions& options = {});

}  // namespace convnet::nn
