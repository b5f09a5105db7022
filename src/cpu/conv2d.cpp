// 2-D convolution on the CPU: cross-correlation (PyTorch's conv2d, cuDNN's
// CROSS_CORRELATION) of input [N,C,H,W] with weight [K,C,R,S] into output
// [N,K,P,Q], with stride, zero padding and dilation; plus the bias gradient.
//
// Approach: im2col + GEMM over groups of G images. im2col unrolls the
// receptive fields of image i of the group into columns [i*PQ, (i+1)*PQ) of
// col [C*R*S, G*PQ] (row (c*R + r)*S + s, column p*Q + q; zero where the tap
// falls in the padding), which turns every pass into one OpenBLAS call a group:
//   forward          Y [K,G*PQ]     = W [K,CRS]   x col [CRS,G*PQ], scattered to NCHW (+ bias)
//   backward data    col [CRS,G*PQ] = W^T [CRS,K] x dY [K,G*PQ], then col2im per image
//   backward filter  dW [K,CRS]    += dY [K,G*PQ] x col^T [G*PQ,CRS]
// Why groups: a GEMM with PQ = 196 columns (the MNIST CNN's second layer) runs
// at 213 GFLOP/s here, with ~1000 columns at 274. Groups are spread over the
// cores (parallel.hpp), each running its im2col, GEMM and reorders alone, so
// the cores never wait on each other inside a group. A 1x1 kernel with stride
// 1 and no padding needs no unrolling: col is the image itself.
//
// Determinism: groups, the GEMM form and the filter gradient's partial sums are
// all fixed by the shape, so no result depends on the thread count
// (docs/determinism.md).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/cpu_backend.hpp"
#include "cpu/gemm.hpp"
#include "cpu/parallel.hpp"

namespace convnet::cpu {

namespace {

struct ConvGeometry {
  int64_t n, c, h, w;  // input
  int64_t k, r, s;     // weight (k filters of c x r x s)
  int64_t p, q;        // output
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;

  int64_t crs() const { return c * r * s; }
  int64_t pq() const { return p * q; }
  int64_t chw() const { return c * h * w; }
  // col would be a copy of the image.
  bool pointwise() const {
    return r == 1 && s == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }
};

ConvGeometry make_geometry(const Tensor& input_like, const Tensor& weight,
                           const Tensor& output_like, const Conv2dParams& p) {
  ConvGeometry g;
  g.n = input_like.size(0);
  g.c = input_like.size(1);
  g.h = input_like.size(2);
  g.w = input_like.size(3);
  g.k = weight.size(0);
  g.r = weight.size(2);
  g.s = weight.size(3);
  g.p = output_like.size(2);
  g.q = output_like.size(3);
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  g.pad_h = p.pad_h;
  g.pad_w = p.pad_w;
  g.dilation_h = p.dilation_h;
  g.dilation_w = p.dilation_w;
  return g;
}

// Scratch grown on demand and kept per calling thread, so steady-state calls
// allocate nothing and concurrent callers never share it. Three slots: col, the
// [K, G*PQ] reordered output/gradient, and the filter gradient's partial sums.
float* workspace(int slot, int64_t elements) {
  thread_local std::vector<float> buffers[3];
  std::vector<float>& buffer = buffers[slot];
  if (buffer.size() < static_cast<size_t>(elements)) buffer.resize(static_cast<size_t>(elements));
  return buffer.data();
}

// Images per GEMM: about 1024 output columns, fewer when col would pass 16 MB.
int64_t group_size(const ConvGeometry& g) {
  const int64_t pq = std::max<int64_t>(g.pq(), 1);
  int64_t group = std::max<int64_t>(1, (1024 + pq - 1) / pq);
  const int64_t col_limit = (int64_t{16} << 20) / 4;
  group = std::min(group, std::max<int64_t>(1, col_limit / std::max<int64_t>(g.crs() * pq, 1)));
  return std::min(group, std::max<int64_t>(g.n, 1));
}

// Output columns q whose tap iw = q*stride + offset lands inside [0, width):
// [begin, end). Computing the range once per row keeps the inner loops free of
// bounds checks.
void valid_range(int64_t offset, int64_t stride, int64_t width, int64_t count, int64_t& begin,
                 int64_t& end) {
  begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  end = width - 1 - offset < 0 ? 0 : (width - 1 - offset) / stride + 1;
  begin = std::min(begin, count);
  end = std::clamp(end, begin, count);
}

// Visits every (row of col, output row p) pair of one image whose col rows are
// `ld` floats apart. `row_op` gets the
// offset of that Q-long segment in col, whether its tap row lies inside the
// image, the valid q range [q_begin, q_end), and the image offset read by
// q_begin (meaningful only when inside and the range is non-empty).
template <typename RowOp>
void for_each_col_row(const ConvGeometry& g, int64_t ld, RowOp row_op) {
  for (int64_t c = 0; c < g.c; ++c) {
    for (int64_t r = 0; r < g.r; ++r) {
      for (int64_t s = 0; s < g.s; ++s) {
        const int64_t col_row = (c * g.r + r) * g.s + s;
        const int64_t w_offset = s * g.dilation_w - g.pad_w;
        int64_t q_begin, q_end;
        valid_range(w_offset, g.stride_w, g.w, g.q, q_begin, q_end);
        for (int64_t p = 0; p < g.p; ++p) {
          const int64_t ih = p * g.stride_h + r * g.dilation_h - g.pad_h;
          const bool inside = ih >= 0 && ih < g.h;
          const int64_t first_tap = (c * g.h + ih) * g.w + w_offset + q_begin * g.stride_w;
          row_op(col_row * ld + p * g.q, inside, q_begin, q_end, first_tap);
        }
      }
    }
  }
}

// col[CRS, PQ] (rows `ld` apart) <- receptive fields of one image [C,H,W].
void im2col(const float* image, const ConvGeometry& g, int64_t ld, float* col) {
  const int64_t stride = g.stride_w;
  const int64_t q_count = g.q;
  for_each_col_row(g, ld, [&](int64_t col_offset, bool inside, int64_t q_begin, int64_t q_end,
                              int64_t first_tap) {
    float* out = col + col_offset;
    if (!inside || q_begin == q_end) {
      std::fill(out, out + q_count, 0.f);
      return;
    }
    const float* src = image + first_tap;
    float* dst = out + q_begin;
    const int64_t count = q_end - q_begin;
    // Segments are short (Q floats): copying in groups of four, which -O2's
    // straight-line vectoriser turns into SIMD moves, beats a memcpy call each.
    for (int64_t q = 0; q < q_begin; ++q) out[q] = 0.f;
    if (stride == 1) {
      int64_t q = 0;
      for (; q + 4 <= count; q += 4) {
        const float v0 = src[q], v1 = src[q + 1], v2 = src[q + 2], v3 = src[q + 3];
        dst[q] = v0;
        dst[q + 1] = v1;
        dst[q + 2] = v2;
        dst[q + 3] = v3;
      }
      for (; q < count; ++q) dst[q] = src[q];
    } else {
      for (int64_t q = 0; q < count; ++q) dst[q] = src[q * stride];
    }
    for (int64_t q = q_end; q < q_count; ++q) out[q] = 0.f;
  });
}

// image[C,H,W] += col[CRS, PQ] (rows `ld` apart) scattered back: the adjoint
// of im2col. Taps in the padding are dropped.
void col2im_add(const float* col, const ConvGeometry& g, int64_t ld, float* image) {
  const int64_t stride = g.stride_w;
  for_each_col_row(g, ld, [&](int64_t col_offset, bool inside, int64_t q_begin, int64_t q_end,
                              int64_t first_tap) {
    if (!inside || q_begin == q_end) return;
    const float* in = col + col_offset + q_begin;
    float* dst = image + first_tap;
    const int64_t count = q_end - q_begin;
    if (stride == 1) {
      // Groups of four, all loads before the stores, so that -O2's
      // straight-line vectoriser turns each group into one SIMD add (2x here).
      int64_t q = 0;
      for (; q + 4 <= count; q += 4) {
        const float a0 = dst[q] + in[q], a1 = dst[q + 1] + in[q + 1];
        const float a2 = dst[q + 2] + in[q + 2], a3 = dst[q + 3] + in[q + 3];
        dst[q] = a0;
        dst[q + 1] = a1;
        dst[q + 2] = a2;
        dst[q + 3] = a3;
      }
      for (; q < count; ++q) dst[q] += in[q];
    } else {
      for (int64_t q = 0; q < count; ++q) dst[q * stride] += in[q];
    }
  });
}

// dY [K, G*PQ] <- images [first, first+G) of grad_output [N,K,PQ].
void gather_group(const float* nkpq, const ConvGeometry& g, int64_t first, int64_t group,
                  float* kgpq) {
  const int64_t pq = g.pq(), ld = group * pq;
  for (int64_t i = 0; i < group; ++i)
    for (int64_t k = 0; k < g.k; ++k) {
      const float* src = nkpq + ((first + i) * g.k + k) * pq;
      std::copy(src, src + pq, kgpq + k * ld + i * pq);
    }
}

using GemmFn = void (*)(bool, bool, int, int, int, float, const float*, int, const float*, int,
                       float, float*, int);

// The GEMM for each of `tasks` parallel tasks: one task alone has the cores to
// itself, so its GEMM is split over them; several each make one call on their
// core. Decided by the shape, so the bits never follow the thread count.
GemmFn gemm_for(int64_t tasks) { return tasks == 1 ? gemm : gemm_serial; }

// Runs body(first, count, gemm) for every group of images, the groups spread over the cores.
template <typename Body>
void for_each_group(const ConvGeometry& g, Body body) {
  const int64_t group = group_size(g);
  const int64_t groups = (g.n + group - 1) / group;
  const GemmFn group_gemm = gemm_for(groups);
  parallel_for(groups, [&](int64_t index) {
    const int64_t first = index * group;
    body(first, std::min(group, g.n - first), group_gemm);
  });
}

// Most partial sums the filter gradient uses (see conv2d_backward_filter), and
// the most floats the extra partials may hold (32 MB): a large layer gets fewer.
constexpr int64_t kFilterPartials = 16;
constexpr int64_t kFilterPartialFloats = int64_t{8} << 20;

}  // namespace

void CpuBackend::conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor* bias,
                                const Conv2dParams& params, Tensor& output) {
  const ConvGeometry g = make_geometry(input, weight, output, params);
  const float* in = input.data<float>();
  const float* w = weight.data<float>();
  const float* b = bias ? bias->data<float>() : nullptr;
  float* out = output.data<float>();
  const int64_t crs = g.crs(), pq = g.pq();

  if (g.pointwise()) {
    const GemmFn image_gemm = gemm_for(g.n);
    parallel_for(g.n, [&](int64_t n) {
      float* out_n = out + n * g.k * pq;
      // Starting from the bias and letting GEMM add (beta = 1) saves a pass over out_n.
      if (b)
        for (int64_t k = 0; k < g.k; ++k) std::fill(out_n + k * pq, out_n + (k + 1) * pq, b[k]);
      image_gemm(false, false, int(g.k), int(pq), int(crs), 1.f, w, int(crs), in + n * g.chw(),
                 int(pq), b ? 1.f : 0.f, out_n, int(pq));
    });
    return;
  }
  for_each_group(g, [&](int64_t first, int64_t count, GemmFn group_gemm) {
    const int64_t ld = count * pq;
    float* col = workspace(0, crs * ld);
    float* y = workspace(1, g.k * ld);
    for (int64_t i = 0; i < count; ++i) im2col(in + (first + i) * g.chw(), g, ld, col + i * pq);
    group_gemm(false, false, int(g.k), int(ld), int(crs), 1.f, w, int(crs), col, int(ld), 0.f, y,
               int(ld));
    for (int64_t i = 0; i < count; ++i)
      for (int64_t k = 0; k < g.k; ++k) {
        const float* src = y + k * ld + i * pq;
        float* dst = out + ((first + i) * g.k + k) * pq;
        const float bias_k = b ? b[k] : 0.f;
        for (int64_t j = 0; j < pq; ++j) dst[j] = src[j] + bias_k;
      }
  });
}

void CpuBackend::conv2d_backward_data(const Tensor& grad_output, const Tensor& weight,
                                      const Conv2dParams& params, Tensor& grad_input) {
  const ConvGeometry g = make_geometry(grad_input, weight, grad_output, params);
  const float* dy = grad_output.data<float>();
  const float* w = weight.data<float>();
  float* dx = grad_input.data<float>();
  const int64_t crs = g.crs(), pq = g.pq(), chw = g.chw();

  if (g.pointwise()) {
    // dX_n [C, HW] = W^T [C,K] x dY_n [K, PQ] with PQ == HW: written directly.
    const GemmFn image_gemm = gemm_for(g.n);
    parallel_for(g.n, [&](int64_t n) {
      image_gemm(true, false, int(g.c), int(pq), int(g.k), 1.f, w, int(crs), dy + n * g.k * pq,
                 int(pq), 0.f, dx + n * chw, int(pq));
    });
    return;
  }
  for_each_group(g, [&](int64_t first, int64_t count, GemmFn group_gemm) {
    const int64_t ld = count * pq;
    float* col = workspace(0, crs * ld);
    float* dy_group = workspace(1, g.k * ld);
    gather_group(dy, g, first, count, dy_group);
    group_gemm(true, false, int(crs), int(ld), int(g.k), 1.f, w, int(crs), dy_group, int(ld), 0.f,
               col, int(ld));
    for (int64_t i = 0; i < count; ++i) {
      float* dx_n = dx + (first + i) * chw;
      // Inputs no window touches (e.g. the edge a large stride skips) still get 0.
      std::fill(dx_n, dx_n + chw, 0.f);
      col2im_add(col + i * pq, g, ld, dx_n);
    }
  });
}

void CpuBackend::conv2d_backward_filter(const Tensor& input, const Tensor& grad_output,
                                        const Conv2dParams& params, Tensor& grad_weight,
                                        bool accumulate) {
  const ConvGeometry g = make_geometry(input, grad_weight, grad_output, params);
  const float* in = input.data<float>();
  const float* dy = grad_output.data<float>();
  float* dw = grad_weight.data<float>();
  const int64_t crs = g.crs(), pq = g.pq(), kcrs = g.k * crs;

  // dW sums over the batch. The groups of images are cut into at most
  // kFilterPartials contiguous ranges, fixed by the shape; each range is summed
  // into its own partial (range 0 straight into dW) by one task, and the
  // partials are then added to dW in range order. Ranges sized by the thread
  // count made dW's bits depend on it. The caps bound the scratch and the final
  // additions; they also cap the cores this pass can use.
  const int64_t group = group_size(g);
  const int64_t groups = (g.n + group - 1) / group;
  if (groups == 0) {  // empty batch: the sum is 0
    if (!accumulate) std::fill(dw, dw + kcrs, 0.f);
    return;
  }
  const int64_t partials =
      std::min({groups, kFilterPartials, 1 + kFilterPartialFloats / std::max<int64_t>(kcrs, 1)});
  const GemmFn partial_gemm = gemm_for(partials);
  float* extra = partials > 1 ? workspace(2, (partials - 1) * kcrs) : nullptr;
  parallel_for(partials, [&](int64_t part) {
    float* target = part == 0 ? dw : extra + (part - 1) * kcrs;
    const int64_t begin = groups * part / partials, end = groups * (part + 1) / partials;
    for (int64_t index = begin; index < end; ++index) {
      const int64_t first = index * group, count = std::min(group, g.n - first), ld = count * pq;
      const float* cols = in + first * g.chw();
      if (!g.pointwise() || count > 1) {
        float* col = workspace(0, crs * ld);
        for (int64_t i = 0; i < count; ++i) {
          if (g.pointwise()) {
            for (int64_t c = 0; c < g.c; ++c)
              std::copy_n(in + (first + i) * g.chw() + c * pq, pq, col + c * ld + i * pq);
          } else {
            im2col(in + (first + i) * g.chw(), g, ld, col + i * pq);
          }
        }
        cols = col;
      }
      float* dy_group = workspace(1, g.k * ld);
      gather_group(dy, g, first, count, dy_group);
      // A range's first group overwrites its partial, except dW kept when accumulating.
      const float beta = index > begin || (part == 0 && accumulate) ? 1.f : 0.f;
      partial_gemm(false, true, int(g.k), int(crs), int(ld), 1.f, dy_group, int(ld), cols,
                   int(ld), beta, target, int(crs));
    }
  });
  if (partials == 1) return;
  // Elementwise, so any split of the elements over the cores gives the same bits.
  parallel_chunks(kcrs, std::max<int64_t>(1, kElementwiseGrain / partials),
                  [&](int64_t begin, int64_t end) {
                    for (int64_t part = 1; part < partials; ++part) {
                      const float* partial = extra + (part - 1) * kcrs;
                      for (int64_t i = begin; i < end; ++i) dw[i] += partial[i];
                    }
                  });
}

void CpuBackend::bias_backward(const Tensor& grad_output, Tensor& grad_bias, bool accumulate) {
  const int64_t n = grad_output.size(0);
  const int64_t k = grad_output.size(1);
  const int64_t inner = n * k == 0 ? 0 : grad_output.numel() / (n * k);
  const float* dy = grad_output.data<float>();
  float* db = grad_bias.data<float>();

  for (int64_t channel = 0; channel < k; ++channel) {
    // Four independent double partial sums: exact enough for a reference, and
    // they let the loop run at more than one add per add-latency.
    double sum[4] = {0.0, 0.0, 0.0, 0.0};
    for (int64_t sample = 0; sample < n; ++sample) {
      const float* plane = dy + (sample * k + channel) * inner;
      int64_t i = 0;
      for (; i + 4 <= inner; i += 4) {
        sum[0] += plane[i];
        sum[1] += plane[i + 1];
        sum[2] += plane[i + 2];
        sum[3] += plane[i + 3];
      }
      for (; i < inner; ++i) sum[0] += plane[i];
    }
    const double total = (sum[0] + sum[1]) + (sum[2] + sum[3]);
    db[channel] = static_cast<float>(accumulate ? static_cast<double>(db[channel]) + total : total);
  }
}

}  // namespace convnet::cpu
