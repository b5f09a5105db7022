// Stand-in for the toolkit's cuda_runtime.h in the emulated build: kernels/*.cu
// and src/cuda compile as host C++ against it (emu/include goes first on the
// include path; the toolkit's include folder is never on it). Kernel language in
// emu/kernel.hpp and emu/launch.hpp; the runtime's names in emu/runtime_api.hpp.
#pragma once

#include "emu/kernel.hpp"
#include "emu/launch.hpp"
#include "emu/runtime_api.hpp"
