// Convolution geometry and the implicit-GEMM address math, as __host__ __device__
// functions so host tests can hold them against the CPU backend (tests/kernels/).
//
// The three passes as GEMMs over a virtual matrix that is never stored
// (CUTLASS's implicit GEMM, media/docs/implicit_gemm_convolution.md):
//   forward          M = N*P*Q (output pixels)  N = K           reduction = C*R*S
//   backward data    M = N*H*W (input pixels)   N = C           reduction = K*R*S
//   backward filter  M = K                      N = C*R*S       reduction = N*P*Q
//
// Row, column and reduction indices are decoded into coordinates (a Pixel or a
// Tap); the *_offset functions turn coordinates into an element offset of the
// NCHW tensor the GEMM operand lives in, or -1 where the operand is an implicit
// zero (a tap in the padding, or one that lands between strided outputs).
// All indices are 64-bit: N*C*H*W passes 2^31 for large batches.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define CONVNET_CONV_HD __host__ __device__ __forceinline__
#else
#define CONVNET_CONV_HD inline
#endif

namespace convnet::kernels {

struct ConvGeometry {
  int64_t n, c, h, w;  // input [N,C,H,W]
  int64_t k, r, s;     // weight [K,C,R,S]
  int64_t p, q;        // output [N,K,P,Q]
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

// The extents of one pass's GEMM: rows x cols = rows x reduction * reduction x cols.
struct GemmShape {
  int64_t rows, cols, reduction;
};

CONVNET_CONV_HD GemmShape forward_gemm_shape(const ConvGeometry& g) {
  return {g.n * g.p * g.q, g.k, g.c * g.r * g.s};
}
CONVNET_CONV_HD GemmShape backward_data_gemm_shape(const ConvGeometry& g) {
  return {g.n * g.h * g.w, g.c, g.k * g.r * g.s};
}
CONVNET_CONV_HD GemmShape backward_filter_gemm_shape(const ConvGeometry& g) {
  return {g.k, g.c * g.r * g.s, g.n * g.p * g.q};
}

// Quotient of a >= 0 by b > 0. Sizes nearly always fit in 32 bits, and on the
// GPU a 32-bit division is a few instructions where the 64-bit one is a long
// software routine; the 64-bit path keeps huge tensors correct.
CONVNET_CONV_HD int64_t div_nonneg(int64_t a, int64_t b) {
  if (((a | b) >> 32) == 0)
    return static_cast<int64_t>(static_cast<uint32_t>(a) / static_cast<uint32_t>(b));
  return a / b;
}

// A pixel of an image batch: image n, row y, column x. Rows of the forward and
// backward-data GEMMs and the reduction of backward filter are pixels, numbered
// (n*height + y)*width + x, the order of one NCHW channel plane per image.
struct Pixel {
  int64_t n, y, x;
};

// One tap of a filter: channel ch (c or k, depending on the pass), kernel row r,
// kernel column s; numbered (ch*R + r)*S + s, the order of weight's inner dims.
struct Tap {
  int64_t ch, r, s;
};

CONVNET_CONV_HD Pixel decode_pixel(int64_t index, int64_t height, int64_t width) {
  const int64_t row = div_nonneg(index, width);  // n*height + y
  const int64_t n = div_nonneg(row, height);
  return {n, row - n * height, index - row * width};
}
CONVNET_CONV_HD int64_t encode_pixel(const Pixel& px, int64_t height, int64_t width) {
  return (px.n * height + px.y) * width + px.x;
}

CONVNET_CONV_HD Tap decode_tap(int64_t index, int64_t r, int64_t s) {
  const int64_t row = div_nonneg(index, s);  // ch*R + r
  const int64_t ch = div_nonneg(row, r);
  return {ch, row - ch * r, index - row * s};
}
CONVNET_CONV_HD int64_t encode_tap(const Tap& t, int64_t r, int64_t s) {
  return (t.ch * r + t.r) * s + t.s;
}

// ---- element offsets of the four tensors

// output / grad_output [N,K,P,Q] at output pixel o, channel k.
CONVNET_CONV_HD int64_t output_offset(const ConvGeometry& g, const Pixel& o, int64_t k) {
  return ((o.n * g.k + k) * g.p + o.y) * g.q + o.x;
}
// input / grad_input [N,C,H,W] at input pixel i, channel c.
CONVNET_CONV_HD int64_t input_offset(const ConvGeometry& g, const Pixel& i, int64_t c) {
  return ((i.n * g.c + c) * g.h + i.y) * g.w + i.x;
}
// weight / grad_weight [K,C,R,S].
CONVNET_CONV_HD int64_t weight_offset(const ConvGeometry& g, int64_t k, int64_t c, int64_t r,
                                      int64_t s) {
  return ((k * g.c + c) * g.r + r) * g.s + s;
}

// ---- forward: A[m, kk] = input at the tap, B[kk, k] = weight[k, kk]

CONVNET_CONV_HD Pixel forward_row(const ConvGeometry& g, int64_t m) {  // (n, p, q)
  return decode_pixel(m, g.p, g.q);
}
CONVNET_CONV_HD Tap forward_tap(const ConvGeometry& g, int64_t kk) {  // (c, r, s)
  return decode_tap(kk, g.r, g.s);
}
// The input element tap t (t.ch = c) of output pixel o reads, or -1 in the
// padding. Cross-correlation: output (p, q) sees input row p*stride - pad + r*dilation.
CONVNET_CONV_HD int64_t forward_input_offset(const ConvGeometry& g, const Pixel& o, const Tap& t) {
  const int64_t y = o.y * g.stride_h - g.pad_h + t.r * g.dilation_h;
  const int64_t x = o.x * g.stride_w - g.pad_w + t.s * g.dilation_w;
  if (y < 0 || y >= g.h || x < 0 || x >= g.w) return -1;
  return input_offset(g, Pixel{o.n, y, x}, t.ch);
}
// The reduction index kk = (c*R + r)*S + s is weight's inner index, so filter k
// reads a contiguous row of weight.
CONVNET_CONV_HD int64_t forward_weight_offset(const ConvGeometry& g, int64_t k, int64_t kk) {
  return k * (g.c * g.r * g.s) + kk;
}

// ---- backward data: A[m, kk] = grad_output at the tap, B[kk, c] = weight[k, c, r, s]
// (gather form: each input pixel collects from the outputs whose windows hold it).

CONVNET_CONV_HD Pixel backward_data_row(const ConvGeometry& g, int64_t m) {  // (n, h, w)
  return decode_pixel(m, g.h, g.w);
}
CONVNET_CONV_HD Tap backward_data_tap(const ConvGeometry& g, int64_t kk) {  // (k, r, s)
  return decode_tap(kk, g.r, g.s);
}
// The grad_output element from which input pixel i receives through tap t
// (t.ch = k), or -1. Inverting y = p*stride - pad + r*dilation for p: the tap
// contributes only when the division is exact (else it falls between two
// strided outputs) and p lies in [0, P).
CONVNET_CONV_HD int64_t backward_data_grad_output_offset(const ConvGeometry& g, const Pixel& i,
                                                         const Tap& t) {
  const int64_t y = i.y + g.pad_h - t.r * g.dilation_h;  // = p * stride_h
  const int64_t x = i.x + g.pad_w - t.s * g.dilation_w;  // = q * stride_w
  if (y < 0 || x < 0) return -1;  // before the first output (and keeps the division non-negative)
  const int64_t p = div_nonneg(y, g.stride_h);
  const int64_t q = div_nonneg(x, g.stride_w);
  if (p * g.stride_h != y || q * g.stride_w != x || p >= g.p || q >= g.q) return -1;
  return output_offset(g, Pixel{i.n, p, q}, t.ch);
}
CONVNET_CONV_HD int64_t backward_data_weight_offset(const ConvGeometry& g, const Tap& t,
                                                    int64_t c) {
  return weight_offset(g, t.ch, c, t.r, t.s);
}

// ---- backward filter: A[k, kk] = grad_output[n, k, p, q], B[kk, col] = input at
// the tap: the forward GEMM's operands with the reduction over pixels instead.

CONVNET_CONV_HD Tap backward_filter_column(const ConvGeometry& g, int64_t col) {  // (c, r, s)
  return decode_tap(col, g.r, g.s);
}
CONVNET_CONV_HD Pixel backward_filter_reduction(const ConvGeometry& g, int64_t kk) {  // (n, p, q)
  return decode_pixel(kk, g.p, g.q);
}
CONVNET_CONV_HD int64_t backward_filter_input_offset(const ConvGeometry& g, const Pixel& o,
                                                     const Tap& t) {
  return forward_input_offset(g, o, t);
}
CONVNET_CONV_HD int64_t backward_filter_grad_output_offset(const ConvGeometry& g, int64_t k,
                                                           const Pixel& o) {
  return output_offset(g, o, k);
}
// grad_weight [K, C*R*S] at row k, column col.
CONVNET_CONV_HD int64_t backward_filter_weight_offset(const ConvGeometry& g, int64_t k,
                                                      int64_t col) {
  return k * (g.c * g.r * g.s) + col;
}

}  // namespace convnet::kernels
