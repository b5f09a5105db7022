// 2-D pooling on the CPU, input [N,C,H,W] -> output [N,C,P,Q], each (n, c)
// plane on its own. Window rules are PyTorch's CPU max_pool2d / avg_pool2d,
// replicated exactly because users compare results with it:
// - Max: the window is clipped to the input; ties go to the first maximal cell
//   in row-major order and a NaN wins (so NaN propagates). argmax holds h*W + w
//   within the plane; the backward pass routes each gradient there.
// - Average: the divisor is the window clipped to the padded input
//   (AvgIncludePad) or to the input itself (AvgExcludePad); the backward pass
//   spreads grad/divisor over the cells of the window inside the input.
// Plain loops, one output cell at a time, planes spread over the cores; 2x2
// stride-2 max pooling (every LeNet-style CNN's) has an unrolled row loop,
// the same rule, since it was the oneDNN backend's largest CPU cost.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"

namespace convnet::cpu {

namespace {

struct PoolGeometry {
  int64_t planes;  // N * C
  int64_t h, w;    // input
  int64_t p, q;    // output
};

PoolGeometry make_geometry(const Tensor& input, const Tensor& output) {
  return {input.size(0) * input.size(1), input.size(2), input.size(3), output.size(2),
          output.size(3)};
}

// The window of output cell (oh, ow) clipped to the input: [h0, h1) x [w0, w1).
struct Window {
  int64_t h0, h1, w0, w1;
  bool empty() const { return h0 >= h1 || w0 >= w1; }
};

Window max_window(const Pool2dParams& p, const PoolGeometry& g, int64_t oh, int64_t ow) {
  const int64_t h0 = oh * p.stride_h - p.pad_h;
  const int64_t w0 = ow * p.stride_w - p.pad_w;
  return {std::max<int64_t>(h0, 0), std::min<int64_t>(h0 + p.kernel_h, g.h),
          std::max<int64_t>(w0, 0), std::min<int64_t>(w0 + p.kernel_w, g.w)};
}

// Average windows also return PyTorch's divisor.
Window avg_window(const Pool2dParams& p, const PoolGeometry& g, int64_t oh, int64_t ow,
                  int64_t& divisor) {
  int64_t h0 = oh * p.stride_h - p.pad_h;
  int64_t w0 = ow * p.stride_w - p.pad_w;
  int64_t h1 = std::min<int64_t>(h0 + p.kernel_h, g.h + p.pad_h);
  int64_t w1 = std::min<int64_t>(w0 + p.kernel_w, g.w + p.pad_w);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min<int64_t>(h1, g.h);
  w1 = std::min<int64_t>(w1, g.w);
  divisor = p.mode == PoolMode::AvgIncludePad ? padded_size : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1};
}

// take ? a : b without a branch. GCC compiles the float ternary to a branch,
// which on real data mispredicts about every other cell: max pooling ran 2x
// slower with it.
inline float select(bool take, float a, float b) {
  uint32_t bits_a, bits_b;
  std::memcpy(&bits_a, &a, sizeof a);
  std::memcpy(&bits_b, &b, sizeof b);
  const uint32_t mask = 0u - static_cast<uint32_t>(take);
  const uint32_t bits = (bits_a & mask) | (bits_b & ~mask);
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

// Index h*W + w of the window's maximum under PyTorch's rule (`>` keeps the
// first of equal values; NaN always replaces), or -1 for an empty window.
int32_t argmax_in(const float* plane, int64_t width, const Window& win, float& max_value) {
  float best = -std::numeric_limits<float>::infinity();
  int64_t best_index = win.h0 * width + win.w0;
  for (int64_t h = win.h0; h < win.h1; ++h) {
    for (int64_t w = win.w0; w < win.w1; ++w) {
      const float value = plane[h * width + w];
      // Bitwise | and selects rather than branches (see select()).
      const bool take = (value > best) | std::isnan(value);
      best_index = take ? h * width + w : best_index;
      best = select(take, value, best);
    }
  }
  max_value = best;
  return win.empty() ? -1 : static_cast<int32_t>(best_index);
}

// The common 2x2, stride 2 max pooling over the output columns [0, end) of row
// oh, whose windows lie inside the input: argmax_in's rule (`>` keeps the
// first maximum, a NaN always replaces) unrolled over the four cells in
// row-major order: no window arithmetic and no inner loop per cell.
void max_2x2_row(const float* plane, int64_t width, int64_t oh, int64_t end, float* out,
                 int32_t* index) {
  const float* r0 = plane + 2 * oh * width;
  const float* r1 = r0 + width;
  const int32_t base = static_cast<int32_t>(2 * oh * width);
  const int32_t w = static_cast<int32_t>(width);
  for (int64_t ow = 0; ow < end; ++ow) {
    const int32_t c = static_cast<int32_t>(2 * ow);
    float best = r0[c];
    int32_t at = base + c;
    // The first cell always wins over -inf; isnan needs no special case there.
    const float b = r0[c + 1], d0 = r1[c], d1 = r1[c + 1];
    bool take = (b > best) | std::isnan(b);
    at = take ? base + c + 1 : at;
    best = select(take, b, best);
    take = (d0 > best) | std::isnan(d0);
    at = take ? base + w + c : at;
    best = select(take, d0, best);
    take = (d1 > best) | std::isnan(d1);
    at = take ? base + w + c + 1 : at;
    best = select(take, d1, best);
    out[ow] = best;
    if (index) index[ow] = at;
  }
}

bool is_max_2x2_s2(const Pool2dParams& p) {
  return p.mode == PoolMode::Max && p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 &&
         p.stride_w == 2 && p.pad_h == 0 && p.pad_w == 0;
}

}  // namespace

void CpuBackend::pool2d_forward(const Tensor& input, const Pool2dParams& params, Tensor& output,
                                Tensor* argmax) {
  const PoolGeometry g = make_geometry(input, output);
  const float* in = input.data<float>();
  float* out = output.data<float>();
  int32_t* indices =
      (params.mode == PoolMode::Max && argmax) ? argmax->data<int32_t>() : nullptr;
  const bool fast = is_max_2x2_s2(params);

  parallel_for(g.planes, [&](int64_t plane) {
    const float* in_plane = in + plane * g.h * g.w;
    float* out_plane = out + plane * g.p * g.q;
    int32_t* index_plane = indices ? indices + plane * g.p * g.q : nullptr;
    for (int64_t oh = 0; oh < g.p; ++oh) {
      int64_t first = 0;  // the row's cells before it were done by max_2x2_row
      if (fast && 2 * oh + 1 < g.h) {
        first = std::min(g.q, g.w / 2);  // ceil_mode's last window may be cut off: not here
        max_2x2_row(in_plane, g.w, oh, first, out_plane + oh * g.q,
                    index_plane ? index_plane + oh * g.q : nullptr);
      }
      for (int64_t ow = first; ow < g.q; ++ow) {
        const int64_t o = oh * g.q + ow;
        if (params.mode == PoolMode::Max) {
          float max_value;
          const int32_t index = argmax_in(in_plane, g.w, max_window(params, g, oh, ow), max_value);
          out_plane[o] = max_value;  // -inf for an empty window, as PyTorch
          if (index_plane) index_plane[o] = index;
          continue;
        }
        int64_t divisor;
        const Window win = avg_window(params, g, oh, ow, divisor);
        if (win.empty()) {  // PyTorch writes 0 rather than dividing by zero
          out_plane[o] = 0.f;
          continue;
        }
        double sum = 0.0;
        for (int64_t h = win.h0; h < win.h1; ++h) {
          for (int64_t w = win.w0; w < win.w1; ++w) sum += in_plane[h * g.w + w];
        }
        out_plane[o] = static_cast<float>(sum / static_cast<double>(divisor));
      }
    }
  });
}

void CpuBackend::pool2d_backward(const Tensor& input, const Tensor& grad_output,
                                 const Tensor* argmax, const Pool2dParams& params,
                                 Tensor& grad_input) {
  const PoolGeometry g = make_geometry(input, grad_output);
  const float* in = input.data<float>();
  const float* dy = grad_output.data<float>();
  float* dx = grad_input.data<float>();
  const int32_t* indices =
      (params.mode == PoolMode::Max && argmax) ? argmax->data<int32_t>() : nullptr;

  parallel_for(g.planes, [&](int64_t plane) {
    const float* in_plane = in + plane * g.h * g.w;
    const float* dy_plane = dy + plane * g.p * g.q;
    float* dx_plane = dx + plane * g.h * g.w;
    // Cells in no window (or never a maximum) get 0; windows that overlap add up.
    std::fill(dx_plane, dx_plane + g.h * g.w, 0.f);
    for (int64_t oh = 0; oh < g.p; ++oh) {
      for (int64_t ow = 0; ow < g.q; ++ow) {
        const int64_t o = oh * g.q + ow;
        if (params.mode == PoolMode::Max) {
          int32_t index;
          if (indices) {
            index = indices[plane * g.p * g.q + o];
          } else {
            float unused;
            index = argmax_in(in_plane, g.w, max_window(params, g, oh, ow), unused);
          }
          if (index >= 0) dx_plane[index] += dy_plane[o];
          continue;
        }
        int64_t divisor;
        const Window win = avg_window(params, g, oh, ow, divisor);
        if (win.empty()) continue;
        const float share = dy_plane[o] / static_cast<float>(divisor);
        for (int64_t h = win.h0; h < win.h1; ++h) {
          for (int64_t w = win.w0; w < win.w1; ++w) dx_plane[h * g.w + w] += share;
        }
      }
    }
  });
}

}  // namespace convnet::cpu
