// Convolution as an implicit GEMM (FP32, no tensor cores), and the public
// conv2d launchers that pick it or the direct reference (conv2d_direct.cu).
//
// Every pass is one GEMM, D[rows, cols] = sum over the reduction of
// A[row, kk] * B[kk, col], whose operands are never stored: each block stages
// tiles of A and B in shared memory, and every thread computes the address of
// each element it stages with conv2d_index.hpp, writing 0 for a tap in the
// padding or an index past the edge (so any size works, no tile multiples).
//
//   pass             rows        cols   reduction   A              B
//   forward          N*P*Q       K      C*R*S       input taps     weight
//   backward data    N*H*W       C      K*R*S       grad_output    weight
//   backward filter  C*R*S       K      N*P*Q       input taps     grad_output
//
// Backward filter is conv2d_index.hpp's GEMM transposed (rows C*R*S, not K):
// C*R*S is usually the larger side, and it is the one the 128-wide tile covers.
// Its reduction is long and its output small, so it is split across blocks
// (split-K) into partials that a second kernel adds in a fixed order.
//
// Tiles: 128 rows x 64 cols a block, a reduction step of 8, 256 threads, each
// thread owning an 8 x 4 patch of D in registers (2-D register blocking).
// - A 128 x 64 x 8 step does 43 FMAs per element staged (65536 / 1536); per
//   thread, 6 staged loads (each with its address math) against 256 FMAs. It
//   needs 6.4 KB of shared memory and <= 128 registers, so two blocks share an
//   SM and hide each other's latency without double buffering (that, warp
//   tiles and vectorised global loads are the next steps).
// - 64 columns: K or C is 32-512 in the layers we benchmark; a wider tile would
//   waste most of itself on the MNIST CNN's K = 32.
// - The 8 rows of a thread are two runs of 4 (rows 4*tm.. and 64 + 4*tm..), so
//   its reads of the A tile are two float4 loads that a warp serves without
//   bank conflicts; the 4 columns are one float4 of the B tile, a broadcast.
// - Shared rows are padded by 4 floats (132 and 68), so the staging stores,
//   whose warps write 8 reduction steps x 4 rows, hit 32 distinct banks, and
//   rows stay 16-byte aligned for the float4 reads.
// Global loads are scalar: no alignment is assumed of any pointer.
//
// Determinism: each block sums its reduction range in a fixed order; the split
// count depends on the geometry only (not on the GPU), and the partials are
// added in split order. No atomics anywhere.
#include <cuda_runtime.h>

#include <algorithm>

#include "convnet/error.hpp"
#include "kernels/conv2d_index.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {

// The direct reference (conv2d_direct.cu); its only caller is the dispatch below.
namespace detail {
void conv2d_forward_direct(const ConvGeometry& g, const float* input, const float* weight,
                           const float* bias, float* output, cudaStream_t stream);
void conv2d_backward_data_direct(const ConvGeometry& g, const float* grad_output,
                                 const float* weight, float* grad_input, cudaStream_t stream);
void conv2d_backward_filter_direct(const ConvGeometry& g, const float* input,
                                   const float* grad_output, float* grad_weight, bool accumulate,
                                   cudaStream_t stream);
}  // namespace detail

namespace {

constexpr int kBM = 128;  // rows of D a block
constexpr int kBN = 64;   // cols of D a block
constexpr int kBK = 8;    // reduction step staged at once
constexpr int kTM = 8;    // rows of D a thread
constexpr int kTN = 4;    // cols of D a thread
constexpr int kGemmThreads = 256;
constexpr int kPad = 4;  // floats added to each shared row (see the top of the file)

// Thread t computes rows {4*tm + i, 64 + 4*tm + i : i < 4} and cols 4*tn + j,
// with tm = t % 16 and tn = t / 16.
static_assert(kGemmThreads == (kBM / kTM) * (kBN / kTN), "one 8x4 patch per thread");
static_assert(kTM == 8 && kTN == 4 && kBM == 2 * 4 * 16 && kBN == 4 * 16, "the float4 reads");
// Staging: A is kBK x kBM = 4 elements a thread, B is kBK x kBN = 2.
static_assert(kBK * kBM == 4 * kGemmThreads && kBK * kBN == 2 * kGemmThreads, "staging shares");
static_assert(kBK == 8 && kGemmThreads / 32 == kBK, "staging lanes: one warp per reduction step");

struct __align__(16) Tiles {
  float a[kBK][kBM + kPad];  // a[kk][row]
  float b[kBK][kBN + kPad];  // b[kk][col]
};

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- the three passes. Each tells the GEMM kernel its shape, how a thread
// stages its share of a reduction step (load), and where D[row, col] goes (store).
// Staging lanes, chosen so each warp reads runs of consecutive addresses:
//   forward, backward data: A row (t % 32) + 32e (e < 4) at step t / 32: a warp
//     reads 32 neighbouring pixels of one tap, and decodes that tap once;
//   backward filter: A row (t / 8) + 32e at step t % 8: a warp reads 8
//     neighbouring pixels of 4 taps, and each thread decodes one pixel a step;
//   B (every pass): col (t / 8) + 32e (e < 2) at step t % 8.

struct ForwardPass {
  ConvGeometry g;
  GemmShape shape;  // forward_gemm_shape(g)
  const float* __restrict__ input;
  const float* __restrict__ weight;
  const float* __restrict__ bias;  // may be null
  float* __restrict__ output;

  struct State {  // the four output pixels whose A rows this thread stages
    Pixel px[4];
    bool valid[4];
  };
  using Row = Pixel;

  __device__ __forceinline__ void begin_tile(State& st, int64_t row0, int t) const {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t m = row0 + (t & 31) + 32 * e;
      st.valid[e] = m < shape.rows;
      st.px[e] = st.valid[e] ? forward_row(g, m) : Pixel{0, 0, 0};
    }
  }

  __device__ __forceinline__ void load(const State& st, int64_t col0, int64_t k0, int64_t k_end,
                                       Tiles& tiles, int t) const {
    const int ka = t >> 5;
    const int64_t kk = k0 + ka;
    const bool tap_ok = kk < k_end;
    const Tap tap = tap_ok ? forward_tap(g, kk) : Tap{0, 0, 0};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t offset = tap_ok && st.valid[e] ? forward_input_offset(g, st.px[e], tap) : -1;
      tiles.a[ka][(t & 31) + 32 * e] = offset >= 0 ? input[offset] : 0.f;
    }
    const int kb = t & 7;
    const int64_t kkb = k0 + kb;
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int c = (t >> 3) + 32 * e;
      const int64_t k = col0 + c;
      tiles.b[kb][c] = kkb < k_end && k < shape.cols ? weight[forward_weight_offset(g, k, kkb)] : 0.f;
    }
  }

  __device__ __forceinline__ Row row(int64_t m) const { return forward_row(g, m); }
  __device__ __forceinline__ void store(const Row& o, int64_t k, float value, int) const {
    output[output_offset(g, o, k)] = bias != nullptr ? value + bias[k] : value;
  }
};

struct BackwardDataPass {
  ConvGeometry g;
  GemmShape shape;  // backward_data_gemm_shape(g)
  const float* __restrict__ grad_output;
  const float* __restrict__ weight;
  float* __restrict__ grad_input;

  struct State {  // the four input pixels whose A rows this thread stages
    Pixel px[4];
    bool valid[4];
  };
  using Row = Pixel;

  __device__ __forceinline__ void begin_tile(State& st, int64_t row0, int t) const {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t m = row0 + (t & 31) + 32 * e;
      st.valid[e] = m < shape.rows;
      st.px[e] = st.valid[e] ? backward_data_row(g, m) : Pixel{0, 0, 0};
    }
  }

  __device__ __forceinline__ void load(const State& st, int64_t col0, int64_t k0, int64_t k_end,
                                       Tiles& tiles, int t) const {
    const int ka = t >> 5;
    const int64_t kk = k0 + ka;
    const bool tap_ok = kk < k_end;
    const Tap tap = tap_ok ? backward_data_tap(g, kk) : Tap{0, 0, 0};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t offset =
          tap_ok && st.valid[e] ? backward_data_grad_output_offset(g, st.px[e], tap) : -1;
      tiles.a[ka][(t & 31) + 32 * e] = offset >= 0 ? grad_output[offset] : 0.f;
    }
    const int kb = t & 7;
    const int64_t kkb = k0 + kb;
    const bool tap_b_ok = kkb < k_end;
    const Tap tap_b = tap_b_ok ? backward_data_tap(g, kkb) : Tap{0, 0, 0};
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int col = (t >> 3) + 32 * e;
      const int64_t c = col0 + col;
      tiles.b[kb][col] =
          tap_b_ok && c < shape.cols ? weight[backward_data_weight_offset(g, tap_b, c)] : 0.f;
    }
  }

  __device__ __forceinline__ Row row(int64_t m) const { return backward_data_row(g, m); }
  __device__ __forceinline__ void store(const Row& i, int64_t c, float value, int) const {
    grad_input[input_offset(g, i, c)] = value;
  }
};

// Transposed: row = column (c,r,s) of grad_weight [K, C*R*S], col = k.
struct BackwardFilterPass {
  ConvGeometry g;
  GemmShape shape;  // {C*R*S, K, N*P*Q}
  const float* __restrict__ input;
  const float* __restrict__ grad_output;
  float* __restrict__ out;  // grad_weight, or the split partials [splits][K*C*R*S]
  int64_t split_stride;     // elements between two splits' partials
  bool accumulate;          // out += D (only when writing grad_weight directly)

  struct State {  // the four taps whose A rows this thread stages
    Tap tap[4];
    bool valid[4];
  };
  using Row = int64_t;

  __device__ __forceinline__ void begin_tile(State& st, int64_t row0, int t) const {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t col = row0 + (t >> 3) + 32 * e;
      st.valid[e] = col < shape.rows;
      st.tap[e] = st.valid[e] ? backward_filter_column(g, col) : Tap{0, 0, 0};
    }
  }

  __device__ __forceinline__ void load(const State& st, int64_t col0, int64_t k0, int64_t k_end,
                                       Tiles& tiles, int t) const {
    const int kl = t & 7;  // A and B share the step, so they share the pixel decode
    const int64_t kk = k0 + kl;
    const bool pixel_ok = kk < k_end;
    const Pixel px = pixel_ok ? backward_filter_reduction(g, kk) : Pixel{0, 0, 0};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t offset =
          pixel_ok && st.valid[e] ? backward_filter_input_offset(g, px, st.tap[e]) : -1;
      tiles.a[kl][(t >> 3) + 32 * e] = offset >= 0 ? input[offset] : 0.f;
    }
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int col = (t >> 3) + 32 * e;
      const int64_t k = col0 + col;
      tiles.b[kl][col] = pixel_ok && k < shape.cols
                             ? grad_output[backward_filter_grad_output_offset(g, k, px)]
                             : 0.f;
    }
  }

  __device__ __forceinline__ Row row(int64_t crs) const { return crs; }
  __device__ __forceinline__ void store(const Row& crs, int64_t k, float value, int split) const {
    float* dst = out + split * split_stride + backward_filter_weight_offset(g, k, crs);
    *dst = accumulate ? *dst + value : value;
  }
};

// D = A x B over the reduction range [blockIdx.y * chunk, + chunk) of split
// blockIdx.y; blocks stride over the tiles of D, so any grid size covers it.
template <typename Pass>
__global__ void __launch_bounds__(kGemmThreads, 2)
    conv2d_implicit_gemm_kernel(const Pass pass, int64_t chunk) {
  __shared__ Tiles tiles;
  const int t = threadIdx.x;
  const int tm = t & 15, tn = t >> 4;
  const GemmShape shape = pass.shape;
  const int64_t col_tiles = ceil_div(shape.cols, kBN);
  const int64_t tile_count = ceil_div(shape.rows, kBM) * col_tiles;
  const int64_t k_begin = blockIdx.y * chunk;
  const int64_t k_end = k_begin + chunk < shape.reduction ? k_begin + chunk : shape.reduction;

  // Loop bounds depend on blockIdx only: every thread reaches every __syncthreads.
  for (int64_t tile = blockIdx.x; tile < tile_count; tile += gridDim.x) {
    const int64_t row_tile = tile / col_tiles;
    const int64_t row0 = row_tile * kBM;
    const int64_t col0 = (tile - row_tile * col_tiles) * kBN;
    typename Pass::State state;
    pass.begin_tile(state, row0, t);

    float acc[kTM][kTN];
#pragma unroll
    for (int i = 0; i < kTM; ++i)
#pragma unroll
      for (int j = 0; j < kTN; ++j) acc[i][j] = 0.f;

    for (int64_t k0 = k_begin; k0 < k_end; k0 += kBK) {
      pass.load(state, col0, k0, k_end, tiles, t);
      __syncthreads();  // the step is staged
#pragma unroll
      for (int kk = 0; kk < kBK; ++kk) {
        const float4 a_lo = *reinterpret_cast<const float4*>(&tiles.a[kk][4 * tm]);
        const float4 a_hi = *reinterpret_cast<const float4*>(&tiles.a[kk][kBM / 2 + 4 * tm]);
        const float4 b4 = *reinterpret_cast<const float4*>(&tiles.b[kk][4 * tn]);
        const float a[kTM] = {a_lo.x, a_lo.y, a_lo.z, a_lo.w, a_hi.x, a_hi.y, a_hi.z, a_hi.w};
        const float b[kTN] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
        for (int i = 0; i < kTM; ++i)
#pragma unroll
          for (int j = 0; j < kTN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      __syncthreads();  // everyone has read the step before the next one is staged
    }

#pragma unroll
    for (int i = 0; i < kTM; ++i) {
      const int64_t row = row0 + (i < 4 ? 4 * tm + i : kBM / 2 + 4 * tm + (i - 4));
      if (row >= shape.rows) continue;
      const typename Pass::Row decoded = pass.row(row);
#pragma unroll
      for (int j = 0; j < kTN; ++j) {
        const int64_t col = col0 + 4 * tn + j;
        if (col < shape.cols) pass.store(decoded, col, acc[i][j], static_cast<int>(blockIdx.y));
      }
    }
  }
}

// grad_weight[e] = (accumulate ? grad_weight[e] : 0) + partials[0][e] + partials[1][e] + ...
__global__ void conv2d_reduce_splits_kernel(const float* __restrict__ partials, int64_t splits,
                                            int64_t count, float* __restrict__ grad_weight,
                                            bool accumulate) {
  for (int64_t e = global_thread(); e < count; e += grid_threads()) {
    float sum = accumulate ? grad_weight[e] : 0.f;
    for (int64_t s = 0; s < splits; ++s) sum += partials[s * count + e];
    grad_weight[e] = sum;
  }
}

template <typename Pass>
void launch_gemm(const Pass& pass, int64_t splits, int64_t chunk, const char* name,
                 cudaStream_t stream) {
  const int64_t tiles = ceil_div(pass.shape.rows, kBM) * ceil_div(pass.shape.cols, kBN);
  const dim3 grid(static_cast<unsigned>(blocks_for(tiles, 1)), static_cast<unsigned>(splits));
  CONVNET_LAUNCH(conv2d_implicit_gemm_kernel<Pass>, grid, kGemmThreads, 0, stream)(pass, chunk);
  check_launch(name, stream);
}

// ---- backward filter's split of the N*P*Q reduction
constexpr int64_t kTargetBlocks = 2 * 132;         // two blocks on each of an H100's 132 SMs
constexpr int64_t kMinStepsPerSplit = 16;          // >= 128 pixels, so a split's sum outweighs
                                                   // writing its partial tile
constexpr int64_t kMaxWorkspaceBytes = int64_t{64} << 20;
constexpr int64_t kMaxSplits = 65535;              // gridDim.y

struct FilterSplit {
  int64_t splits;  // blocks along the reduction; 1 = write grad_weight directly
  int64_t chunk;   // reduction indices a split sums, a multiple of kBK
};

GemmShape filter_shape(const ConvGeometry& g) {
  const GemmShape s = backward_filter_gemm_shape(g);
  return {s.cols, s.rows, s.reduction};  // transposed: C*R*S rows, K cols
}

// A function of the geometry only, so the workspace query and the launch agree
// and results do not depend on which GPU ran them.
FilterSplit plan_filter_split(const ConvGeometry& g) {
  const GemmShape s = filter_shape(g);
  const int64_t steps = ceil_div(s.reduction, kBK);
  const int64_t weights = s.rows * s.cols;
  if (steps <= 0 || weights <= 0) return {1, s.reduction};
  const int64_t tiles = ceil_div(s.rows, kBM) * ceil_div(s.cols, kBN);
  int64_t splits = ceil_div(kTargetBlocks, tiles);
  splits = std::min(splits, steps / kMinStepsPerSplit);
  splits = std::min(splits, kMaxWorkspaceBytes / (weights * static_cast<int64_t>(sizeof(float))));
  splits = std::min(splits, kMaxSplits);
  splits = std::max<int64_t>(splits, 1);
  const int64_t chunk_steps = ceil_div(steps, splits);
  // Rounding the chunk up may leave the last splits empty: drop them.
  return {ceil_div(steps, chunk_steps), chunk_steps * kBK};
}

}  // namespace

// ---- public launchers (kernels.hpp)

void conv2d_forward(const ConvGeometry& g, const float* input, const float* weight,
                    const float* bias, float* output, ConvAlgo algo, cudaStream_t stream) {
  if (g.n * g.k * g.p * g.q <= 0) return;
  // An empty reduction (C = 0) needs no case: both paths then write the bias or 0.
  if (algo == ConvAlgo::Direct) {
    detail::conv2d_forward_direct(g, input, weight, bias, output, stream);
    return;
  }
  const ForwardPass pass{g, forward_gemm_shape(g), input, weight, bias, output};
  launch_gemm(pass, 1, pass.shape.reduction, "conv2d_forward_implicit_gemm", stream);
}

void conv2d_backward_data(const ConvGeometry& g, const float* grad_output, const float* weight,
                          float* grad_input, ConvAlgo algo, cudaStream_t stream) {
  if (g.n * g.c * g.h * g.w <= 0) return;
  // An empty reduction (K = 0 or no outputs) writes zeros on both paths.
  if (algo == ConvAlgo::Direct) {
    detail::conv2d_backward_data_direct(g, grad_output, weight, grad_input, stream);
    return;
  }
  const BackwardDataPass pass{g, backward_data_gemm_shape(g), grad_output, weight, grad_input};
  launch_gemm(pass, 1, pass.shape.reduction, "conv2d_backward_data_implicit_gemm", stream);
}

size_t conv2d_backward_filter_workspace(const ConvGeometry& g, ConvAlgo algo) {
  if (algo == ConvAlgo::Direct) return 0;
  const int64_t weights = g.k * g.c * g.r * g.s;
  if (weights <= 0 || g.n * g.p * g.q <= 0) return 0;
  const FilterSplit plan = plan_filter_split(g);
  return plan.splits > 1 ? static_cast<size_t>(plan.splits * weights) * sizeof(float) : 0;
}

void conv2d_backward_filter(const ConvGeometry& g, const float* input, const float* grad_output,
                            float* grad_weight, bool accumulate, ConvAlgo algo, void* workspace,
                            cudaStream_t stream) {
  const int64_t weights = g.k * g.c * g.r * g.s;
  if (weights <= 0) return;
  if (g.n * g.p * g.q <= 0) {  // empty sum: the gradient is 0
    if (!accumulate) fill_f32(grad_weight, weights, 0.f, stream);
    return;
  }
  if (algo == ConvAlgo::Direct) {
    detail::conv2d_backward_filter_direct(g, input, grad_output, grad_weight, accumulate, stream);
    return;
  }
  const FilterSplit plan = plan_filter_split(g);
  BackwardFilterPass pass{g, filter_shape(g), input, grad_output, grad_weight, 0, accumulate};
  if (plan.splits == 1) {
    launch_gemm(pass, 1, plan.chunk, "conv2d_backward_filter_implicit_gemm", stream);
    return;
  }
  CONVNET_CHECK(workspace != nullptr, "conv2d_backward_filter: the implicit GEMM needs ",
                conv2d_backward_filter_workspace(g, algo),
                " bytes of workspace (conv2d_backward_filter_workspace) but got none");
  float* partials = static_cast<float*>(workspace);
  pass.out = partials;
  pass.split_stride = weights;
  pass.accumulate = false;
  launch_gemm(pass, plan.splits, plan.chunk, "conv2d_backward_filter_implicit_gemm", stream);
  CONVNET_LAUNCH(conv2d_reduce_splits_kernel, blocks_for(weights), kThreads, 0, stream)(
      partials, plan.splits, weights, grad_weight, accumulate);
  check_launch("conv2d_backward_filter_reduce_splits", stream);
}

}  // namespace convnet::kernels
