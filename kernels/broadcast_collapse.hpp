// Host-side simplification of a Broadcast (backend.hpp) before a launch: the
// fewer dims the kernel walks, the fewer 64-bit divisions each element costs,
// and the more often the flat fast path applies (same-shape or scalar operands).
#pragma once

#include <cstdint>

#include "convnet/backend.hpp"

namespace convnet::kernels {

// The same element-to-offset map with dims of extent 1 dropped and adjacent
// dims merged wherever both inputs step through them as one: dim d folds into
// the dim before it when, for a and b alike, stride[d-1] == stride[d] * size[d]
// (true of contiguous pairs and of broadcast pairs, stride 0 both). Row-major
// order of the output elements is unchanged, so broadcast_offsets agrees.
inline Broadcast collapse_broadcast(const Broadcast& bc) {
  Broadcast out;
  for (int d = 0; d < bc.rank; ++d) {
    const int64_t size = bc.sizes[d];
    if (size == 1) continue;
    if (out.rank > 0) {
      const int last = out.rank - 1;
      if (out.a_strides[last] == bc.a_strides[d] * size &&
          out.b_strides[last] == bc.b_strides[d] * size) {
        out.sizes[last] *= size;
        out.a_strides[last] = bc.a_strides[d];
        out.b_strides[last] = bc.b_strides[d];
        continue;
      }
    }
    out.sizes[out.rank] = size;
    out.a_strides[out.rank] = bc.a_strides[d];
    out.b_strides[out.rank] = bc.b_strides[d];
    ++out.rank;
  }
  return out;
}

}  // namespace convnet::kernels
