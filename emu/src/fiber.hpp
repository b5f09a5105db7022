// One CUDA thread's fiber: a pooled stack and a boost.context fcontext switch
// (no syscall per switch, unlike ucontext), with each switch announced to
// AddressSanitizer when it is on, so it follows the stack in use, and in race
// mode (CONVNET_EMU_TSAN) to ThreadSanitizer: each stack is a TSan fiber and
// switches do not synchronise, so the scheduler states every happens-before
// edge itself (race_release / race_acquire) where CUDA promises one.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>
#include <vector>

namespace convnet::emu {

class FiberStacks {
 public:
  explicit FiberStacks(size_t bytes);
  ~FiberStacks();
  FiberStacks(const FiberStacks&) = delete;
  FiberStacks& operator=(const FiberStacks&) = delete;
  void reserve(size_t count);           // at least `count` stacks
  char* bottom(size_t i) const { return bases_[i] + page_; }  // above the guard page
  size_t size() const { return bytes_; }
  void* race_fiber(size_t i) const { return race_fibers_[i]; }  // TSan's, or null
  // Race mode, after a fault: the first `count` TSan contexts are replaced, since
  // frames unwound by an exception stay on TSan's shadow stack otherwise.
  void renew_race_fibers(size_t count);

 private:
  size_t bytes_, page_;
  std::vector<char*> bases_;
  std::vector<void*> race_fibers_;
};

// Happens-before edges for ThreadSanitizer in race mode; no-ops otherwise.
void race_release(const void* address);
void race_acquire(const void* address);
constexpr bool kRaceMode =
#if defined(CONVNET_EMU_TSAN)
    true;
#else
    false;
#endif

// A fiber runs `entry(data)` on its stack; it switches back with yield(), or by
// returning from entry (then it is finished and never resumed).
class Fiber {
 public:
  using Entry = void (*)(void* data);
  void start(char* stack_bottom, size_t stack_size, void* race_fiber, Entry entry, void* data);
  void resume();                 // from the scheduler; returns when the fiber yields or ends
  static void yield();           // from inside the running fiber
  bool finished() const { return finished_; }

 private:
  static void trampoline(boost::context::detail::transfer_t from);
  boost::context::detail::fcontext_t context_ = nullptr;
  char* stack_bottom_ = nullptr;
  size_t stack_size_ = 0;
  Entry entry_ = nullptr;
  void* data_ = nullptr;
  bool finished_ = false;
  void* fake_stack_ = nullptr;   // ASan's, for this fiber's frames
  void* race_fiber_ = nullptr;   // TSan's context for this stack (race mode)
};

}  // namespace convnet::emu
