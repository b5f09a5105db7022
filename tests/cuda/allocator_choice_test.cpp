// The device allocator's choice (src/cuda/allocator_choice.hpp), on the host: a
// device without memory-pool support falls back to the caching bins and says so.
#include <gtest/gtest.h>

#include "convnet/error.hpp"
#include "cuda/allocator_choice.hpp"

namespace convnet::cuda_hooks {
namespace {

TEST(AllocatorChoice, EnvironmentPicksTheStrategy) {
  EXPECT_EQ(requested_allocator(nullptr), AllocatorKind::Async);
  EXPECT_EQ(requested_allocator(""), AllocatorKind::Async);
  EXPECT_EQ(requested_allocator("async"), AllocatorKind::Async);
  EXPECT_EQ(requested_allocator("caching"), AllocatorKind::Caching);
  EXPECT_THROW(requested_allocator("pool"), Error);
}

TEST(AllocatorChoice, DeviceWithoutPoolsFallsBackToCachingAndSaysSo) {
  EXPECT_EQ(allocator_for_device(AllocatorKind::Async, true), AllocatorKind::Async);
  EXPECT_EQ(allocator_for_device(AllocatorKind::Async, false), AllocatorKind::Caching);
  EXPECT_EQ(allocator_for_device(AllocatorKind::Caching, false), AllocatorKind::Caching);
  EXPECT_EQ(allocator_for_device(AllocatorKind::Caching, true), AllocatorKind::Caching);
  const std::string note = allocator_note(3, AllocatorKind::Async, false);
  EXPECT_NE(note.find("cuda:3"), std::string::npos) << note;
  EXPECT_NE(note.find("cudaDevAttrMemoryPoolsSupported"), std::string::npos) << note;
  EXPECT_NE(note.find("caching"), std::string::npos) << note;
  EXPECT_EQ(allocator_note(0, AllocatorKind::Async, true), "");
  EXPECT_EQ(allocator_note(0, AllocatorKind::Caching, false), "");  // nothing was refused
}

}  // namespace
}  // namespace convnet::cuda_hooks
