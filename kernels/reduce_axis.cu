// Reductions over the middle axis of [outer, extent, inner] into [outer, inner]
// (Backend::reduce): Sum, Mean, Norm, Max, Min, ArgMax, ArgMin.
//
// Deterministic: every output is combined in an order fixed by the shape alone,
// never by the grid (the test cap included) or thread timing; no atomics. The
// shape picks one of three plans (reduce_axis_plan, below):
//   - columns: one thread per output walks e = 0, 1, ..., extent-1 in order.
//     Adjacent threads hold adjacent inner indices, so when inner > 1 a warp's
//     loads are coalesced. For short extents, and for many outputs with inner > 1.
//   - rows: one block per output (a grid-stride loop over outputs). Thread t
//     takes e = t, t + B, t + 2B, ... in order, then the block combines its
//     threads in a fixed tree (butterfly in each warp, then warp 0 over the
//     warps' results). B (32, 128 or 256) grows with the extent.
//   - split rows: few outputs and a long extent (a reduction over everything)
//     would leave most SMs idle, so the extent is cut into `segments` fixed
//     runs: stage 1 is the rows plan over (output, segment) tasks, writing one
//     partial per task into the workspace; stage 2, one block per output,
//     combines that output's partials in the same fixed tree.
// Sums accumulate in double (the CPU reference's precision; Norm sums squares)
// and finish as float: Sum, Mean = total / extent (0/0 = NaN for an empty
// extent, the contract), Norm = sqrt(total). Max, Min and the Arg ops share one
// comparison, torch.argmax's order: a NaN ranks first (the first NaN wins),
// then the larger (smaller) value, then the smaller index. It is a strict total
// order, so any tree finds the same winner as a loop; Max/Min then propagate
// NaN and ArgMax/ArgMin return the first extreme.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"
#include "kernels/reduce.cuh"

namespace convnet::kernels {
namespace {

// ---- the two kinds of accumulation

__device__ __forceinline__ bool largest_first(ReduceOp op) {
  return op == ReduceOp::Max || op == ReduceOp::ArgMax;
}

// True when (a, ia) ranks before (b, ib): NaN first (then the smaller index),
// then the larger value (largest) or the smaller one, then the smaller index.
__device__ __forceinline__ bool ranks_before(float a, int64_t ia, float b, int64_t ib,
                                             bool largest) {
  const bool a_nan = isnan(a), b_nan = isnan(b);
  if (a_nan || b_nan) return a_nan && (!b_nan || ia < ib);
  if (a != b) return largest ? a > b : a < b;
  return ia < ib;
}

struct Extreme {
  float value;
  int64_t index;
};

// Ranks below every element: the worst value at an index past any real one.
__device__ __forceinline__ Extreme no_extreme(bool largest) {
  return {largest ? -INFINITY : INFINITY, INT64_MAX};
}

__device__ __forceinline__ void take_if_before(Extreme& best, float value, int64_t index,
                                               bool largest) {
  if (ranks_before(value, index, best.value, best.index, largest)) best = {value, index};
}

__device__ __forceinline__ double sum_term(float x, ReduceOp op) {
  const double v = x;
  return op == ReduceOp::Norm ? v * v : v;
}

__device__ __forceinline__ void write_sum(ReduceOp op, double total, int64_t extent, int64_t o,
                                          float* out_values) {
  float result = static_cast<float>(total);
  if (op == ReduceOp::Mean) result = static_cast<float>(total / static_cast<double>(extent));
  if (op == ReduceOp::Norm) result = static_cast<float>(sqrt(total));
  out_values[o] = result;
}

__device__ __forceinline__ void write_extreme(ReduceOp op, const Extreme& best, int64_t o,
                                              float* out_values, int32_t* out_indices) {
  if (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin)
    out_indices[o] = static_cast<int32_t>(best.index);
  else
    out_values[o] = best.value;
}

// The block's winner, valid in thread 0. Every thread calls it; blockDim.x a
// multiple of 32. The caller syncs before reusing the scratch (as block_sum).
__device__ __forceinline__ Extreme block_extreme(Extreme best, bool largest, float* value_scratch,
                                                 int64_t* index_scratch) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = static_cast<int>(blockDim.x >> 5);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float v = __shfl_xor_sync(0xffffffffu, best.value, offset);
    const int64_t i = __shfl_xor_sync(0xffffffffu, best.index, offset);
    take_if_before(best, v, i, largest);
  }
  if (lane == 0) {
    value_scratch[warp] = best.value;
    index_scratch[warp] = best.index;
  }
  __syncthreads();
  if (warp == 0) {
    best = lane < warps ? Extreme{value_scratch[lane], index_scratch[lane]} : no_extreme(largest);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      const float v = __shfl_xor_sync(0xffffffffu, best.value, offset);
      const int64_t i = __shfl_xor_sync(0xffffffffu, best.index, offset);
      take_if_before(best, v, i, largest);
    }
  }
  return best;
}

// Where output o's elements start: (o / inner, 0, o % inner) of the [outer,
// extent, inner] input; element e is at that + e * inner. An offset, not a
// pointer: an empty input may be a null pointer, which must not be offset.
__device__ __forceinline__ int64_t column_start(int64_t o, int64_t extent, int64_t inner) {
  const int64_t outer_index = o / inner;
  return outer_index * extent * inner + (o - outer_index * inner);
}

// ---- columns: one thread per output, e in order

template <bool kExtreme>
__global__ void reduce_columns_kernel(ReduceOp op, const float* __restrict__ in, int64_t outputs,
                                      int64_t extent, int64_t inner,
                                      float* __restrict__ out_values,
                                      int32_t* __restrict__ out_indices) {
  for (int64_t o = global_thread(); o < outputs; o += grid_threads()) {
    const int64_t start = column_start(o, extent, inner);
    if (kExtreme) {
      const bool largest = largest_first(op);
      Extreme best = no_extreme(largest);
      for (int64_t e = 0; e < extent; ++e) take_if_before(best, in[start + e * inner], e, largest);
      write_extreme(op, best, o, out_values, out_indices);
    } else {
      double total = 0.0;
      for (int64_t e = 0; e < extent; ++e) total += sum_term(in[start + e * inner], op);
      write_sum(op, total, extent, o, out_values);
    }
  }
}

// ---- rows, and stage 1 of split rows: a block per task

// Task t = o * segments + s covers e in [s * segment, min(extent, (s + 1) * segment)) of
// output o. With one segment the task's result is the output; otherwise the
// partial goes to slot t (partial_sums, or partial_values and partial_indices).
template <bool kExtreme>
__global__ void __launch_bounds__(kThreads)
    reduce_rows_kernel(ReduceOp op, const float* __restrict__ in, int64_t outputs,
                       int64_t extent, int64_t inner, int64_t segment, int64_t segments,
                       float* __restrict__ out_values, int32_t* __restrict__ out_indices,
                       double* __restrict__ partial_sums, float* __restrict__ partial_values,
                       int64_t* __restrict__ partial_indices) {
  __shared__ double sum_scratch[32];
  __shared__ float value_scratch[32];
  __shared__ int64_t index_scratch[32];
  const int64_t tasks = outputs * segments;
  for (int64_t t = blockIdx.x; t < tasks; t += gridDim.x) {
    const int64_t o = t / segments;
    const int64_t begin = (t - o * segments) * segment;
    const int64_t end = begin + segment < extent ? begin + segment : extent;
    const int64_t start = column_start(o, extent, inner);
    if (kExtreme) {
      const bool largest = largest_first(op);
      Extreme best = no_extreme(largest);
      for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x)
        take_if_before(best, in[start + e * inner], e, largest);
      best = block_extreme(best, largest, value_scratch, index_scratch);
      if (threadIdx.x == 0) {
        if (segments == 1) {
          write_extreme(op, best, o, out_values, out_indices);
        } else {
          partial_values[t] = best.value;
          partial_indices[t] = best.index;
        }
      }
    } else {
      double total = 0.0;
      for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x)
        total += sum_term(in[start + e * inner], op);
      total = block_sum(total, sum_scratch);
      if (threadIdx.x == 0) {
        if (segments == 1)
          write_sum(op, total, extent, o, out_values);
        else
          partial_sums[t] = total;
      }
    }
    __syncthreads();  // warp 0 has read the scratch before the next task writes it
  }
}

// ---- stage 2 of split rows: output o combines partials o * segments + [0, segments)

template <bool kExtreme>
__global__ void __launch_bounds__(kThreads)
    reduce_partials_kernel(ReduceOp op, int64_t outputs, int64_t extent, int64_t segments,
                           const double* __restrict__ partial_sums,
                           const float* __restrict__ partial_values,
                           const int64_t* __restrict__ partial_indices,
                           float* __restrict__ out_values, int32_t* __restrict__ out_indices) {
  __shared__ double sum_scratch[32];
  __shared__ float value_scratch[32];
  __shared__ int64_t index_scratch[32];
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    const int64_t first = o * segments;
    if (kExtreme) {
      const bool largest = largest_first(op);
      Extreme best = no_extreme(largest);
      for (int64_t s = threadIdx.x; s < segments; s += blockDim.x)
        take_if_before(best, partial_values[first + s], partial_indices[first + s], largest);
      best = block_extreme(best, largest, value_scratch, index_scratch);
      if (threadIdx.x == 0) write_extreme(op, best, o, out_values, out_indices);
    } else {
      double total = 0.0;
      for (int64_t s = threadIdx.x; s < segments; s += blockDim.x) total += partial_sums[first + s];
      total = block_sum(total, sum_scratch);
      if (threadIdx.x == 0) write_sum(op, total, extent, o, out_values);
    }
    __syncthreads();  // as in reduce_rows_kernel
  }
}

// ---- the plan: a function of the shape alone (never of the grid cap)

enum class Plan { Columns, Rows };

struct ReducePlan {
  Plan plan;
  int threads;       // rows: the block size
  int64_t segment;   // rows: elements of the extent per task
  int64_t segments;  // rows: tasks per output (> 1: split, through the workspace)
};

constexpr int64_t kShortExtent = 64;        // below this, a thread per output
constexpr int64_t kManyOutputs = 2048;      // with inner > 1, enough threads for columns
constexpr int64_t kFewOutputs = 256;        // below this, a long extent is split
constexpr int64_t kMinSegment = 4096;       // elements per stage-1 task, at least
constexpr int64_t kMaxSegments = 1024;      // partials per output, at most

ReducePlan reduce_axis_plan(int64_t outer, int64_t extent, int64_t inner) {
  const int64_t outputs = outer * inner;
  if (extent < kShortExtent || (inner > 1 && outputs >= kManyOutputs))
    return {Plan::Columns, 0, 0, 1};
  const int threads = extent >= 2048 ? kThreads : extent >= 256 ? 128 : 32;
  if (outputs >= kFewOutputs || extent < 2 * kMinSegment) return {Plan::Rows, threads, extent, 1};
  int64_t segment = (extent + kMaxSegments - 1) / kMaxSegments;
  if (segment < kMinSegment) segment = kMinSegment;
  return {Plan::Rows, threads, segment, (extent + segment - 1) / segment};
}

bool is_extreme(ReduceOp op) {
  return op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::ArgMax ||
         op == ReduceOp::ArgMin;
}

template <bool kExtreme>
void launch_reduce(const ReducePlan& plan, ReduceOp op, const float* in, int64_t outputs,
                   int64_t extent, int64_t inner, float* out_values, int32_t* out_indices,
                   void* workspace, cudaStream_t stream) {
  if (plan.plan == Plan::Columns) {
    CONVNET_LAUNCH(reduce_columns_kernel<kExtreme>, blocks_for(outputs), kThreads, 0, stream)(
        op, in, outputs, extent, inner, out_values, out_indices);
    check_launch("reduce_axis (columns)", stream);
    return;
  }
  // Workspace layout of a split: int64 indices or double sums first (8-byte
  // aligned), then the float values (extremes only).
  const int64_t tasks = outputs * plan.segments;
  double* partial_sums = nullptr;
  float* partial_values = nullptr;
  int64_t* partial_indices = nullptr;
  if (plan.segments > 1) {
    if (kExtreme) {
      partial_indices = static_cast<int64_t*>(workspace);
      partial_values = reinterpret_cast<float*>(partial_indices + tasks);
    } else {
      partial_sums = static_cast<double*>(workspace);
    }
  }
  CONVNET_LAUNCH(reduce_rows_kernel<kExtreme>, blocks_for(tasks, 1), plan.threads, 0, stream)(
      op, in, outputs, extent, inner, plan.segment, plan.segments, out_values, out_indices,
      partial_sums, partial_values, partial_indices);
  check_launch("reduce_axis (rows)", stream);
  if (plan.segments == 1) return;
  CONVNET_LAUNCH(reduce_partials_kernel<kExtreme>, blocks_for(outputs, 1), kThreads, 0, stream)(
      op, outputs, extent, plan.segments, partial_sums, partial_values, partial_indices,
      out_values, out_indices);
  check_launch("reduce_axis (partials)", stream);
}

}  // namespace

size_t reduce_axis_workspace(ReduceOp op, int64_t outer, int64_t extent, int64_t inner) {
  if (outer <= 0 || inner <= 0) return 0;
  const ReducePlan plan = reduce_axis_plan(outer, extent, inner);
  if (plan.plan == Plan::Columns || plan.segments == 1) return 0;
  const size_t tasks = static_cast<size_t>(outer * inner * plan.segments);
  return is_extreme(op) ? tasks * (sizeof(int64_t) + sizeof(float)) : tasks * sizeof(double);
}

void reduce_axis(ReduceOp op, const float* in, int64_t outer, int64_t extent, int64_t inner,
                 float* out_values, int32_t* out_indices, void* workspace, cudaStream_t stream) {
  if (outer <= 0 || inner <= 0) return;
  if (extent < 0) extent = 0;
  const ReducePlan plan = reduce_axis_plan(outer, extent, inner);
  CONVNET_CHECK(plan.segments == 1 || workspace,
                "reduce_axis: this shape needs reduce_axis_workspace bytes of workspace");
  if (is_extreme(op))
    launch_reduce<true>(plan, op, in, outer * inner, extent, inner, out_values, out_indices,
                        workspace, stream);
  else
    launch_reduce<false>(plan, op, in, outer * inner, extent, inner, out_values, out_indices,
                         workspace, stream);
}

}  // namespace convnet::kernels
