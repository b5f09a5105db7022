// The one translation unit that includes cudnn_frontend.h (see conv_graphs.hpp).
//
// Each problem becomes a small graph: conv_fprop (plus a bias ADD and a
// RELU_FWD pointwise node when fused), conv_dgrad or conv_wgrad, every tensor
// NCHW with explicit strides (the frontend's default for outputs is NHWC).
// Plans: heuristics mode A, then the fallback list; engines whose numerical
// notes break the settings are removed (TF32 tensor cores or down-converted
// inputs under MathMode::FP32, NONDETERMINISTIC under deterministic()), and so
// are plans needing more workspace than the cap. Autotuning builds every
// remaining plan and keeps the fastest on the first call for a shape.
#include "cudnn/conv_graphs.hpp"

#include <cudnn_frontend.h>

#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "convnet/error.hpp"

namespace convnet::cudnn {
namespace fe = cudnn_frontend;

namespace {

// Tensor uids in every graph's variant pack.
constexpr int64_t kX = 1, kW = 2, kB = 3, kY = 4;

std::vector<int64_t> nchw_strides(int64_t c, int64_t h, int64_t w) { return {c * h * w, h * w, w, 1}; }

const char* op_name(ConvOp op) {
  switch (op) {
    case ConvOp::Forward: return "forward";
    case ConvOp::ForwardBias: return "forward_bias";
    case ConvOp::ForwardRelu: return "forward_relu";
    case ConvOp::ForwardBiasRelu: return "forward_bias_relu";
    case ConvOp::BackwardData: return "backward_data";
    case ConvOp::BackwardFilter: return "backward_filter";
  }
  return "?";
}

struct Entry {
  std::shared_ptr<fe::graph::Graph> graph;  // null: cuDNN has no plan, fall back
  int64_t workspace = 0;
  bool tuned = false;  // autotune ran (it needs real pointers, so on the first run)
  std::string reason;  // why there is no graph
};

// Builds the graph of `key`; leaves entry.graph null (with the reason) when
// cuDNN cannot run it under the settings.
Entry build(cudnnHandle_t handle, const ConvKey& key, int64_t workspace_cap) {
  Entry entry;
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(fe::DataType_t::FLOAT)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  const int64_t p = conv2d_output_size(key.h, static_cast<int>(key.r), key.p.stride_h,
                                       key.p.pad_h, key.p.dilation_h);
  const int64_t q = conv2d_output_size(key.w, static_cast<int>(key.s), key.p.stride_w,
                                       key.p.pad_w, key.p.dilation_w);
  auto tensor = [&](const char* name, int64_t uid, std::vector<int64_t> dims) {
    return g->tensor(fe::graph::Tensor_attributes()
                         .set_name(name)
                         .set_uid(uid)
                         .set_dim(dims)
                         .set_stride(nchw_strides(dims[1], dims[2], dims[3]))
                         .set_alignment(key.alignment)
                         .set_data_type(fe::DataType_t::FLOAT));
  };
  auto finish_output = [&](const std::shared_ptr<fe::graph::Tensor_attributes>& t, int64_t uid,
                           std::vector<int64_t> dims) {
    t->set_output(true).set_uid(uid).set_dim(dims).set_data_type(fe::DataType_t::FLOAT)
        .set_stride(nchw_strides(dims[1], dims[2], dims[3]));  // not the NHWC default
  };
  const std::vector<int64_t> padding{key.p.pad_h, key.p.pad_w}, stride{key.p.stride_h, key.p.stride_w},
      dilation{key.p.dilation_h, key.p.dilation_w};
  const std::vector<int64_t> x_dims{key.n, key.c, key.h, key.w}, w_dims{key.k, key.c, key.r, key.s},
      y_dims{key.n, key.k, p, q};
  // The three convolution nodes take the same geometry.
  auto geometry = [&](auto attributes, const char* name) {
    return attributes.set_name(name).set_padding(padding).set_stride(stride).set_dilation(dilation)
        .set_compute_data_type(fe::DataType_t::FLOAT);
  };

  switch (key.op) {
    case ConvOp::Forward:
    case ConvOp::ForwardBias:
    case ConvOp::ForwardRelu:
    case ConvOp::ForwardBiasRelu: {
      auto x = tensor("x", kX, x_dims), w = tensor("w", kW, w_dims);
      auto y = g->conv_fprop(x, w, geometry(fe::graph::Conv_fprop_attributes(), "conv"));
      if (key.op == ConvOp::ForwardBias || key.op == ConvOp::ForwardBiasRelu) {
        auto b = g->tensor(fe::graph::Tensor_attributes()
                               .set_name("b")
                               .set_uid(kB)
                               .set_dim({1, key.k, 1, 1})
                               .set_stride({key.k, 1, 1, 1})
                               .set_alignment(key.alignment)
                               .set_data_type(fe::DataType_t::FLOAT));
        y = g->pointwise(y, b, fe::graph::Pointwise_attributes()
                                   .set_name("bias")
                                   .set_mode(fe::PointwiseMode_t::ADD)
                                   .set_compute_data_type(fe::DataType_t::FLOAT));
      }
      if (key.op == ConvOp::ForwardRelu || key.op == ConvOp::ForwardBiasRelu) {
        y = g->pointwise(y, fe::graph::Pointwise_attributes()
                                .set_name("relu")
                                .set_mode(fe::PointwiseMode_t::RELU_FWD)
                                .set_compute_data_type(fe::DataType_t::FLOAT));
      }
      finish_output(y, kY, y_dims);
      break;
    }
    case ConvOp::BackwardData: {
      auto dy = tensor("dy", kY, y_dims), w = tensor("w", kW, w_dims);
      auto dx = g->conv_dgrad(dy, w, geometry(fe::graph::Conv_dgrad_attributes(), "dgrad"));
      finish_output(dx, kX, x_dims);
      break;
    }
    case ConvOp::BackwardFilter: {
      auto dy = tensor("dy", kY, y_dims), x = tensor("x", kX, x_dims);
      auto dw = g->conv_wgrad(dy, x, geometry(fe::graph::Conv_wgrad_attributes(), "wgrad"));
      finish_output(dw, kW, w_dims);
      break;
    }
  }

  auto refuse = [&](const char* step, fe::error_t status) {
    entry.reason = std::string(step) + ": " + status.get_message();
    return entry;
  };
  if (auto s = g->validate(); s.is_bad()) return refuse("validate", s);
  if (auto s = g->build_operation_graph(handle); s.is_bad()) return refuse("operation graph", s);
  if (auto s = g->create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK}); s.is_bad())
    return refuse("heuristics", s);
  if (key.math == MathMode::FP32)
    g->deselect_numeric_notes({fe::NumericalNote_t::TENSOR_CORE,
                               fe::NumericalNote_t::DOWN_CONVERT_INPUTS,
                               fe::NumericalNote_t::REDUCED_PRECISION_REDUCTION});
  if (key.deterministic) g->deselect_numeric_notes({fe::NumericalNote_t::NONDETERMINISTIC});
  g->deselect_workspace_greater_than(workspace_cap);
  if (auto s = g->check_support(handle); s.is_bad()) return refuse("support", s);
  const auto policy = key.autotune ? fe::BuildPlanPolicy_t::ALL : fe::BuildPlanPolicy_t::HEURISTICS_CHOICE;
  if (auto s = g->build_plans(handle, policy); s.is_bad()) return refuse("build plans", s);
  entry.workspace = key.autotune ? g->get_autotune_workspace_size() : g->get_workspace_size();
  entry.graph = std::move(g);
  return entry;
}

std::unordered_map<int64_t, void*> variant_pack(const ConvKey& key, const ConvOperands& o) {
  std::unordered_map<int64_t, void*> pack{{kX, o.x}, {kW, o.w}, {kY, o.y}};
  if (key.op == ConvOp::ForwardBias || key.op == ConvOp::ForwardBiasRelu) pack[kB] = o.b;
  return pack;
}

}  // namespace

std::string describe(const ConvKey& k) {
  std::ostringstream os;
  os << op_name(k.op) << " n" << k.n << " c" << k.c << " " << k.h << "x" << k.w << " k" << k.k
     << " " << k.r << "x" << k.s << " stride " << k.p.stride_h << "x" << k.p.stride_w << " pad "
     << k.p.pad_h << "x" << k.p.pad_w << " dil " << k.p.dilation_h << "x" << k.p.dilation_w << " "
     << math_mode_name(k.math) << (k.deterministic ? " deterministic" : "")
     << (k.autotune ? " autotuned" : "") << " align " << k.alignment;
  return os.str();
}

struct ConvGraphs::Impl {
  Impl(size_t capacity, int64_t cap) : cache(capacity), workspace_cap(cap) {}
  std::mutex mutex;
  LruCache<ConvKey, std::shared_ptr<Entry>, ConvKeyHash> cache;
  int64_t workspace_cap;
  size_t built = 0, unsupported = 0;
  std::string last_unsupported;
};

ConvGraphs::ConvGraphs(size_t capacity, int64_t workspace_cap)
    : impl_(std::make_unique<Impl>(capacity, workspace_cap)) {}
ConvGraphs::~ConvGraphs() = default;

bool ConvGraphs::run(cudnnHandle_t handle, const ConvKey& key, const ConvOperands& operands,
                     const std::function<void*(size_t)>& workspace) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (std::shared_ptr<Entry>* found = impl_->cache.find(key)) {
      entry = *found;
    } else {
      Entry built;
      try {
        built = build(handle, key, impl_->workspace_cap);
      } catch (const std::exception& e) {  // the frontend throws on some malformed graphs
        built.graph.reset();
        built.reason = e.what();
      }
      if (built.graph) {
        ++impl_->built;
      } else {
        ++impl_->unsupported;
        impl_->last_unsupported = describe(key) + ": " + built.reason;
      }
      entry = impl_->cache.insert(key, std::make_shared<Entry>(std::move(built)));
    }
    if (!entry->graph) return false;
    std::unordered_map<int64_t, void*> pack = variant_pack(key, operands);
    void* ws = entry->workspace > 0 ? workspace(static_cast<size_t>(entry->workspace)) : nullptr;
    if (key.autotune && !entry->tuned) {
      // Times every built plan on these operands (it synchronises the device:
      // once per shape, before any graph capture) and keeps the fastest.
      if (auto s = entry->graph->autotune(handle, pack, ws); s.is_bad())
        CONVNET_FAIL("cuDNN autotune of ", describe(key), " failed: ", s.get_message());
      entry->tuned = true;
    }
    if (auto s = entry->graph->execute(handle, pack, ws); s.is_bad())
      CONVNET_FAIL("cuDNN ", describe(key), " failed to execute: ", s.get_message());
  }
  return true;
}

ConvGraphStats ConvGraphs::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  ConvGraphStats s;
  s.built = impl_->built;
  s.unsupported = impl_->unsupported;
  s.cached = impl_->cache.size();
  s.hits = impl_->cache.hits();
  s.evictions = impl_->cache.evictions();
  s.last_unsupported = impl_->last_unsupported;
  return s;
}

}  // namespace convnet::cudnn
