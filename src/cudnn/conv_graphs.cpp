// The one translation unit that includes cudnn_frontend.h (see conv_graphs.hpp).
//
// Each problem becomes a small graph: conv_fprop (plus a bias ADD and a
// RELU_FWD pointwise node when fused), conv_dgrad or conv_wgrad, every tensor
// NCHW with explicit strides (the frontend's default for outputs is NHWC).
// Plans: heuristics mode A, then the fallback list; engines whose numerical
// notes break the settings are removed (TF32 tensor cores, down-converted
// inputs, FFT and Winograd under MathMode::FP32, NONDETERMINISTIC under
// deterministic()), and so are plans needing more workspace than the cap.
// Autotuning builds every remaining plan and keeps the fastest on the first
// call for a shape. An evicted plan dies only after its stream has passed its
// last use (retire_queue.hpp).
#include "cudnn/conv_graphs.hpp"

#include <cuda_runtime.h>
#include <cudnn_frontend.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include "convnet/error.hpp"
#include "cudnn/conv_route.hpp"
#include "cudnn/event_fence.hpp"
#include "cudnn/retire_queue.hpp"

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
  std::string engine;  // the chosen plan's engine name (get_plan_name)
  int device = 0;
  cudaStream_t stream = nullptr;  // where it last ran: its eviction fence goes there
};

bool log_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("CONVNET_CUDNN_LOG");
    return v && std::strcmp(v, "1") == 0;
  }();
  return on;
}

std::string plan_name(const fe::graph::Graph& g) {
  std::string name;
  return g.get_plan_name(name).is_good() ? name : "(unnamed)";
}

// The alignment the key records for the tensor with this uid.
int64_t alignment_for(const ConvKey& key, int64_t uid) {
  switch (uid) {
    case kX: return key.align_x;
    case kW: return key.align_w;
    case kB: return key.align_b;
    default: return key.align_y;
  }
}

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
                         .set_alignment(alignment_for(key, uid))
                         .set_data_type(fe::DataType_t::FLOAT));
  };
  // Outputs get their alignment too: the key records the output pointer's, and
  // a plan chosen for a 16-byte-aligned output must not run on a 4-byte one.
  auto finish_output = [&](const std::shared_ptr<fe::graph::Tensor_attributes>& t, int64_t uid,
                           std::vector<int64_t> dims) {
    t->set_output(true).set_uid(uid).set_dim(dims).set_data_type(fe::DataType_t::FLOAT)
        .set_stride(nchw_strides(dims[1], dims[2], dims[3]))  // not the NHWC default
        .set_alignment(alignment_for(key, uid));
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
      if (has_bias(key.op)) {
        auto b = g->tensor(fe::graph::Tensor_attributes()
                               .set_name("b")
                               .set_uid(kB)
                               .set_dim({1, key.k, 1, 1})
                               .set_stride({key.k, 1, 1, 1})
                               .set_alignment(key.align_b)
                               .set_data_type(fe::DataType_t::FLOAT));
        y = g->pointwise(y, b, fe::graph::Pointwise_attributes()
                                   .set_name("bias")
                                   .set_mode(fe::PointwiseMode_t::ADD)
                                   .set_compute_data_type(fe::DataType_t::FLOAT));
      }
      if (has_relu(key.op)) {
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
  // FP32 keeps the 1e-5 norm-wise parity bound: no TF32 tensor cores or
  // down-converted inputs, and no FFT or Winograd either. Those transform the
  // input and filter, and the transform's rounding (growing with the tile: 4x4,
  // 6x6, 13x13, and with the FFT size) can exceed 1e-5 in float32. TF32 keeps
  // them: its 5e-3 bound covers their error.
  if (key.math == MathMode::FP32)
    g->deselect_numeric_notes({fe::NumericalNote_t::TENSOR_CORE,
                               fe::NumericalNote_t::DOWN_CONVERT_INPUTS,
                               fe::NumericalNote_t::REDUCED_PRECISION_REDUCTION,
                               fe::NumericalNote_t::FFT, fe::NumericalNote_t::WINOGRAD,
                               fe::NumericalNote_t::WINOGRAD_TILE_4x4,
                               fe::NumericalNote_t::WINOGRAD_TILE_6x6,
                               fe::NumericalNote_t::WINOGRAD_TILE_13x13});
  if (key.deterministic) g->deselect_numeric_notes({fe::NumericalNote_t::NONDETERMINISTIC});
  g->deselect_workspace_greater_than(workspace_cap);
  if (auto s = g->check_support(handle); s.is_bad()) return refuse("support", s);
  const auto policy = key.autotune ? fe::BuildPlanPolicy_t::ALL : fe::BuildPlanPolicy_t::HEURISTICS_CHOICE;
  if (auto s = g->build_plans(handle, policy); s.is_bad()) return refuse("build plans", s);
  entry.workspace = key.autotune ? g->get_autotune_workspace_size() : g->get_workspace_size();
  entry.engine = plan_name(*g);
  entry.graph = std::move(g);
  return entry;
}

std::unordered_map<int64_t, void*> variant_pack(const ConvKey& key, const ConvOperands& o) {
  std::unordered_map<int64_t, void*> pack{{kX, o.x}, {kW, o.w}, {kY, o.y}};
  if (has_bias(key.op)) pack[kB] = o.b;
  return pack;
}

}  // namespace

std::string describe(const ConvKey& k) {
  std::ostringstream os;
  os << op_name(k.op) << " n" << k.n << " c" << k.c << " " << k.h << "x" << k.w << " k" << k.k
     << " " << k.r << "x" << k.s << " stride " << k.p.stride_h << "x" << k.p.stride_w << " pad "
     << k.p.pad_h << "x" << k.p.pad_w << " dil " << k.p.dilation_h << "x" << k.p.dilation_w << " "
     << math_mode_name(k.math) << (k.deterministic ? " deterministic" : "")
     << (k.autotune ? " autotuned" : "") << " align x" << k.align_x << " w" << k.align_w;
  if (has_bias(k.op)) os << " b" << k.align_b;
  os << " y" << k.align_y;
  return os.str();
}

struct ConvGraphs::Impl {
  using Value = std::shared_ptr<Entry>;
  Impl(size_t capacity, int64_t cap) : cache(capacity), workspace_cap(cap) {}
  // At exit CUDA may be gone: plans still fenced are leaked, not destroyed unsafely.
  ~Impl() { retired.leak_pending(); }

  // Plans that ran are kept until their stream passes this point; the others die now.
  void retire(std::vector<Value>& dropped) {
    for (Value& e : dropped) {
      if (!e->graph || !e->stream) continue;
      EventFence fence(e->stream, e->device);
      retired.retire(std::move(e), std::move(fence));
    }
    dropped.clear();
  }

  std::mutex mutex;
  LruCache<ConvKey, Value, ConvKeyHash> cache;
  RetireQueue<Value, EventFence> retired;
  int64_t workspace_cap;
  size_t built = 0, unsupported = 0;
  std::string last_unsupported;
};

ConvGraphs::ConvGraphs(size_t capacity, int64_t workspace_cap)
    : impl_(std::make_unique<Impl>(capacity, workspace_cap)) {}
ConvGraphs::~ConvGraphs() = default;

bool ConvGraphs::run(cudnnHandle_t handle, cudaStream_t stream, const ConvKey& key,
                     const ConvOperands& operands, const std::function<void*(size_t)>& workspace) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->retired.poll();
  std::shared_ptr<Entry> entry;
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
    built.device = key.device;
    if (built.graph) {
      ++impl_->built;
      if (log_enabled())
        std::fprintf(stderr, "[convnet cudnn] plan %s -> %s (workspace %lld bytes)\n",
                     describe(key).c_str(), built.engine.c_str(),
                     static_cast<long long>(built.workspace));
    } else {
      ++impl_->unsupported;
      impl_->last_unsupported = describe(key) + ": " + built.reason;
      if (log_enabled())
        std::fprintf(stderr, "[convnet cudnn] no plan for %s\n", impl_->last_unsupported.c_str());
    }
    std::vector<std::shared_ptr<Entry>> dropped;
    entry = impl_->cache.insert(key, std::make_shared<Entry>(std::move(built)), &dropped);
    impl_->retire(dropped);
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
    entry->engine = plan_name(*entry->graph);
    if (log_enabled())
      std::fprintf(stderr, "[convnet cudnn] autotuned %s -> %s\n", describe(key).c_str(),
                   entry->engine.c_str());
  }
  entry->stream = stream;  // before execute: a failed launch may still have queued work
  if (auto s = entry->graph->execute(handle, pack, ws); s.is_bad())
    CONVNET_FAIL("cuDNN ", describe(key), " failed to execute: ", s.get_message());
  return true;
}

size_t ConvGraphs::set_capacity(size_t capacity) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const size_t previous = impl_->cache.capacity();
  std::vector<std::shared_ptr<Entry>> dropped;
  impl_->cache.set_capacity(capacity, &dropped);
  impl_->retire(dropped);
  return previous;
}

ConvGraphStats ConvGraphs::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  ConvGraphStats s;
  s.built = impl_->built;
  s.unsupported = impl_->unsupported;
  s.cached = impl_->cache.size();
  s.hits = impl_->cache.hits();
  s.evictions = impl_->cache.evictions();
  s.retiring = impl_->retired.size();
  s.last_unsupported = impl_->last_unsupported;
  impl_->cache.for_each([&s](const ConvKey& key, const std::shared_ptr<Entry>& e) {
    if (e->graph) s.plans.push_back(describe(key) + " -> " + e->engine);
  });
  return s;
}

}  // namespace convnet::cudnn
