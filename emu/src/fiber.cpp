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

}  // namespace

FiberStacks::FiberStacks(size_t bytes)
    : page_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
  bytes_ = (bytes + page_ - 1) / page_ * page_;
}

FiberStacks::~FiberStacks() {
  for (char* base : bases_) munmap(base, bytes_ + page_);
}

void FiberStacks::reserve(size_t count) {
  while (bases_.size() < count) {
    // Reserved, not committed: pages are touched as a thread's stack grows.
    void* base = mmap(nullptr, bytes_ + page_, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    mprotect(base, page_, PROT_NONE);  // an overflowing fiber faults here, not in its neighbour
    bases_.push_back(static_cast<char*>(base));
  }
}

void Fiber::start(char* stack_bottom, size_t stack_size, Entry entry, void* data) {
  stack_bottom_ = stack_bottom;
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
  start_switch(&s.fake_stack, stack_bottom_, stack_size_);
  const ctx::transfer_t back = ctx::jump_fcontext(context_, this);
  finish_switch(s.fake_stack, nullptr, nullptr);
  context_ = back.fctx;
  s.running = nullptr;
}

void Fiber::yield() {
  SchedulerSide& s = t_scheduler;
  Fiber* self = s.running;
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
  start_switch(nullptr, s.stack_bottom, s.stack_size);  // this fiber's frames are gone for good
  ctx::jump_fcontext(s.context, nullptr);
  std::abort();  // a finished fiber is never resumed
}

}  // namespace convnet::emu
