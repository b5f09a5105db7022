// Data movement for the tensor API: 2-D transpose, cat's column copy and
// index_select. Each moves 4-byte words, so one implementation serves f32 and
// i32 alike (ops checks that input and output agree).
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu/cpu_backend.hpp"
#include "cpu/parallel.hpp"

namespace convnet::cpu {
namespace {

const uint32_t* words(const Tensor& t) { return static_cast<const uint32_t*>(t.raw_data()); }
uint32_t* words(Tensor& t) { return static_cast<uint32_t*>(t.raw_data()); }

}  // namespace

void CpuBackend::transpose2d(const Tensor& input, Tensor& output) {
  const int64_t rows = input.size(0), cols = input.size(1);
  const uint32_t* in = words(input);
  uint32_t* out = words(output);
  // One output row (an input column) per item; the reads stride, the writes do not.
  parallel_chunks(cols, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(rows, 1)),
                  [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c)
      for (int64_t r = 0; r < rows; ++r) out[c * rows + r] = in[r * cols + c];
  });
}

void CpuBackend::copy_columns(const Tensor& input, int64_t outer, int64_t offset,
                              Tensor& output) {
  if (outer == 0) return;
  const int64_t in_cols = input.numel() / outer, out_cols = output.numel() / outer;
  const uint32_t* in = words(input);
  uint32_t* out = words(output);
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(out + o * out_cols + offset, in + o * in_cols, in_cols * sizeof(uint32_t));
}

void CpuBackend::index_select(const Tensor& input, const Tensor& indices, Tensor& output) {
  const int64_t n = indices.numel();
  if (n == 0) return;
  const int64_t row = output.numel() / n;  // words per row of input
  const int32_t* index = indices.data<int32_t>();
  const uint32_t* in = words(input);
  uint32_t* out = words(output);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * row, in + static_cast<int64_t>(index[i]) * row, row * sizeof(uint32_t));
}

}  // namespace convnet::cpu
