// The emulator's own rules: each diagnostic fires on a small kernel that breaks
// it, and names kernel, launch site, block, thread and line; shuffles move the
// right values; shared memory is poisoned; the warp order switch takes effect.
#include <cuda_runtime.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "convnet/error.hpp"
#include "kernels/launch.cuh"

namespace convnet::emu::testing {
namespace {

using ::testing::HasSubstr;

// The message of the convnet::Error `f` throws ("" when it throws none).
std::string fault_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

__global__ void return_before_barrier(float* out) {
  __shared__ float s[64];
  if (threadIdx.x == 37) return;
  s[threadIdx.x] = 1.f;
  __syncthreads();
  out[threadIdx.x] = s[63 - threadIdx.x];
}

__global__ void two_barriers(float* out) {
  if (threadIdx.x < 32) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 0.f;
}

__global__ void shuffle_in_branch(float* out) {
  float v = static_cast<float>(threadIdx.x);
  if ((threadIdx.x & 31) < 16) v = __shfl_down_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}

__global__ void shuffle_against_barrier(float* out) {
  float v = static_cast<float>(threadIdx.x);
  if ((threadIdx.x & 31) < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
  __syncthreads();
  out[threadIdx.x] = v;
}

__global__ void shuffles_at_two_sites(float* out) {
  float v = static_cast<float>(threadIdx.x);
  if (threadIdx.x < 16)
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  else
    v = __shfl_xor_sync(0xffffffffu, v, 2);
  out[threadIdx.x] = v;
}

__global__ void shuffles(int* out) {  // every kind, and width 16
  const int lane = static_cast<int>(threadIdx.x);
  out[0 * 32 + lane] = __shfl_sync(0xffffffffu, lane * 10, 3);
  out[1 * 32 + lane] = __shfl_up_sync(0xffffffffu, lane * 10, 2);
  out[2 * 32 + lane] = __shfl_down_sync(0xffffffffu, lane * 10, 2, 16);
  out[3 * 32 + lane] = __shfl_xor_sync(0xffffffffu, lane * 10, 5);
  if (lane < 16) out[4 * 32 + lane] = __shfl_xor_sync(0x0000ffffu, lane * 10, 1);
  __syncwarp();
}

__global__ void read_unwritten_shared(float* out) {
  __shared__ float s[64];
  if (blockIdx.x == 0 || threadIdx.x == 0) s[threadIdx.x] = 1.f;  // block 1 writes only s[0]
  __syncthreads();
  out[blockIdx.x * 64 + threadIdx.x] = s[threadIdx.x];
}

__global__ void read_dynamic_shared(float* out) {
  out[threadIdx.x] = static_cast<float*>(dynamic_shared())[threadIdx.x];
}

// Warp w reads what warp w-1 wrote, without the barrier that would order them.
__global__ void missing_barrier(float* out) {
  __shared__ float s[4];
  const unsigned warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) s[warp] = 1.f;
  if (threadIdx.x % 32 == 0 && warp > 0) out[warp] = s[warp - 1];
}

__global__ void count_threads(int* counter) { atomicAdd(counter, 1); }

// A float4 copy through a pointer that is only 4-byte aligned (the device faults).
// UBSan would stop at the misaligned reference first; the emulator's own check
// is what this tests, so UBSan's alignment check is off here.
__global__ void __attribute__((no_sanitize("alignment"))) misaligned_float4(const float* in, float* out) {
  const float4 v = reinterpret_cast<const float4*>(in)[threadIdx.x];
  out[threadIdx.x] = v.x + v.w;
}

TEST(EmuDiagnostics, ReturnBeforeSyncthreads) {
  std::vector<float> out(64);
  const std::string m = fault_of([&] { CONVNET_LAUNCH(return_before_barrier, 2, 64, 0, nullptr)(out.data()); });
  EXPECT_THAT(m, HasSubstr("barrier divergence"));
  EXPECT_THAT(m, HasSubstr("thread (37,0,0) exited"));
  EXPECT_THAT(m, HasSubstr("kernel return_before_barrier (launched at "));
  EXPECT_THAT(m, HasSubstr("diagnostic_tests.cpp:"));
  EXPECT_THAT(m, HasSubstr("block (0,0,0), thread (0,0,0)"));
}

TEST(EmuDiagnostics, DifferentSyncthreads) {
  std::vector<float> out(64);
  const std::string m = fault_of([&] { CONVNET_LAUNCH(two_barriers, 1, 64, 0, nullptr)(out.data()); });
  EXPECT_THAT(m, HasSubstr("waits at a different __syncthreads than thread (0,0,0)"));
  EXPECT_THAT(m, HasSubstr("thread (32,0,0) at "));
}

TEST(EmuDiagnostics, ShuffleNamesExitedLane) {
  std::vector<float> out(32);
  const std::string m = fault_of([&] { CONVNET_LAUNCH(shuffle_in_branch, 1, 32, 0, nullptr)(out.data()); });
  EXPECT_THAT(m, HasSubstr("__shfl_down_sync with mask 0xffffffff names lane 16, which has exited"));
  EXPECT_THAT(m, HasSubstr("kernel shuffle_in_branch"));
}

TEST(EmuDiagnostics, ShuffleNamesLaneAtBarrier) {
  std::vector<float> out(64);
  const std::string m =
      fault_of([&] { CONVNET_LAUNCH(shuffle_against_barrier, 1, 64, 0, nullptr)(out.data()); });
  EXPECT_THAT(m, HasSubstr("names lane 16, which waits at __syncthreads"));
  EXPECT_THAT(m, HasSubstr("(diverged)"));
}

TEST(EmuDiagnostics, ShuffleAtTwoSites) {
  std::vector<float> out(32);
  const std::string m =
      fault_of([&] { CONVNET_LAUNCH(shuffles_at_two_sites, 1, 32, 0, nullptr)(out.data()); });
  EXPECT_THAT(m, HasSubstr("names lane 16, which is at __shfl_xor_sync with mask 0xffffffff at "));
  EXPECT_THAT(m, HasSubstr("(diverged)"));
}

TEST(EmuDiagnostics, ShufflesMoveTheRightValues) {
  std::vector<int> out(5 * 32, -1);
  CONVNET_LAUNCH(shuffles, 1, 32, 0, nullptr)(out.data());
  for (int lane = 0; lane < 32; ++lane) {
    EXPECT_EQ(out[lane], 30) << lane;
    EXPECT_EQ(out[32 + lane], (lane >= 2 ? lane - 2 : lane) * 10) << lane;
    EXPECT_EQ(out[64 + lane], ((lane % 16) + 2 < 16 ? lane + 2 : lane) * 10) << lane;
    EXPECT_EQ(out[96 + lane], (lane ^ 5) * 10) << lane;
    if (lane < 16) EXPECT_EQ(out[128 + lane], (lane ^ 1) * 10) << lane;
  }
}

TEST(EmuDiagnostics, LaunchLimits) {
  std::vector<int> counter(1, 0);
  EXPECT_THAT(fault_of([&] { CONVNET_LAUNCH(count_threads, 1, 2048, 0, nullptr)(counter.data()); }),
              HasSubstr("has 2048 threads; the limit is 1024"));
  EXPECT_THAT(fault_of([&] { CONVNET_LAUNCH(count_threads, dim3(1, 65536), 32, 0, nullptr)(counter.data()); }),
              HasSubstr("passes the limits"));
  EXPECT_THAT(fault_of([&] { CONVNET_LAUNCH(count_threads, 1, dim3(1, 1, 65), 0, nullptr)(counter.data()); }),
              HasSubstr("threads; the limit is 1024"));
  EXPECT_EQ(counter[0], 0) << "a refused launch ran";
  CONVNET_LAUNCH(count_threads, dim3(3, 2), dim3(32, 2, 2), 0, nullptr)(counter.data());
  EXPECT_EQ(counter[0], 6 * 128);
}

TEST(EmuDiagnostics, SharedMemoryLimitAndOptIn) {
  std::vector<float> out(32);
  EXPECT_THAT(fault_of([&] { CONVNET_LAUNCH(read_dynamic_shared, 1, 32, 64 * 1024, nullptr)(out.data()); }),
              HasSubstr("bytes of dynamic shared memory"));
  ASSERT_EQ(cudaFuncSetAttribute(read_dynamic_shared, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 100 * 1024),
            cudaSuccess);
  EXPECT_NE(cudaFuncSetAttribute(read_dynamic_shared, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 228 * 1024),
            cudaSuccess);
  CONVNET_LAUNCH(read_dynamic_shared, 1, 32, 64 * 1024, nullptr)(out.data());
  EXPECT_TRUE(std::isnan(out[5])) << "dynamic shared memory is poisoned";
  EXPECT_THAT(fault_of([&] { CONVNET_LAUNCH(read_dynamic_shared, 1, 32, 101 * 1024, nullptr)(out.data()); }),
              HasSubstr("bytes of dynamic shared memory"));
}

TEST(EmuDiagnostics, MisalignedVectorAccess) {
  std::vector<float> in(4 * 32 + 4, 1.f), out(32);
  CONVNET_LAUNCH(misaligned_float4, 1, 32, 0, nullptr)(in.data(), out.data());  // aligned: runs
  EXPECT_EQ(out[5], 2.f);
  const std::string m =
      fault_of([&] { CONVNET_LAUNCH(misaligned_float4, 1, 32, 0, nullptr)(in.data() + 1, out.data()); });
  EXPECT_THAT(m, HasSubstr("misaligned float4 access at "));
  EXPECT_THAT(m, HasSubstr("16-byte alignment required"));
  EXPECT_THAT(m, HasSubstr("kernel misaligned_float4"));
}

TEST(EmuDiagnostics, UnwrittenSharedReadsNaNInEveryBlock) {
  std::vector<float> out(2 * 64);
  CONVNET_LAUNCH(read_unwritten_shared, 2, 64, 0, nullptr)(out.data());
  EXPECT_EQ(out[0], 1.f);
  EXPECT_EQ(out[63], 1.f);
  EXPECT_EQ(out[64], 1.f);
  for (int t = 1; t < 64; ++t) EXPECT_TRUE(std::isnan(out[64 + t])) << "block 1, thread " << t;
}

TEST(EmuDiagnostics, WarpOrderSwitch) {
  std::vector<float> out(4, 0.f);
  setenv("CONVNET_EMU_ORDER", "forward", 1);
  CONVNET_LAUNCH(missing_barrier, 1, 128, 0, nullptr)(out.data());
  EXPECT_EQ(out[3], 1.f) << "forward: warp 2 ran before warp 3";
  setenv("CONVNET_EMU_ORDER", "reverse", 1);
  CONVNET_LAUNCH(missing_barrier, 1, 128, 0, nullptr)(out.data());
  EXPECT_TRUE(std::isnan(out[3])) << "reverse: warp 3 ran first and read poison";
  setenv("CONVNET_EMU_ORDER", "sideways", 1);
  EXPECT_THAT(fault_of([&] { CONVNET_LAUNCH(missing_barrier, 1, 128, 0, nullptr)(out.data()); }),
              HasSubstr("CONVNET_EMU_ORDER=sideways"));
  unsetenv("CONVNET_EMU_ORDER");
}

}  // namespace
}  // namespace convnet::emu::testing
