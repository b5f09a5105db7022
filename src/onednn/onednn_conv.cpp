// Convolution on oneDNN: forward (with bias; the fused ReLU is our own pass, see
// relu_in_place in dnnl_util.hpp), backward data and backward weights. Every
// primitive is created with `any` layouts, so oneDNN picks its fastest (blocked)
// ones; our plain tensors are reordered in and out (onednn_backend.hpp says why
// that is safe for weights).
#include <string>

#include "onednn/onednn_backend.hpp"
#include "onednn/onednn_entries.hpp"
#include "onednn/primitive_cache.hpp"

namespace convnet::onednn {
namespace {

enum class ConvKind { Forward, BackwardData, BackwardWeights };

struct ConvGeometry {
  memory::dims src, wei, bias, dst, strides, dilates, pad_l, pad_r;
};

// oneDNN's dilation counts the gaps (0 = none); its right padding is whatever
// makes the output size come out as ours (it may be below the left padding).
ConvGeometry geometry(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  ConvGeometry g;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t k = w.size(0), r = w.size(2), s = w.size(3);
  const int64_t oh = conv2d_output_size(h, int(r), p.stride_h, p.pad_h, p.dilation_h);
  const int64_t ow = conv2d_output_size(wd, int(s), p.stride_w, p.pad_w, p.dilation_w);
  g.src = {n, c, h, wd};
  g.wei = {k, c, r, s};
  g.bias = {k};
  g.dst = {n, k, oh, ow};
  g.strides = {p.stride_h, p.stride_w};
  g.dilates = {p.dilation_h - 1, p.dilation_w - 1};
  g.pad_l = {p.pad_h, p.pad_w};
  g.pad_r = {(oh - 1) * p.stride_h + (r - 1) * p.dilation_h + 1 - h - p.pad_h,
             (ow - 1) * p.stride_w + (s - 1) * p.dilation_w + 1 - wd - p.pad_w};
  return g;
}

std::string key_of(ConvKind kind, bool bias, const ConvGeometry& g) {
  std::string k = "conv" + std::to_string(int(kind)) + (bias ? "b" : "");
  for (const memory::dims* d : {&g.src, &g.wei, &g.strides, &g.dilates, &g.pad_l, &g.pad_r})
    for (int64_t v : *d) k += "," + std::to_string(v);
  return k;
}

memory::desc any(const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); }

dnnl::convolution_forward::primitive_desc forward_pd(const ConvGeometry& g, bool bias,
                                                     dnnl::prop_kind prop, bool user_scratchpad) {
  dnnl::convolution_forward::desc d =
      bias ? dnnl::convolution_forward::desc(prop, dnnl::algorithm::convolution_direct, any(g.src),
                                             any(g.wei), plain_md(g.bias), any(g.dst), g.strides,
                                             g.dilates, g.pad_l, g.pad_r)
           : dnnl::convolution_forward::desc(prop, dnnl::algorithm::convolution_direct, any(g.src),
                                             any(g.wei), any(g.dst), g.strides, g.dilates, g.pad_l,
                                             g.pad_r);
  dnnl::primitive_attr attr;
  if (user_scratchpad) attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return dnnl::convolution_forward::primitive_desc(d, attr, engine());
}

// Builds the entry for one problem; a oneDNN refusal is kept as !ok with its reason.
std::shared_ptr<ConvEntry> make_entry(ConvKind kind, bool bias, const ConvGeometry& g) {
  return build_entry<ConvEntry>([&](ConvEntry& e) {
    memory::desc scratch_md;
    if (kind == ConvKind::Forward) {
      auto pd = forward_pd(g, bias, dnnl::prop_kind::forward_training, true);
      e.prim = dnnl::convolution_forward(pd);
      e.impl = pd.impl_info_str();
      e.src = stage(plain_md(g.src), pd.src_desc(), true, false);
      e.wei = stage(plain_md(g.wei), pd.weights_desc(), true, false);
      e.dst = stage(plain_md(g.dst), pd.dst_desc(), false, true);
      scratch_md = pd.scratchpad_desc();
    } else if (kind == ConvKind::BackwardData) {
      auto hint = forward_pd(g, false, dnnl::prop_kind::forward_training, false);
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, any(g.src),
                                              any(g.wei), any(g.dst), g.strides, g.dilates,
                                              g.pad_l, g.pad_r);
      dnnl::convolution_backward_data::primitive_desc pd(d, user_scratchpad_attr(), engine(), hint);
      e.prim = dnnl::convolution_backward_data(pd);
      e.impl = pd.impl_info_str();
      e.dst = stage(plain_md(g.dst), pd.diff_dst_desc(), true, false);
      e.wei = stage(plain_md(g.wei), pd.weights_desc(), true, false);
      e.src = stage(plain_md(g.src), pd.diff_src_desc(), false, true);
      scratch_md = pd.scratchpad_desc();
    } else {
      auto hint = forward_pd(g, false, dnnl::prop_kind::forward_training, false);
      dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, any(g.src),
                                                 any(g.wei), any(g.dst), g.strides, g.dilates,
                                                 g.pad_l, g.pad_r);
      dnnl::convolution_backward_weights::primitive_desc pd(d, user_scratchpad_attr(), engine(),
                                                            hint);
      e.prim = dnnl::convolution_backward_weights(pd);
      e.impl = pd.impl_info_str();
      e.src = stage(plain_md(g.src), pd.src_desc(), true, false);
      e.dst = stage(plain_md(g.dst), pd.diff_dst_desc(), true, false);
      e.wei = stage(plain_md(g.wei), pd.diff_weights_desc(), false, true);
      e.acc = memory(plain_md(g.wei), engine());
      scratch_md = pd.scratchpad_desc();
    }
    e.scratchpad = memory(scratch_md, engine());
  });
}

std::shared_ptr<ConvEntry> entry(PrimitiveCache<ConvEntry>& cache, ConvKind kind, bool bias,
                                 const ConvGeometry& g) {
  return cache.get(key_of(kind, bias, g), [&] { return make_entry(kind, bias, g); });
}

}  // namespace

void OneDnnBackend::conv_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                                 const Conv2dParams& p, bool relu, Tensor& y) {
  const ConvGeometry g = geometry(x, w, p);
  // One primitive for both: the ReLU is not part of it.
  const bool ran = execute_entry(
      routes_, relu ? Op::Conv2dBiasReLU : Op::Conv2d, entry(*conv_cache_, ConvKind::Forward, b, g),
      "convolution forward",
      [&](ConvEntry& e) {
        memory src = stage_in(e.src, wrap(x, g.src));
        memory wei = stage_in(e.wei, wrap(w, g.wei));
        memory dst_plain = wrap(y, g.dst);
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src},
                                             {DNNL_ARG_WEIGHTS, wei},
                                             {DNNL_ARG_DST, out_target(e.dst, dst_plain)},
                                             {DNNL_ARG_SCRATCHPAD, e.scratchpad}};
        if (b) args.emplace(DNNL_ARG_BIAS, wrap(*b, g.bias));
        e.prim.execute(stream(), args);
        stage_out(e.dst, dst_plain);
      },
      [&](ConvEntry&) {
        if (relu) relu_in_place(y);
      },
      relu ? kOurRelu : "");
  if (ran) return;
  if (relu)
    guarded()->conv2d_bias_relu_forward(x, w, b, p, y);
  else
    guarded()->conv2d_forward(x, w, b, p, y);
}

void OneDnnBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                                   const Conv2dParams& p, Tensor& y) {
  conv_forward(x, w, b, p, false, y);
}
void OneDnnBackend::conv2d_bias_relu_forward(const Tensor& x, const Tensor& w, const Tensor* b,
                                             const Conv2dParams& p, Tensor& y) {
  conv_forward(x, w, b, p, true, y);
}

void OneDnnBackend::conv2d_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p,
                                         Tensor& dx) {
  const ConvGeometry g = geometry(dx, w, p);
  const bool ran = execute_entry(
      routes_, Op::Conv2d, entry(*conv_cache_, ConvKind::BackwardData, false, g),
      "convolution backward data", [&](ConvEntry& e) {
        memory diff_dst = stage_in(e.dst, wrap(dy, g.dst));
        memory wei = stage_in(e.wei, wrap(w, g.wei));
        memory diff_src_plain = wrap(dx, g.src);
        e.prim.execute(stream(), {{DNNL_ARG_DIFF_DST, diff_dst},
                                  {DNNL_ARG_WEIGHTS, wei},
                                  {DNNL_ARG_DIFF_SRC, out_target(e.src, diff_src_plain)},
                                  {DNNL_ARG_SCRATCHPAD, e.scratchpad}});
        stage_out(e.src, diff_src_plain);
      });
  if (!ran) guarded()->conv2d_backward_data(dy, w, p, dx);
}

void OneDnnBackend::conv2d_backward_filter(const Tensor& x, const Tensor& dy, const Conv2dParams& p,
                                           Tensor& dw, bool accumulate) {
  const ConvGeometry g = geometry(x, dw, p);
  const bool ran = execute_entry(
      routes_, Op::Conv2d, entry(*conv_cache_, ConvKind::BackwardWeights, false, g),
      "convolution backward weights",
      [&](ConvEntry& e) {
        memory src = stage_in(e.src, wrap(x, g.src));
        memory diff_dst = stage_in(e.dst, wrap(dy, g.dst));
        // With accumulate the result lands in the entry's plain buffer and is added after.
        memory plain = accumulate ? e.acc : wrap(dw, g.wei);
        e.prim.execute(stream(), {{DNNL_ARG_SRC, src},
                                  {DNNL_ARG_DIFF_DST, diff_dst},
                                  {DNNL_ARG_DIFF_WEIGHTS, out_target(e.wei, plain)},
                                  {DNNL_ARG_SCRATCHPAD, e.scratchpad}});
        stage_out(e.wei, plain);
      },
      [&](ConvEntry& e) {
        if (!accumulate) return;
        const float* add = floats(e.acc);
        float* out = dw.data<float>();
        for (int64_t i = 0, n = dw.numel(); i < n; ++i) out[i] += add[i];
      });
  if (!ran) guarded()->conv2d_backward_filter(x, dy, p, dw, accumulate);
}

}  // namespace convnet::onednn
