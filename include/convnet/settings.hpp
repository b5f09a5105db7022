// Process-wide numerical settings every backend honours.
//
// Math mode: FP32 (the default) keeps every GPU product in full float32 (cuBLAS
// pedantic math, no TF32 tensor-core cuDNN engines); TF32 allows TensorFloat-32
// tensor cores (10-bit mantissa products, ~1e-3 relative error, several times
// faster on an H100). The CPU backend is FP32 either way. Tests read math_mode()
// to pick their tolerance.
//
// Deterministic: the same inputs give bit-identical outputs from run to run.
// The CPU backend and our CUDA kernels always are (fixed reduction orders, no
// atomics in reductions); with it on, the cuDNN backend keeps only engines
// without cuDNN's NONDETERMINISTIC note.
//
// Initial values come from CONVNET_MATH (fp32|tf32), CONVNET_DETERMINISTIC (0|1)
// and CONVNET_CUDNN_AUTOTUNE (0|1); a bad value is a convnet::Error at first use.
// Set them before the first GPU call: cuDNN plans are cached per setting, so a
// change later takes effect for shapes met after it.
#pragma once

namespace convnet {

enum class MathMode { FP32, TF32 };

MathMode math_mode();
void set_math_mode(MathMode mode);
const char* math_mode_name(MathMode mode);  // "fp32", "tf32"

bool deterministic();
void set_deterministic(bool on);

// cuDNN autotuning: time every candidate plan once per new shape and keep the
// fastest (instead of the heuristics' first choice).
bool cudnn_autotune();
void set_cudnn_autotune(bool on);

}  // namespace convnet
