// What the backend registry needs from the oneDNN backend, as plain C++:
// src/core never sees dnnl.hpp.
#pragma once

#include <string>

namespace convnet {
class Backend;
}

namespace convnet::onednn {

// The process-wide OneDnnBackend over the CPU reference.
Backend& backend();
// "oneDNN 2.6.3 (cpu runtime OpenMP, <n> threads)".
std::string library_description();

}  // namespace convnet::onednn
