// cuDNN, loaded at run time: one build runs against whichever cuDNN 9 the GPU
// machine has (PyTorch's wheel, or the toolkit's). The frontend's calls go
// through `cudnn_frontend::cudnn_dlhandle` (NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING);
// the few classic calls we make ourselves go through the table below.
//
// Where it looks, in order: $CONVNET_CUDNN_LIBRARY (a path to the .so), then
// "libcudnn.so.9" on the loader's search path (LD_LIBRARY_PATH, ldconfig), then
// the directory of the cuDNN this build was configured with. Never two cuDNNs
// in one process: nothing in convnet links libcudnn.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <string>

#include "convnet/error.hpp"

namespace convnet::cudnn {

// The oldest cuDNN this build runs on: the graph API with the conv, pointwise
// and fused nodes we build (cuDNN 9.0).
constexpr size_t kMinimumVersion = 90000;

struct Library {
  std::string path;     // what was loaded
  size_t version = 0;   // cudnnGetVersion(), e.g. 91900 for 9.19.0
  size_t cudart = 0;    // the CUDA runtime it was built for (cudnnGetCudartVersion)
  std::string cudart_path;  // the runtime the frontend is pinned to (CUDNN_FRONTEND_CUDART_LIB_NAME)
  decltype(&cudnnGetErrorString) get_error_string = nullptr;
  decltype(&cudnnCreate) create = nullptr;
  decltype(&cudnnDestroy) destroy = nullptr;
  decltype(&cudnnSetStream) set_stream = nullptr;
  decltype(&cudnnCreateTensorDescriptor) create_tensor_descriptor = nullptr;
  decltype(&cudnnSetTensor4dDescriptor) set_tensor_4d_descriptor = nullptr;
  decltype(&cudnnDestroyTensorDescriptor) destroy_tensor_descriptor = nullptr;
  decltype(&cudnnSoftmaxForward) softmax_forward = nullptr;
  decltype(&cudnnSoftmaxBackward) softmax_backward = nullptr;
};

// Loads the library once. "" when it is usable, else the reason (every place
// tried, or the version found and the version needed).
const std::string& load_problem();
// The loaded library; throws convnet::Error with load_problem() if there is none.
const Library& library();
// "9.19.0 (/usr/local/cuda/lib/libcudnn.so.9, built for CUDA 13.0; CUDA runtime
// /usr/local/cuda/lib/libcudart.so.13)".
std::string describe(const Library& lib);

}  // namespace convnet::cudnn

// Every cuDNN status is checked; the message names the call and cuDNN's reason.
#define CONVNET_CUDNN_CHECK(call)                                                          \
  do {                                                                                     \
    const cudnnStatus_t convnet_status_ = (call);                                          \
    if (convnet_status_ != CUDNN_STATUS_SUCCESS)                                           \
      CONVNET_FAIL(#call, " failed at ", __FILE__, ":", __LINE__, ": ",                    \
                   ::convnet::cudnn::library().get_error_string(convnet_status_));         \
  } while (0)
