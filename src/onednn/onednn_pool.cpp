// Average pooling on oneDNN, forward and backward, on plain NCHW tensors.
// Max pooling stays on the reference: oneDNN's max drops NaN (a window holding
// one gives the largest other value), where our contract and PyTorch propagate
// it, and its workspace is not our int32 argmax (h*W + w of the first maximum).
//
// Geometry: ceil_mode is oneDNN's right padding, chosen so its output size is
// ours. AvgExcludePad divides by the cells inside the input, as oneDNN's
// exclude_padding does. AvgIncludePad divides by the window clipped to the
// padded input (PyTorch); oneDNN's include_padding always divides by kh*kw, which
// differs only where a ceil_mode window reaches past the right padding: those
// outputs (forward) and gradients (backward) are rescaled here.
#include <algorithm>
#include <string>

#include "onednn/onednn_backend.hpp"
#include "onednn/onednn_entries.hpp"
#include "onednn/primitive_cache.hpp"

namespace convnet::onednn {
namespace {

struct PoolGeometry {
  memory::dims src, dst, strides, kernel, pad_l, pad_r;
};

PoolGeometry geometry(const Tensor& x, const Pool2dParams& p) {
  PoolGeometry g;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh = pool2d_output_size(h, p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  const int64_t ow = pool2d_output_size(w, p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  g.src = {n, c, h, w};
  g.dst = {n, c, oh, ow};
  g.strides = {p.stride_h, p.stride_w};
  g.kernel = {p.kernel_h, p.kernel_w};
  g.pad_l = {p.pad_h, p.pad_w};
  // Where the last window ends; below 0 (floor mode dropping cells) no window
  // reaches the right edge, and 0 keeps oneDNN's size formula at our size.
  g.pad_r = {std::max<int64_t>((oh - 1) * p.stride_h + p.kernel_h - h - p.pad_h, 0),
             std::max<int64_t>((ow - 1) * p.stride_w + p.kernel_w - w - p.pad_w, 0)};
  return g;
}

dnnl::algorithm algorithm_of(PoolMode mode) {
  return mode == PoolMode::AvgIncludePad ? dnnl::algorithm::pooling_avg_include_padding
                                         : dnnl::algorithm::pooling_avg_exclude_padding;
}

// PyTorch's include-pad divisor over oneDNN's, per output row (or column):
// kernel / (window clipped to in + pad).
std::vector<float> rescale_of(int64_t out, int64_t in, int kernel, int stride, int pad) {
  std::vector<float> f(size_t(out), 1.f);
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * stride - pad;
    const int64_t end = std::min<int64_t>(start + kernel, in + pad);
    f[size_t(o)] = float(kernel) / float(end - start);
  }
  return f;
}

dnnl::pooling_forward::primitive_desc forward_pd(const PoolGeometry& g, PoolMode mode,
                                                 dnnl::prop_kind prop) {
  dnnl::pooling_forward::desc d(prop, algorithm_of(mode), plain_md(g.src), plain_md(g.dst),
                                g.strides, g.kernel, g.pad_l, g.pad_r);
  return dnnl::pooling_forward::primitive_desc(d, user_scratchpad_attr(), engine());
}

std::shared_ptr<PoolEntry> make_entry(bool backward, PoolMode mode, const PoolGeometry& g) {
  return build_entry<PoolEntry>([&](PoolEntry& e) {
    memory::desc scratch_md;
    if (backward) {
      auto hint = forward_pd(g, mode, dnnl::prop_kind::forward_training);
      dnnl::pooling_backward::desc d(algorithm_of(mode), plain_md(g.src), plain_md(g.dst),
                                     g.strides, g.kernel, g.pad_l, g.pad_r);
      dnnl::pooling_backward::primitive_desc pd(d, user_scratchpad_attr(), engine(), hint);
      e.prim = dnnl::pooling_backward(pd);
      e.impl = pd.impl_info_str();
      scratch_md = pd.scratchpad_desc();
    } else {
      auto pd = forward_pd(g, mode, dnnl::prop_kind::forward_inference);
      e.prim = dnnl::pooling_forward(pd);
      e.impl = pd.impl_info_str();
      scratch_md = pd.scratchpad_desc();
    }
    e.scratchpad = memory(scratch_md, engine());
    if (mode == PoolMode::AvgIncludePad) {
      e.rescale_h =
          rescale_of(g.dst[2], g.src[2], int(g.kernel[0]), int(g.strides[0]), int(g.pad_l[0]));
      e.rescale_w =
          rescale_of(g.dst[3], g.src[3], int(g.kernel[1]), int(g.strides[1]), int(g.pad_l[1]));
      for (float f : e.rescale_h) e.rescale = e.rescale || f != 1.f;
      for (float f : e.rescale_w) e.rescale = e.rescale || f != 1.f;
      if (e.rescale && backward) e.scaled_grad = memory(plain_md(g.dst), engine());
    }
  });
}

std::shared_ptr<PoolEntry> entry(PrimitiveCache<PoolEntry>& cache, bool backward, PoolMode mode,
                                 const PoolGeometry& g) {
  std::string key = std::string("pool") + (backward ? "b" : "f") + std::to_string(int(mode));
  for (const memory::dims* d : {&g.src, &g.strides, &g.kernel, &g.pad_l, &g.pad_r})
    key += dims_key(*d);
  return cache.get(key, [&] { return make_entry(backward, mode, g); });
}

// values [planes, P, Q] *= rescale_h[p] * rescale_w[q], from `from` into `to` (may alias).
void rescale(const PoolEntry& e, int64_t planes, const float* from, float* to) {
  const int64_t oh = int64_t(e.rescale_h.size()), ow = int64_t(e.rescale_w.size());
  for (int64_t plane = 0; plane < planes; ++plane)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t k = (plane * oh + i) * ow + j;
        to[k] = from[k] * (e.rescale_h[size_t(i)] * e.rescale_w[size_t(j)]);
      }
}

constexpr const char* kMaxReason =
    "max pooling: oneDNN's max drops NaN and its workspace is not our int32 argmax";

}  // namespace

void OneDnnBackend::pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y,
                                   Tensor* argmax) {
  if (p.mode == PoolMode::Max) {
    routes_.fell_back(Op::Pool2d, kMaxReason);
    guarded()->pool2d_forward(x, p, y, argmax);
    return;
  }
  const PoolGeometry g = geometry(x, p);
  const bool ran = execute_entry(
      routes_, Op::Pool2d, x.numel() && y.numel() ? entry(*pool_cache_, false, p.mode, g) : nullptr,
      "average pooling forward",
      [&](PoolEntry& e) {
        e.prim.execute(stream(), {{DNNL_ARG_SRC, wrap(x, g.src)},
                                  {DNNL_ARG_DST, wrap(y, g.dst)},
                                  {DNNL_ARG_SCRATCHPAD, e.scratchpad}});
      },
      [&](PoolEntry& e) {
        if (e.rescale) rescale(e, g.dst[0] * g.dst[1], y.data<float>(), y.data<float>());
      });
  if (!ran) guarded()->pool2d_forward(x, p, y, argmax);
}

void OneDnnBackend::pool2d_backward(const Tensor& x, const Tensor& dy, const Tensor* argmax,
                                    const Pool2dParams& p, Tensor& dx) {
  if (p.mode == PoolMode::Max) {
    routes_.fell_back(Op::Pool2d, kMaxReason);
    guarded()->pool2d_backward(x, dy, argmax, p, dx);
    return;
  }
  const PoolGeometry g = geometry(x, p);
  const bool ran = execute_entry(
      routes_, Op::Pool2d, x.numel() && dy.numel() ? entry(*pool_cache_, true, p.mode, g) : nullptr,
      "average pooling backward", [&](PoolEntry& e) {
        memory diff_dst = wrap(dy, g.dst);
        if (e.rescale) {
          rescale(e, g.dst[0] * g.dst[1], dy.data<float>(), floats(e.scaled_grad));
          diff_dst = e.scaled_grad;
        }
        e.prim.execute(stream(), {{DNNL_ARG_DIFF_DST, diff_dst},
                                  {DNNL_ARG_DIFF_SRC, wrap(dx, g.src)},
                                  {DNNL_ARG_SCRATCHPAD, e.scratchpad}});
      });
  if (!ran) guarded()->pool2d_backward(x, dy, argmax, p, dx);
}

}  // namespace convnet::onednn
