// Tensor arithmetic for users (tensor_ops.hpp): binary ops under NumPy
// broadcasting, unary ops, the 2-D transpose and cat's column copy.
//
// binary: a grid-stride loop, one thread per output element. The host first
// collapses the Broadcast (broadcast_collapse.hpp); when what is left is one
// dim whose input strides are each 0 or 1 (same-shape operands, or a scalar
// one), the flat path reads a[i * a_unit], b[i * b_unit] with no index math;
// otherwise broadcast_offsets (broadcast_index.hpp, the CPU's math) finds both
// input addresses. The op is a kernel argument, not a template parameter: it
// is uniform across the grid, so the switch costs a predictable branch, and the
// file compiles two binary kernels instead of eight.
//
// Outputs may alias an input of their own shape (a += b): each thread reads its
// element's inputs before it writes that element, and nothing is __restrict__.
//
// transpose2d: 32x32 tiles through shared memory, so both the read of a tile's
// rows and the write of its columns are coalesced (the +1 column keeps the
// column read free of bank conflicts). 256 threads a block, each moving 4
// words of the tile; a grid-stride loop over tiles (the grid cap wraps it).
// Data movement works on 4-byte words: f32 and i32 share the kernels.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "convnet/error.hpp"
#include "kernels/broadcast_collapse.hpp"
#include "kernels/broadcast_index.hpp"
#include "kernels/kernels.hpp"
#include "kernels/launch.cuh"

namespace convnet::kernels {
namespace {

__device__ __forceinline__ float apply_binary(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
  }
  return NAN;  // unreachable: ops validated the op
}

// kFlat: a at i * a_unit, b at i * b_unit (units 0 or 1); otherwise bc's offsets.
template <bool kFlat>
__global__ void binary_kernel(BinaryOp op, const float* a, const float* b, float* out,
                              int64_t count, Broadcast bc, int64_t a_unit, int64_t b_unit) {
  for (int64_t i = global_thread(); i < count; i += grid_threads()) {
    float x, y;
    if (kFlat) {
      x = a[i * a_unit];
      y = b[i * b_unit];
    } else {
      const BroadcastOffsets at = broadcast_offsets(bc, i);
      x = a[at.a];
      y = b[at.b];
    }
    out[i] = apply_binary(op, x, y);
  }
}

// Clamp as torch.clamp: min(max(x, lo), hi), so hi wins when lo > hi; the
// comparisons are false for NaN, which passes through.
__device__ __forceinline__ float apply_unary(UnaryOp op, float x, float s0, float s1) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Abs: return fabsf(x);
    case UnaryOp::Clamp: {
      const float low = x < s0 ? s0 : x;
      return low > s1 ? s1 : low;
    }
    case UnaryOp::AddScalar: return x + s0;
    case UnaryOp::MulScalar: return x * s0;
    case UnaryOp::DivScalar: return x / s0;
    case UnaryOp::RSubScalar: return s0 - x;
    case UnaryOp::RDivScalar: return s0 / x;
  }
  return NAN;  // unreachable: ops validated the op
}

__global__ void unary_kernel(UnaryOp op, const float* in, float s0, float s1, float* out,
                             int64_t count) {
  for (int64_t i = global_thread(); i < count; i += grid_threads())
    out[i] = apply_unary(op, in[i], s0, s1);
}

constexpr int kTile = 32;
constexpr int kTileRows = kThreads / kTile;  // 8: each thread moves kTile / kTileRows words

// out [cols, rows] = in [rows, cols]^T; tile t covers input rows (t / tile_cols) * 32
// and columns (t % tile_cols) * 32, 32 of each (fewer at the edges).
__global__ void __launch_bounds__(kThreads)
    transpose_kernel(const uint32_t* __restrict__ in, int64_t rows, int64_t cols,
                     int64_t tile_cols, int64_t tiles, uint32_t* __restrict__ out) {
  __shared__ uint32_t tile[kTile][kTile + 1];
  const int x = threadIdx.x % kTile;
  const int y0 = threadIdx.x / kTile;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t row0 = (t / tile_cols) * kTile;
    const int64_t col0 = (t % tile_cols) * kTile;
    for (int y = y0; y < kTile; y += kTileRows) {
      const int64_t r = row0 + y, c = col0 + x;
      if (r < rows && c < cols) tile[y][x] = in[r * cols + c];
    }
    __syncthreads();
    // Output row col0 + y, column row0 + x: tile cell [x][y], written above
    // exactly when both lie inside the input.
    for (int y = y0; y < kTile; y += kTileRows) {
      const int64_t c = col0 + y, r = row0 + x;
      if (r < rows && c < cols) out[c * rows + r] = tile[x][y];
    }
    __syncthreads();  // every read of this tile is done before the next one is staged
  }
}

// out[r, offset + c] = in[r, c] for r < outer, c < in_cols; out rows hold out_cols words.
__global__ void copy_columns_kernel(const uint32_t* __restrict__ in, int64_t outer,
                                    int64_t in_cols, int64_t out_cols, int64_t offset,
                                    uint32_t* __restrict__ out) {
  const int64_t total = outer * in_cols;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t r = i / in_cols;
    out[r * out_cols + offset + (i - r * in_cols)] = in[i];
  }
}

// 0 or 1 when dim 0 of a collapsed Broadcast can be walked as i * unit.
bool flat_unit(int64_t stride) { return stride == 0 || stride == 1; }

}  // namespace

static_assert(sizeof(float) == sizeof(uint32_t) && sizeof(int32_t) == sizeof(uint32_t));

void binary_f32(BinaryOp op, const float* a, const float* b, const Broadcast& bc, float* out,
                cudaStream_t stream) {
  int64_t count = 1;
  for (int d = 0; d < bc.rank; ++d) count *= bc.sizes[d];
  if (count <= 0) return;
  const Broadcast walk = collapse_broadcast(bc);
  const int blocks = blocks_for(count);
  if (walk.rank == 0 ||
      (walk.rank == 1 && flat_unit(walk.a_strides[0]) && flat_unit(walk.b_strides[0]))) {
    const int64_t a_unit = walk.rank == 0 ? 0 : walk.a_strides[0];
    const int64_t b_unit = walk.rank == 0 ? 0 : walk.b_strides[0];
    CONVNET_LAUNCH(binary_kernel<true>, blocks, kThreads, 0, stream)(op, a, b, out, count, walk,
                                                                      a_unit, b_unit);
  } else {
    CONVNET_LAUNCH(binary_kernel<false>, blocks, kThreads, 0, stream)(op, a, b, out, count, walk,
                                                                       0, 0);
  }
  check_launch("binary_f32", stream);
}

void unary_f32(UnaryOp op, const float* in, float s0, float s1, float* out, int64_t count,
               cudaStream_t stream) {
  if (count <= 0) return;
  CONVNET_LAUNCH(unary_kernel, blocks_for(count), kThreads, 0, stream)(op, in, s0, s1, out, count);
  check_launch("unary_f32", stream);
}

void transpose2d_words(const void* in, int64_t rows, int64_t cols, void* out,
                       cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t tile_cols = (cols + kTile - 1) / kTile;
  const int64_t tiles = ((rows + kTile - 1) / kTile) * tile_cols;
  CONVNET_LAUNCH(transpose_kernel, blocks_for(tiles, 1), kThreads, 0, stream)(
      static_cast<const uint32_t*>(in), rows, cols, tile_cols, tiles, static_cast<uint32_t*>(out));
  check_launch("transpose2d_words", stream);
}

void copy_columns_words(const void* in, int64_t outer, int64_t in_cols, int64_t out_cols,
                        int64_t offset, void* out, cudaStream_t stream) {
  if (outer <= 0 || in_cols <= 0) return;
  CONVNET_LAUNCH(copy_columns_kernel, blocks_for(outer * in_cols), kThreads, 0, stream)(
      static_cast<const uint32_t*>(in), outer, in_cols, out_cols, offset,
      static_cast<uint32_t*>(out));
  check_launch("copy_columns_words", stream);
}

}  // namespace convnet::kernels
