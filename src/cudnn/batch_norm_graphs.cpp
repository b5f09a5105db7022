// Batch normalization as cuDNN graphs (see batch_norm_graphs.hpp).
//
// Each key becomes one small graph, every tensor with explicit strides (the
// frontend's default for outputs and per-channel tensors is NHWC): data tensors
// NCHW, channel tensors [1,C,1,1] packed.
//   Train*:     batchnorm(x, scale, bias; epsilon, and with running stats
//               prev mean/var + momentum) -> y, mean, inv_variance (+ next
//               running mean/var); TrainRelu adds a RELU_FWD pointwise node on y.
//   Inference*: batchnorm_inference(x, mean, inv_variance, scale, bias) -> y
//               (+ RELU_FWD).
//   Backward:   batchnorm_backward(dy, x, scale; saved mean, inv_variance)
//               -> dx, dscale, dbias.
// epsilon and momentum are pass-by-value scalars (part of the key). Plans:
// heuristics mode A, then the fallback list; under MathMode::FP32 engines that
// down-convert inputs or reduce in reduced precision are removed, and so are
// plans needing more workspace than the cap. No autotuning: normalisation
// engines are few and bandwidth-bound. NCHW is not the layout NVIDIA's samples
// use (they are all NHWC, half precision), so cuDNN may refuse here; the caller
// then falls back (batch_norm_route.hpp). Evicted plans die only after their
// stream has passed their last use (event_fence.hpp, retire_queue.hpp).
#include "cudnn/batch_norm_graphs.hpp"

#include <cuda_runtime.h>
#include <cudnn_frontend.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "convnet/error.hpp"
#include "cudnn/event_fence.hpp"
#include "cudnn/plan_cache.hpp"
#include "cudnn/retire_queue.hpp"

namespace convnet::cudnn {
namespace fe = cudnn_frontend;

namespace {

// Tensor uids in the variant pack (the pass-by-value scalars get free ones).
constexpr int64_t kX = 1, kY = 2, kScale = 3, kBias = 4, kMean = 5, kInvStd = 6, kPrevMean = 7,
                  kPrevVar = 8, kNextMean = 9, kNextVar = 10, kDy = 11, kDx = 12, kDScale = 13,
                  kDBias = 14;

struct Entry {
  std::shared_ptr<fe::graph::Graph> graph;  // null: cuDNN has no plan, fall back
  int64_t workspace = 0;
  std::string reason;  // why there is no graph
  std::string engine;  // the chosen plan's engine name
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

using TensorPtr = std::shared_ptr<fe::graph::Tensor_attributes>;

// Builds the graph of `key`; leaves entry.graph null (with the reason) when
// cuDNN cannot run it under the settings.
Entry build(cudnnHandle_t handle, const BnKey& key, int64_t workspace_cap) {
  Entry entry;
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(fe::DataType_t::FLOAT)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  const std::vector<int64_t> data_dims{key.n, key.c, key.h, key.w},
      data_strides{key.c * key.h * key.w, key.h * key.w, key.w, 1}, channel_dims{1, key.c, 1, 1},
      channel_strides{key.c, 1, 1, 1};
  auto input = [&](const char* name, int64_t uid, bool data) {
    return g->tensor(fe::graph::Tensor_attributes()
                         .set_name(name)
                         .set_uid(uid)
                         .set_dim(data ? data_dims : channel_dims)
                         .set_stride(data ? data_strides : channel_strides)
                         .set_alignment(data ? key.align_data : key.align_channel)
                         .set_data_type(fe::DataType_t::FLOAT));
  };
  // Outputs get explicit strides (not the NHWC default) and the key's alignment.
  auto output = [&](const TensorPtr& t, int64_t uid, bool data) {
    t->set_output(true)
        .set_uid(uid)
        .set_dim(data ? data_dims : channel_dims)
        .set_stride(data ? data_strides : channel_strides)
        .set_alignment(data ? key.align_data : key.align_channel)
        .set_data_type(fe::DataType_t::FLOAT);
  };
  auto relu = [&](const TensorPtr& y) {
    return g->pointwise(y, fe::graph::Pointwise_attributes()
                               .set_name("relu")
                               .set_mode(fe::PointwiseMode_t::RELU_FWD)
                               .set_compute_data_type(fe::DataType_t::FLOAT));
  };
  float eps = 0, momentum = 0;
  std::memcpy(&eps, &key.eps_bits, sizeof eps);
  std::memcpy(&momentum, &key.momentum_bits, sizeof momentum);

  switch (key.op) {
    case BnOp::Train:
    case BnOp::TrainRelu: {
      TensorPtr x = input("x", kX, true), scale = input("scale", kScale, false),
                bias = input("bias", kBias, false);
      TensorPtr epsilon = g->tensor(fe::graph::Tensor_attributes(eps));  // pass by value
      auto attributes = fe::graph::Batchnorm_attributes();
      attributes.set_name("batchnorm").set_compute_data_type(fe::DataType_t::FLOAT);
      attributes.set_epsilon(epsilon);
      TensorPtr prev_mean, prev_var, factor;
      if (key.running_stats) {
        prev_mean = input("prev_running_mean", kPrevMean, false);
        prev_var = input("prev_running_var", kPrevVar, false);
        factor = g->tensor(fe::graph::Tensor_attributes(momentum));
        attributes.set_previous_running_stats(prev_mean, prev_var, factor);
      }
      const std::array<TensorPtr, 5> out = g->batchnorm(x, scale, bias, attributes);
      output(out[1], kMean, false);
      output(out[2], kInvStd, false);
      if (key.running_stats) {
        output(out[3], kNextMean, false);
        output(out[4], kNextVar, false);
      }
      output(key.op == BnOp::TrainRelu ? relu(out[0]) : out[0], kY, true);
      break;
    }
    case BnOp::Inference:
    case BnOp::InferenceRelu: {
      TensorPtr x = input("x", kX, true), mean = input("mean", kMean, false),
                invstd = input("inv_variance", kInvStd, false),
                scale = input("scale", kScale, false), bias = input("bias", kBias, false);
      auto attributes = fe::graph::Batchnorm_inference_attributes();
      attributes.set_name("batchnorm_inference").set_compute_data_type(fe::DataType_t::FLOAT);
      TensorPtr y = g->batchnorm_inference(x, mean, invstd, scale, bias, attributes);
      output(key.op == BnOp::InferenceRelu ? relu(y) : y, kY, true);
      break;
    }
    case BnOp::Backward: {
      TensorPtr dy = input("dy", kDy, true), x = input("x", kX, true),
                scale = input("scale", kScale, false), mean = input("mean", kMean, false),
                invstd = input("inv_variance", kInvStd, false);
      auto attributes = fe::graph::Batchnorm_backward_attributes();
      attributes.set_name("batchnorm_backward").set_compute_data_type(fe::DataType_t::FLOAT);
      attributes.set_saved_mean_and_inv_variance(mean, invstd);
      const std::array<TensorPtr, 3> out = g->batchnorm_backward(dy, x, scale, attributes);
      output(out[0], kDx, true);
      output(out[1], kDScale, false);
      output(out[2], kDBias, false);
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
  // FP32 keeps the 1e-5 parity bound: no engine that rounds the inputs down or
  // reduces in less than float32.
  if (key.math == MathMode::FP32)
    g->deselect_numeric_notes({fe::NumericalNote_t::DOWN_CONVERT_INPUTS,
                               fe::NumericalNote_t::REDUCED_PRECISION_REDUCTION});
  g->deselect_workspace_greater_than(workspace_cap);
  if (auto s = g->check_support(handle); s.is_bad()) return refuse("support", s);
  if (auto s = g->build_plans(handle, fe::BuildPlanPolicy_t::HEURISTICS_CHOICE); s.is_bad())
    return refuse("build plans", s);
  if (auto s = g->get_workspace_size(entry.workspace); s.is_bad()) return refuse("workspace", s);
  entry.engine = plan_name(*g);
  entry.graph = std::move(g);
  return entry;
}

// The operands `key`'s graph reads and writes, by uid. A null pointer is a
// caller's bug (a plan given nowhere to write), caught before cuDNN sees it.
std::unordered_map<int64_t, void*> variant_pack(const BnKey& key, const BnOperands& o) {
  std::unordered_map<int64_t, void*> pack;
  switch (key.op) {
    case BnOp::Train:
    case BnOp::TrainRelu:
      pack = {{kX, o.x}, {kScale, o.scale}, {kBias, o.bias}, {kMean, o.mean},
              {kInvStd, o.invstd}, {kY, o.y}};
      if (key.running_stats) {
        pack[kPrevMean] = o.prev_mean;
        pack[kPrevVar] = o.prev_var;
        pack[kNextMean] = o.next_mean;
        pack[kNextVar] = o.next_var;
      }
      break;
    case BnOp::Inference:
    case BnOp::InferenceRelu:
      pack = {{kX, o.x}, {kMean, o.mean}, {kInvStd, o.invstd}, {kScale, o.scale},
              {kBias, o.bias}, {kY, o.y}};
      break;
    case BnOp::Backward:
      pack = {{kDy, o.dy}, {kX, o.x}, {kScale, o.scale}, {kMean, o.mean}, {kInvStd, o.invstd},
              {kDx, o.dx}, {kDScale, o.dscale}, {kDBias, o.dbias}};
      break;
  }
  for (const auto& [uid, pointer] : pack)
    CONVNET_CHECK(pointer != nullptr, "cuDNN ", describe(key), ": operand ", uid, " is null");
  return pack;
}

}  // namespace

struct BnGraphs::Impl {
  using Value = std::shared_ptr<Entry>;
  Impl(size_t capacity, int64_t cap) : cache(capacity), workspace_cap(cap) {}
  // At exit CUDA may be gone: plans still fenced are leaked, not destroyed unsafely.
  ~Impl() { retired.leak_pending(); }

  void retire(std::vector<Value>& dropped) {
    for (Value& e : dropped) {
      if (!e->graph || !e->stream) continue;
      EventFence fence(e->stream, e->device);
      retired.retire(std::move(e), std::move(fence));
    }
    dropped.clear();
  }

  // The cached entry of `key`, built on a miss. Called with `mutex` held.
  Value lookup(cudnnHandle_t handle, const BnKey& key) {
    retired.poll();
    if (Value* found = cache.find(key)) return *found;
    Entry built;
    try {
      built = build(handle, key, workspace_cap);
    } catch (const std::exception& e) {  // the frontend throws on some malformed graphs
      built.graph.reset();
      built.reason = std::string("exception: ") + e.what();
    }
    built.device = key.device;
    if (built.graph) {
      ++this->built;
      if (log_enabled())
        std::fprintf(stderr, "[convnet cudnn] plan %s -> %s (workspace %lld bytes)\n",
                     describe(key).c_str(), built.engine.c_str(),
                     static_cast<long long>(built.workspace));
    } else {
      ++unsupported;
      last_unsupported = describe(key) + ": " + built.reason;
      if (log_enabled())
        std::fprintf(stderr, "[convnet cudnn] no plan for %s\n", last_unsupported.c_str());
    }
    std::vector<Value> dropped;
    Value entry = cache.insert(key, std::make_shared<Entry>(std::move(built)), &dropped);
    retire(dropped);
    return entry;
  }

  std::mutex mutex;
  LruCache<BnKey, Value, BnKeyHash> cache;
  RetireQueue<Value, EventFence> retired;
  int64_t workspace_cap;
  size_t built = 0, unsupported = 0;
  std::string last_unsupported;
};

BnGraphs::BnGraphs(size_t capacity, int64_t workspace_cap)
    : impl_(std::make_unique<Impl>(capacity, workspace_cap)) {}
BnGraphs::~BnGraphs() = default;

bool BnGraphs::prepare(cudnnHandle_t handle, const BnKey& key, std::string& reason) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const std::shared_ptr<Entry> entry = impl_->lookup(handle, key);
  if (!entry->graph) reason = entry->reason;
  return entry->graph != nullptr;
}

bool BnGraphs::run(cudnnHandle_t handle, cudaStream_t stream, const BnKey& key,
                   const BnOperands& operands, const std::function<void*(size_t)>& workspace,
                   std::string& reason) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const std::shared_ptr<Entry> entry = impl_->lookup(handle, key);
  if (!entry->graph) {
    reason = entry->reason;
    return false;
  }
  std::unordered_map<int64_t, void*> pack = variant_pack(key, operands);
  void* ws = entry->workspace > 0 ? workspace(static_cast<size_t>(entry->workspace)) : nullptr;
  entry->stream = stream;  // before execute: a failed launch may still have queued work
  if (auto s = entry->graph->execute(handle, pack, ws); s.is_bad())
    CONVNET_FAIL("cuDNN ", describe(key), " failed to execute: ", s.get_message());
  return true;
}

size_t BnGraphs::set_capacity(size_t capacity) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const size_t previous = impl_->cache.capacity();
  std::vector<std::shared_ptr<Entry>> dropped;
  impl_->cache.set_capacity(capacity, &dropped);
  impl_->retire(dropped);
  return previous;
}

BnGraphStats BnGraphs::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  BnGraphStats s;
  s.built = impl_->built;
  s.unsupported = impl_->unsupported;
  s.cached = impl_->cache.size();
  s.hits = impl_->cache.hits();
  s.evictions = impl_->cache.evictions();
  s.retiring = impl_->retired.size();
  s.last_unsupported = impl_->last_unsupported;
  impl_->cache.for_each([&s](const BnKey& key, const std::shared_ptr<Entry>& e) {
    if (e->graph) s.plans.push_back(describe(key) + " -> " + e->engine);
  });
  return s;
}

}  // namespace convnet::cudnn
