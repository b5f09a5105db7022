// The process-wide settings (settings.hpp, backend.hpp's default backend),
// initialised from the environment on first use.
#include "convnet/settings.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "convnet/backend.hpp"
#include "convnet/error.hpp"

namespace convnet {
namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v || std::strcmp(v, "0") == 0) return false;
  if (std::strcmp(v, "1") == 0) return true;
  CONVNET_FAIL(name, "=\"", v, "\": expected 0 or 1");
}

MathMode env_math() {
  const char* v = std::getenv("CONVNET_MATH");
  if (!v || !*v || std::strcmp(v, "fp32") == 0) return MathMode::FP32;
  if (std::strcmp(v, "tf32") == 0) return MathMode::TF32;
  CONVNET_FAIL("CONVNET_MATH=\"", v, "\": expected fp32 or tf32");
}

std::optional<Backend::Kind> env_backend() {
  const char* v = std::getenv("CONVNET_BACKEND");
  if (!v || !*v || std::strcmp(v, "auto") == 0) return std::nullopt;
  try {
    return parse_backend_kind(v);
  } catch (const Error& e) {
    CONVNET_FAIL("CONVNET_BACKEND: ", e.what(), " (or auto)");
  }
}

// Each setting: read from the environment once, then owned by the setters.
template <typename T>
struct Setting {
  std::once_flag once;
  std::atomic<T> value{};
  template <typename Init>
  T get(Init init) {
    std::call_once(once, [&] { value.store(init()); });
    return value.load();
  }
  void set(T v) {
    std::call_once(once, [] {});  // an explicit choice overrides the environment
    value.store(v);
  }
};

Setting<MathMode> g_math;
Setting<bool> g_deterministic, g_autotune;
// Backend choice: -1 for auto, else the Kind's value.
Setting<int> g_backend;
int backend_code() {
  std::optional<Backend::Kind> k = env_backend();
  return k ? static_cast<int>(*k) : -1;
}

}  // namespace

MathMode math_mode() { return g_math.get(env_math); }
void set_math_mode(MathMode mode) { g_math.set(mode); }
const char* math_mode_name(MathMode mode) { return mode == MathMode::TF32 ? "tf32" : "fp32"; }

bool deterministic() { return g_deterministic.get([] { return env_flag("CONVNET_DETERMINISTIC"); }); }
void set_deterministic(bool on) { g_deterministic.set(on); }

bool cudnn_autotune() { return g_autotune.get([] { return env_flag("CONVNET_CUDNN_AUTOTUNE"); }); }
void set_cudnn_autotune(bool on) { g_autotune.set(on); }

std::optional<Backend::Kind> default_backend_choice() {
  const int code = g_backend.get(backend_code);
  if (code < 0) return std::nullopt;
  return static_cast<Backend::Kind>(code);
}
void set_default_backend(std::optional<Backend::Kind> kind) {
  g_backend.set(kind ? static_cast<int>(*kind) : -1);
}

}  // namespace convnet
