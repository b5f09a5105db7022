#include "fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <new>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CONVNET_EMU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CONVNET_EMU_ASAN 1
#endif
#if defined(CONVNET_EMU_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
// Race mode: this file and scheduler.cpp are built without -fsanitize=thread
// (their bookkeeping crosses fibers by design) but call TSan's interface.
#if defined(CONVNET_EMU_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace ctx = boost::context::detail;

namespace convnet::emu {
namespace {

// The scheduler's side of the switch (one scheduler per host thread).
struct SchedulerSide {
  ctx::fcontext_t context = nullptr;
  Fiber* running = nullptr;
  void* fake_stack = nullptr;
  const void* stack_bottom = nullptr;
  size_t stack_size = 0;
  void* race_fiber = nullptr;  // TSan's context of the host thread
};
thread_local SchedulerSide t_scheduler;

void start_switch(void** fake_stack_save, const void* bottom, size_t size) {
#if defined(CONVNET_EMU_ASAN)
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
  (void)fake_stack_save, (void)bottom, (void)size;
#endif
}

void finish_switch(void* fake_stack_save, const void** old_bottom, size_t* old_size) {
#if defined(CONVNET_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack_save, old_bottom, old_size);
#else
  (void)fake_stack_save, (void)old_bottom, (void)old_size;
#endif
}

// Switches TSan to `fiber` without a happens-before edge: the edges CUDA
// promises (barriers, block start and end) are stated by the scheduler.
void race_switch(void* fiber) {
#if defined(CONVNET_EMU_TSAN)
  __tsan_switch_to_fiber(fiber, __tsan_switch_to_fiber_no_sync);
#else
  (void)fiber;
#endif
}

}  // namespace

void race_release(const void* address) {
#if defined(CONVNET_EMU_TSAN)
  __tsan_release(const_cast<void*>(address));
#else
  (void)address;
#endif
}

void race_acquire(const void* address) {
#if defined(CONVNET_EMU_TSAN)
  __tsan_acquire(const_cast<void*>(address));
#else
  (void)address;
#endif
}

FiberStacks::FiberStacks(size_t bytes)
    : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
  bytes_ = (bytes + page_ - 1) / page_ * page_;
}

FiberStacks::~FiberStacks() {
  for (char* base : bases_) munmap(base, bytes_ + page_);
#if defined(CONVNET_EMU_TSAN)
  for (void* fiber : race_fibers_) __tsan_destroy_fiber(fiber);
#endif
}

void FiberStacks::reserve(size_t count) {
  while (bases_.size() < count) {
    // Reserved, not committed: pages are touched as a thread's stack grows.
    void* base = mmap(nullptr, bytes_ + page_, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    mprotect(base, page_, PROT_NONE);  // an overflowing fiber faults here, not in its neighbour
    bases_.push_back(static_cast<char*>(base));
    // One TSan context per stack, kept like the stack: a CUDA thread of a later
    // block reuses it (blocks are ordered by the scheduler's edges anyway).
#if defined(CONVNET_EMU_TSAN)
    race_fibers_.push_back(__tsan_create_fiber(0));
#else
    race_fibers_.push_back(nullptr);
#endif
  }
}

void FiberStacks::renew_race_fibers(size_t count) {
#if defined(CONVNET_EMU_TSAN)
  for (size_t i = 0; i < count && i < race_fibers_.size(); ++i) {
    __tsan_destroy_fiber(race_fibers_[i]);
    race_fibers_[i] = __tsan_create_fiber(0);
  }
#else
  (void)count;
#endif
}

void Fiber::start(char* stack_bottom, size_t stack_size, void* race_fiber, Entry entry, void* data) {
  stack_bottom_ = stack_bottom;
  race_fiber_ = race_fiber;
  stack_size_ = stack_size;
  entry_ = entry;
  data_ = data;
  finished_ = false;
  fake_stack_ = nullptr;
  context_ = ctx::make_fcontext(stack_bottom + stack_size, stack_size, &Fiber::trampoline);
}

void Fiber::resume() {
  SchedulerSide& s = t_scheduler;
  s.running = this;
#if defined(CONVNET_EMU_TSAN)
  if (s.race_fiber == nullptr) s.race_fiber = __tsan_get_current_fiber();
#endif
  race_switch(race_fiber_);
  start_switch(&s.fake_stack, stack_bottom_, stack_size_);
  const ctx::transfer_t back = ctx::jump_fcontext(context_, this);
  finish_switch(s.fake_stack, nullptr, nullptr);
  context_ = back.fctx;
  s.running = nullptr;
}

void Fiber::yield() {
  SchedulerSide& s = t_scheduler;
  Fiber* self = s.running;
  race_switch(s.race_fiber);
  start_switch(&self->fake_stack_, s.stack_bottom, s.stack_size);
  const ctx::transfer_t back = ctx::jump_fcontext(s.context, nullptr);
  s.context = back.fctx;
  finish_switch(self->fake_stack_, &s.stack_bottom, &s.stack_size);
}

void Fiber::trampoline(ctx::transfer_t from) {
  SchedulerSide& s = t_scheduler;
  s.context = from.fctx;
  Fiber* self = static_cast<Fiber*>(from.data);
  finish_switch(nullptr, &s.stack_bottom, &s.stack_size);
  self->entry_(self->data_);  // must not throw: the entry catches
  self->finished_ = true;
  race_switch(s.race_fiber);
  start_switch(nullptr, s.stack_bottom, s.stack_size);  // this fiber's frames are gone for good
  ctx::jump_fcontext(s.context, nullptr);
  std::abort();  // a finished fiber is never resumed
}

}  // namespace convnet::emu
