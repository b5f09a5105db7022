#include "cudnn/cudnn_library.hpp"

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <sstream>
#include <vector>

// The frontend (NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING) resolves every cuDNN
// call through this handle; it is ours to define and to set.
namespace cudnn_frontend {
void* cudnn_dlhandle = nullptr;
}

namespace convnet::cudnn {
namespace {

struct Loaded {
  Library lib;
  std::string problem;
};

template <typename Fn>
bool bind(void* handle, const char* name, Fn& fn, std::string& missing) {
  fn = reinterpret_cast<Fn>(dlsym(handle, name));
  if (!fn) missing += std::string(missing.empty() ? "" : ", ") + name;
  return fn != nullptr;
}

std::string version_str(size_t v) {
  // cuDNN 9 encodes major * 10000 + minor * 100 + patch.
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100);
}

// The frontend dlopens a CUDA runtime of its own, trying libcudart.so.12 before
// .13: where both are on the path (PyTorch's wheels bring their own), one process
// would hold two runtimes. Point it at the runtime this library is linked to.
std::string pin_cudart() {
  if (const char* set = std::getenv("CUDNN_FRONTEND_CUDART_LIB_NAME"); set && *set) return set;
  Dl_info info{};
  std::string path;
  if (dladdr(reinterpret_cast<void*>(&cudaRuntimeGetVersion), &info) && info.dli_fname)
    path = info.dli_fname;
  if (path.find("libcudart.so") == std::string::npos)  // a static runtime: name ours
    path = "libcudart.so." + std::to_string(CUDART_VERSION / 1000);
  setenv("CUDNN_FRONTEND_CUDART_LIB_NAME", path.c_str(), /*overwrite=*/0);
  return path;
}

Loaded load() {
  Loaded out;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("CONVNET_CUDNN_LIBRARY"); env && *env) candidates.push_back(env);
  candidates.push_back("libcudnn.so.9");
#ifdef CONVNET_CUDNN_LIBRARY_DIR
  candidates.push_back(std::string(CONVNET_CUDNN_LIBRARY_DIR) + "/libcudnn.so.9");
#endif
  void* handle = nullptr;
  std::ostringstream tried;
  for (const std::string& c : candidates) {
    handle = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle) {
      out.lib.path = c;
      break;
    }
    const char* why = dlerror();
    tried << (tried.tellp() > 0 ? "; " : "") << c << ": " << (why ? why : "not found");
  }
  if (!handle) {
    out.problem = "cannot load cuDNN 9 (set CONVNET_CUDNN_LIBRARY to libcudnn.so.9): " + tried.str();
    return out;
  }
  Library& lib = out.lib;
  std::string missing;
  decltype(&cudnnGetVersion) get_version = nullptr;
  decltype(&cudnnGetCudartVersion) get_cudart = nullptr;
  bind(handle, "cudnnGetVersion", get_version, missing);
  bind(handle, "cudnnGetCudartVersion", get_cudart, missing);
  bind(handle, "cudnnGetErrorString", lib.get_error_string, missing);
  bind(handle, "cudnnCreate", lib.create, missing);
  bind(handle, "cudnnDestroy", lib.destroy, missing);
  bind(handle, "cudnnSetStream", lib.set_stream, missing);
  bind(handle, "cudnnCreateTensorDescriptor", lib.create_tensor_descriptor, missing);
  bind(handle, "cudnnSetTensor4dDescriptor", lib.set_tensor_4d_descriptor, missing);
  bind(handle, "cudnnDestroyTensorDescriptor", lib.destroy_tensor_descriptor, missing);
  bind(handle, "cudnnSoftmaxForward", lib.softmax_forward, missing);
  bind(handle, "cudnnSoftmaxBackward", lib.softmax_backward, missing);
  if (!missing.empty()) {
    out.problem = lib.path + " lacks " + missing + ": not a cuDNN 9 library";
    dlclose(handle);
    return out;
  }
  lib.version = get_version();
  lib.cudart = get_cudart();
  if (lib.version < kMinimumVersion) {
    out.problem = lib.path + " is cuDNN " + version_str(lib.version) + "; convnet needs " +
                  version_str(kMinimumVersion) + " or newer";
    dlclose(handle);
    return out;
  }
  lib.cudart_path = pin_cudart();
  cudnn_frontend::cudnn_dlhandle = handle;  // kept for the process's lifetime
  return out;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

}  // namespace

const std::string& load_problem() { return loaded().problem; }

const Library& library() {
  const Loaded& l = loaded();
  CONVNET_CHECK(l.problem.empty(), "cuDNN backend: ", l.problem);
  return l.lib;
}

std::string describe(const Library& lib) {
  return version_str(lib.version) + " (" + lib.path + ", built for CUDA " +
         std::to_string(lib.cudart / 1000) + "." + std::to_string(lib.cudart % 1000 / 10) +
         "; CUDA runtime " + lib.cudart_path + ")";
}

}  // namespace convnet::cudnn
