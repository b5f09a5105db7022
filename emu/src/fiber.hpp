// One CUDA thread's fiber: a pooled stack and a boost.context fcontext switch
// (no syscall per switch, unlike ucontext), with each switch announced to
// AddressSanitizer when it is on, so it follows the stack in use.
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

 private:
  size_t bytes_, page_;
  std::vector<char*> bases_;
};

// A fiber runs `entry(data)` on its stack; it switches back with yield(), or by
// returning from entry (then it is finished and never resumed).
class Fiber {
 public:
  using Entry = void (*)(void* data);
  void start(char* stack_bottom, size_t stack_size, Entry entry, void* data);
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
};

}  // namespace convnet::emu
