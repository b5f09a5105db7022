// Batch normalization on oneDNN: training forward (batch statistics), inference
// forward (given statistics) and backward, on plain NCHW or [N, C] tensors.
// oneDNN's statistics are the batch mean and the biased variance; the parts of
// our contract it does not have are done here around the primitive:
// save_invstd, the running statistics (unbiased variance, momentum), the
// accumulation of the parameter gradients and the fused ReLU (relu_in_place:
// oneDNN's fuse_norm_relu would turn NaN into 0).
#include <algorithm>
#include <cmath>
#include <string>

#include "onednn/onednn_backend.hpp"
#include "onednn/onednn_entries.hpp"
#include "onednn/primitive_cache.hpp"

namespace convnet::onednn {
namespace {

using dnnl::normalization_flags;

enum class BnKind { Train, Inference, Backward };

normalization_flags flags_of(bool scale, bool shift, bool global_stats) {
  auto f = normalization_flags::none;
  if (scale) f = f | normalization_flags::use_scale;
  if (shift) f = f | normalization_flags::use_shift;
  if (global_stats) f = f | normalization_flags::use_global_stats;
  return f;
}

dnnl::batch_normalization_forward::primitive_desc forward_pd(const memory::dims& dims, float eps,
                                                             normalization_flags flags,
                                                             dnnl::prop_kind prop) {
  dnnl::batch_normalization_forward::desc d(prop, plain_md(dims), eps, flags);
  return dnnl::batch_normalization_forward::primitive_desc(d, user_scratchpad_attr(), engine());
}

// The primitive must read and write our plain tensors as they are; oneDNN
// picks the layout of nothing here, but say so loudly if it ever did.
void require_plain(const memory::desc& got, const memory::dims& dims, const char* what) {
  if (got != plain_md(dims))
    throw dnnl::error(dnnl_unimplemented, (std::string(what) + " is not plain").c_str());
}

// scale/shift: the affine parameters the primitive reads (forward) or whose
// gradients it writes (backward: both or neither).
std::shared_ptr<NormEntry> make_entry(BnKind kind, const memory::dims& dims, float eps, bool scale,
                                      bool shift) {
  return build_entry<NormEntry>([&](NormEntry& e) {
    const memory::dims channels{dims[1]};
    memory::desc scratch_md;
    if (kind == BnKind::Backward) {
      const normalization_flags flags = flags_of(scale, shift, false);
      auto hint = forward_pd(dims, eps, flags, dnnl::prop_kind::forward_training);
      dnnl::batch_normalization_backward::desc d(
          scale ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data, plain_md(dims),
          plain_md(dims), eps, flags);
      dnnl::batch_normalization_backward::primitive_desc pd(d, user_scratchpad_attr(), engine(),
                                                            hint);
      require_plain(pd.src_desc(), dims, "src");
      require_plain(pd.diff_src_desc(), dims, "diff_src");
      require_plain(pd.mean_desc(), channels, "mean");
      e.prim = dnnl::batch_normalization_backward(pd);
      e.impl = pd.impl_info_str();
      e.variance = memory(plain_md(channels), engine());
      e.diff_scale = memory(plain_md(channels), engine());
      e.diff_shift = memory(plain_md(channels), engine());
      e.shift = memory(plain_md(channels), engine());
      std::fill(floats(e.shift), floats(e.shift) + dims[1], 0.f);
      scratch_md = pd.scratchpad_desc();
    } else {
      const bool train = kind == BnKind::Train;
      auto pd = forward_pd(dims, eps, flags_of(scale, shift, !train),
                           train ? dnnl::prop_kind::forward_training
                                 : dnnl::prop_kind::forward_inference);
      require_plain(pd.src_desc(), dims, "src");
      require_plain(pd.dst_desc(), dims, "dst");
      require_plain(pd.mean_desc(), channels, "mean");
      e.prim = dnnl::batch_normalization_forward(pd);
      e.impl = pd.impl_info_str();
      if (train) e.variance = memory(plain_md(channels), engine());
      scratch_md = pd.scratchpad_desc();
    }
    e.scratchpad = memory(scratch_md, engine());
  });
}

std::shared_ptr<NormEntry> entry(PrimitiveCache<NormEntry>& cache, BnKind kind,
                                 const memory::dims& dims, float eps, bool scale, bool shift) {
  const std::string key = "bn" + std::to_string(int(kind)) + (scale ? "s" : "") +
                          (shift ? "h" : "") + "," + bits_key(eps) + dims_key(dims);
  return cache.get(key, [&] { return make_entry(kind, dims, eps, scale, shift); });
}

}  // namespace

void OneDnnBackend::batch_norm_forward_train(const Tensor& x, const Tensor* w, const Tensor* b,
                                             Tensor* running_mean, Tensor* running_var,
                                             float momentum, float eps, bool relu, Tensor& y,
                                             Tensor& save_mean, Tensor& save_invstd) {
  const memory::dims dims = dims_of(x);
  const memory::dims channels{dims[1]};
  const bool ran = execute_entry(
      routes_, relu ? Op::BatchNormReLU : Op::BatchNorm,
      x.numel() ? entry(*norm_cache_, BnKind::Train, dims, eps, w, b) : nullptr,
      "batch normalization forward (training)",
      [&](NormEntry& e) {
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(x, dims)},
                                             {DNNL_ARG_DST, wrap(y, dims)},
                                             {DNNL_ARG_MEAN, wrap(save_mean, channels)},
                                             {DNNL_ARG_VARIANCE, e.variance},
                                             {DNNL_ARG_SCRATCHPAD, e.scratchpad}};
        if (w) args.emplace(DNNL_ARG_SCALE, wrap(*w, channels));
        if (b) args.emplace(DNNL_ARG_SHIFT, wrap(*b, channels));
        e.prim.execute(stream(), args);
      },
      [&](NormEntry& e) {
        // The per-channel arithmetic in double, as the reference does it.
        const double count = double(x.numel() / dims[1]);
        const float* var = floats(e.variance);
        const float* mean = save_mean.data<float>();
        float* invstd = save_invstd.data<float>();
        float* rm = running_mean ? running_mean->data<float>() : nullptr;
        float* rv = running_var ? running_var->data<float>() : nullptr;
        const double m = momentum;
        for (int64_t c = 0; c < dims[1]; ++c) {
          invstd[c] = static_cast<float>(1.0 / std::sqrt(double(var[c]) + double(eps)));
          if (rm) {
            rm[c] = static_cast<float>((1.0 - m) * rm[c] + m * mean[c]);
            rv[c] = static_cast<float>((1.0 - m) * rv[c] + m * var[c] * count / (count - 1.0));
          }
        }
        if (relu) relu_in_place(y);
      },
      relu ? kOurRelu : "");
  if (!ran)
    guarded()->batch_norm_forward_train(x, w, b, running_mean, running_var, momentum, eps, relu,
                                        y, save_mean, save_invstd);
}

void OneDnnBackend::batch_norm_forward_inference(const Tensor& x, const Tensor* w, const Tensor* b,
                                                 const Tensor& mean, const Tensor& var, float eps,
                                                 bool relu, Tensor& y) {
  const memory::dims dims = dims_of(x);
  const memory::dims channels{dims[1]};
  const bool ran = execute_entry(
      routes_, relu ? Op::BatchNormReLU : Op::BatchNorm,
      x.numel() ? entry(*norm_cache_, BnKind::Inference, dims, eps, w, b) : nullptr,
      "batch normalization forward (inference)",
      [&](NormEntry& e) {
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(x, dims)},
                                             {DNNL_ARG_DST, wrap(y, dims)},
                                             {DNNL_ARG_MEAN, wrap(mean, channels)},
                                             {DNNL_ARG_VARIANCE, wrap(var, channels)},
                                             {DNNL_ARG_SCRATCHPAD, e.scratchpad}};
        if (w) args.emplace(DNNL_ARG_SCALE, wrap(*w, channels));
        if (b) args.emplace(DNNL_ARG_SHIFT, wrap(*b, channels));
        e.prim.execute(stream(), args);
      },
      [&](NormEntry&) {
        if (relu) relu_in_place(y);
      },
      relu ? kOurRelu : "");
  if (!ran) guarded()->batch_norm_forward_inference(x, w, b, mean, var, eps, relu, y);
}

void OneDnnBackend::batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* w,
                                        const Tensor& save_mean, const Tensor& save_invstd,
                                        Tensor& dx, Tensor* dw, Tensor* db, bool accumulate) {
  const memory::dims dims = dims_of(x);
  const memory::dims channels{dims[1]};
  // Our backward takes no eps: it has save_invstd. oneDNN's takes the variance
  // and an eps and computes 1 / sqrt(variance + eps); with eps = 0 and
  // variance = 1 / invstd^2 (the forward's var + eps) that gives back invstd to
  // an ulp, with no cancellation where var << eps. Deriving it, rather than
  // keeping the forward's variance, leaves backward a function of its
  // arguments alone (save_invstd may come from another backend or a checkpoint).
  constexpr float kEps = 0.f;
  const bool affine = w != nullptr;
  const bool ran = execute_entry(
      routes_, Op::BatchNorm,
      x.numel() ? entry(*norm_cache_, BnKind::Backward, dims, kEps, affine, affine) : nullptr,
      "batch normalization backward",
      [&](NormEntry& e) {
        float* var = floats(e.variance);
        const float* invstd = save_invstd.data<float>();
        for (int64_t c = 0; c < dims[1]; ++c)
          var[c] = static_cast<float>(1.0 / (double(invstd[c]) * invstd[c]));
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(x, dims)},
                                             {DNNL_ARG_DIFF_DST, wrap(dy, dims)},
                                             {DNNL_ARG_MEAN, wrap(save_mean, channels)},
                                             {DNNL_ARG_VARIANCE, e.variance},
                                             {DNNL_ARG_DIFF_SRC, wrap(dx, dims)},
                                             {DNNL_ARG_SCRATCHPAD, e.scratchpad}};
        if (affine) {
          args.emplace(DNNL_ARG_SCALE, wrap(*w, channels));
          args.emplace(DNNL_ARG_SHIFT, e.shift);
          // Straight into ours when overwriting; into the entry's, then added, when accumulating.
          args.emplace(DNNL_ARG_DIFF_SCALE, dw && !accumulate ? wrap(*dw, channels) : e.diff_scale);
          args.emplace(DNNL_ARG_DIFF_SHIFT, db && !accumulate ? wrap(*db, channels) : e.diff_shift);
        }
        e.prim.execute(stream(), args);
      },
      [&](NormEntry& e) {
        if (!affine || !accumulate) return;
        const float* ds = floats(e.diff_scale);
        const float* dh = floats(e.diff_shift);
        for (int64_t c = 0; c < dims[1]; ++c) {
          if (dw) dw->data<float>()[c] += ds[c];
          if (db) db->data<float>()[c] += dh[c];
        }
      });
  if (!ran)
    guarded()->batch_norm_backward(x, dy, w, save_mean, save_invstd, dx, dw, db, accumulate);
}

}  // namespace convnet::onednn
