// What the backend registry needs from the cuDNN backend, as plain C++ (no
// cuDNN or CUDA types): src/core never sees cudnn.h.
#pragma once

#include <string>

namespace convnet {
class Backend;
}

namespace convnet::cudnn {

// "" when the cuDNN backend can run here; otherwise why not (no GPU, no
// libcudnn.so.9 found, a cuDNN older than this build needs). The first call
// loads the library.
std::string unavailable_reason();
// The process-wide CudnnBackend; only after unavailable_reason() returned "".
Backend& backend();
// "cuDNN 9.19.0 (<path>, built for CUDA 13.0)" when the library loads, else "".
std::string library_description();

}  // namespace convnet::cudnn
