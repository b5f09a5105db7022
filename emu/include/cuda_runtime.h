// Stand-in for the toolkit's cuda_runtime.h in the emulated build: kernels/*.cu
// compile as host C++ against it (emu/CMakeLists.txt puts emu/include first and
// keeps the toolkit's include folder off the path). Kernel language in
// emu/kernel.hpp and emu/launch.hpp; the few runtime calls the kernel files make
// in emu/runtime_min.hpp, which the host-backed runtime will replace.
#pragma once

#include "emu/kernel.hpp"
#include "emu/launch.hpp"
#include "emu/runtime_min.hpp"
