// The CUDA kernel language as host C++: keywords, built-in variables, shared
// memory, barriers, warp shuffles, atomics, float4 and the intrinsics our
// kernels use. Every CUDA thread runs as a fiber (emu/src/scheduler.cpp), one
// at a time, so atomics are plain read-modify-writes and barriers are switches.
#pragma once

#if defined(__CUDACC__)
#error "emu/include is the emulated build's; nvcc uses the toolkit's headers"
#endif

#include <math.h>  // expf, fmaxf, isnan, ... in the global namespace, as in CUDA

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// __restrict__ is a GNU keyword already; __noinline__ is left out: libstdc++
// writes __attribute__((__noinline__)).

// Shared variables are statics in one ELF section, which the scheduler fills
// with 0xFF before every block (an unwritten float reads as NaN). Clang, not
// GCC: GCC drops `section` on static locals of templates. Blocks run one after
// another, so one copy serves them all.
#define CONVNET_EMU_SHARED_SECTION "convnet_emu_shared"
#define __shared__ __attribute__((section(CONVNET_EMU_SHARED_SECTION))) static

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return {x, y, z}; }
};

// Set by the scheduler before it resumes a thread. thread_local: a later
// runtime may run streams on worker threads.
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};
constexpr int warpSize = 32;

namespace convnet::emu {
// Stops the kernel: a vector load or store at an address its type's alignment
// forbids (the device faults; UBSan does not check whole-struct copies).
[[noreturn]] void misaligned_access(const void* address, unsigned alignment, const char* type);
template <unsigned Alignment>
inline void check_aligned(const void* address, const char* type) {
  // Hidden from the optimiser, which would fold the test away: a float4& is
  // 16-byte aligned by its type, so a misaligned one is already undefined.
  uintptr_t bits = reinterpret_cast<uintptr_t>(address);
  asm("" : "+r"(bits));
  if (bits % Alignment != 0) misaligned_access(address, Alignment, type);
}
}  // namespace convnet::emu

// Vector types: every copy from or to memory checks the address, as the
// device's 16- and 8-byte loads and stores require.
struct __attribute__((aligned(16))) float4 {
  float x, y, z, w;
  float4() = default;
  constexpr float4(float vx, float vy, float vz, float vw) : x(vx), y(vy), z(vz), w(vw) {}
  float4(const float4& o) {  // checks before it reads
    convnet::emu::check_aligned<16>(&o, "float4");
    x = o.x, y = o.y, z = o.z, w = o.w;
  }
  float4& operator=(const float4& o) {
    convnet::emu::check_aligned<16>(this, "float4");
    convnet::emu::check_aligned<16>(&o, "float4");
    x = o.x, y = o.y, z = o.z, w = o.w;
    return *this;
  }
};
struct __attribute__((aligned(8))) float2 {
  float x, y;
  float2() = default;
  constexpr float2(float vx, float vy) : x(vx), y(vy) {}
  float2(const float2& o) {
    convnet::emu::check_aligned<8>(&o, "float2");
    x = o.x, y = o.y;
  }
  float2& operator=(const float2& o) {
    convnet::emu::check_aligned<8>(this, "float2");
    convnet::emu::check_aligned<8>(&o, "float2");
    x = o.x, y = o.y;
    return *this;
  }
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }

namespace convnet::emu {

// Where a barrier or warp call stands in the source, for the emulator's messages.
struct Site {
  const char* file;
  int line;
};
enum class ShuffleKind { Index, Up, Down, Xor };

// Block the calling thread until the rule of the call is met (scheduler.cpp).
void syncthreads(Site site);
void syncwarp(Site site, unsigned mask = 0xffffffffu);
struct SyncWarpAt {
  Site site;
  void operator()(unsigned mask = 0xffffffffu) const { syncwarp(site, mask); }
};
uint64_t shuffle(Site site, ShuffleKind kind, unsigned mask, uint64_t bits, int arg, int width);
// The current launch's dynamic shared memory (its shared_bytes), poisoned like the static.
void* dynamic_shared();

template <typename T>
T shuffle_as(Site site, ShuffleKind kind, unsigned mask, T value, int arg, int width = 32) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffles move <= 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = shuffle(site, kind, mask, bits, arg, width);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

}  // namespace convnet::emu

#define CONVNET_EMU_SITE (::convnet::emu::Site{__FILE__, __LINE__})
#define __syncthreads() ::convnet::emu::syncthreads(CONVNET_EMU_SITE)
// `__syncwarp()` and `__syncwarp(mask)` without the GNU comma extension (GCC's
// strict -std=c++17 builds race mode): the site binds first, the mask after.
#define __syncwarp(...) ::convnet::emu::SyncWarpAt{CONVNET_EMU_SITE}(__VA_ARGS__)
#define __shfl_sync(mask, ...) \
  ::convnet::emu::shuffle_as(CONVNET_EMU_SITE, ::convnet::emu::ShuffleKind::Index, mask, __VA_ARGS__)
#define __shfl_up_sync(mask, ...) \
  ::convnet::emu::shuffle_as(CONVNET_EMU_SITE, ::convnet::emu::ShuffleKind::Up, mask, __VA_ARGS__)
#define __shfl_down_sync(mask, ...) \
  ::convnet::emu::shuffle_as(CONVNET_EMU_SITE, ::convnet::emu::ShuffleKind::Down, mask, __VA_ARGS__)
#define __shfl_xor_sync(mask, ...) \
  ::convnet::emu::shuffle_as(CONVNET_EMU_SITE, ::convnet::emu::ShuffleKind::Xor, mask, __VA_ARGS__)

// Atomics: one thread runs at a time and none yields inside, so any
// read-modify-write would do; they are relaxed host atomics so that race mode's
// ThreadSanitizer sees them as atomic, like the device's (which order nothing).
#define CONVNET_EMU_ATOMIC(name, T, expr)                                              \
  inline T name(T* address, T value) {                                                 \
    T old;                                                                             \
    __atomic_load(address, &old, __ATOMIC_RELAXED);                                    \
    for (;;) {                                                                         \
      T desired = (expr);                                                              \
      if (__atomic_compare_exchange(address, &old, &desired, false, __ATOMIC_RELAXED,  \
                                    __ATOMIC_RELAXED))                                 \
        return old;                                                                    \
    }                                                                                  \
  }
CONVNET_EMU_ATOMIC(atomicAdd, int, old + value)
CONVNET_EMU_ATOMIC(atomicAdd, unsigned, old + value)
CONVNET_EMU_ATOMIC(atomicAdd, unsigned long long, old + value)
CONVNET_EMU_ATOMIC(atomicAdd, float, old + value)
CONVNET_EMU_ATOMIC(atomicAdd, double, old + value)
CONVNET_EMU_ATOMIC(atomicSub, int, old - value)
CONVNET_EMU_ATOMIC(atomicExch, int, value)
CONVNET_EMU_ATOMIC(atomicExch, unsigned, value)
CONVNET_EMU_ATOMIC(atomicExch, float, value)
CONVNET_EMU_ATOMIC(atomicMax, int, old < value ? value : old)
CONVNET_EMU_ATOMIC(atomicMin, int, value < old ? value : old)
#undef CONVNET_EMU_ATOMIC
#define CONVNET_EMU_ATOMIC_CAS(T)                                                           \
  inline T atomicCAS(T* address, T compare, T value) {                                      \
    __atomic_compare_exchange(address, &compare, &value, false, __ATOMIC_RELAXED,           \
                              __ATOMIC_RELAXED);                                            \
    return compare;  /* the old value, whether or not it was swapped */                     \
  }
CONVNET_EMU_ATOMIC_CAS(int)
CONVNET_EMU_ATOMIC_CAS(unsigned)
CONVNET_EMU_ATOMIC_CAS(unsigned long long)
#undef CONVNET_EMU_ATOMIC_CAS

// Correctly rounded float operations; the build uses -ffp-contract=off, so
// they stay unfused as on the device. fmaf is libm's true fused multiply-add.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __frcp_rn(float a) { return 1.f / a; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __expf(float a) { return expf(a); }
inline float __logf(float a) { return logf(a); }
inline float __saturatef(float a) { return a < 0.f ? 0.f : (a > 1.f ? 1.f : a); }
inline int __float_as_int(float a) { int i; std::memcpy(&i, &a, 4); return i; }
inline float __int_as_float(int i) { float a; std::memcpy(&a, &i, 4); return a; }
inline unsigned __float_as_uint(float a) { unsigned u; std::memcpy(&u, &a, 4); return u; }
inline float __uint_as_float(unsigned u) { float a; std::memcpy(&a, &u, 4); return a; }
