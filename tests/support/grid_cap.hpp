// Caps the grid of every grid-stride GPU launch for a scope (kernels::set_grid_cap),
// so tests make each loop wrap at least once. A no-op in a build without CUDA.
#pragma once

#if defined(CONVNET_WITH_CUDA)
#include "kernels/kernels.hpp"
#endif

namespace convnet::testing_support {

class GridCap {
 public:
  explicit GridCap(int blocks) {
#if defined(CONVNET_WITH_CUDA)
    previous_ = kernels::grid_cap();
    kernels::set_grid_cap(blocks);
#else
    (void)blocks;
#endif
  }
  ~GridCap() {
#if defined(CONVNET_WITH_CUDA)
    kernels::set_grid_cap(previous_);
#endif
  }
  GridCap(const GridCap&) = delete;
  GridCap& operator=(const GridCap&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace convnet::testing_support
