#include "cpu/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace convnet::cpu {
namespace {

int configured_threads() {
  if (const char* env = std::getenv("CONVNET_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

thread_local bool t_in_parallel_region = false;
thread_local int t_serial_depth = 0;  // enter_serial() minus leave_serial() on this thread
thread_local TeamRunner t_team = nullptr;  // set by enter_team()
thread_local int t_team_depth = 0;

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void run(int64_t count, const std::function<void(int64_t)>& body) {
    std::unique_lock<std::mutex> run_lock(run_mutex_);  // one parallel_for at a time
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      count_ = count;
      pending_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    wake_.notify_all();
    run_chunk(0, body);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    body_ = nullptr;
  }

 private:
  void run_chunk(int index, const std::function<void(int64_t)>& body) {
    const int64_t n = threads();
    const int64_t begin = count_ * index / n, end = count_ * (index + 1) / n;
    t_in_parallel_region = true;
    for (int64_t i = begin; i < end; ++i) body(i);
    t_in_parallel_region = false;
  }

  void work(int index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int64_t)>* body;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        body = body_;
      }
      run_chunk(index, *body);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_, mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* body_ = nullptr;
  int64_t count_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

std::atomic<Pool*>& pool_slot() {
  // Leaked on purpose: joining threads during static destruction can deadlock.
  static std::atomic<Pool*> slot{new Pool(configured_threads())};
  return slot;
}

Pool& pool() { return *pool_slot().load(std::memory_order_acquire); }

}  // namespace

int parallel_threads() { return pool().threads(); }

void enter_serial() { ++t_serial_depth; }
void leave_serial() { --t_serial_depth; }

void enter_team(TeamRunner runner) {
  if (t_team_depth++ == 0) t_team = runner;
}
void leave_team() {
  if (--t_team_depth == 0) t_team = nullptr;
}

void set_parallel_threads(int threads) {
  Pool* fresh = new Pool(threads > 0 ? threads : configured_threads());
  delete pool_slot().exchange(fresh, std::memory_order_acq_rel);
}

void parallel_for(int64_t count, const std::function<void(int64_t)>& body) {
  if (count <= 0) return;
  if (count == 1 || t_in_parallel_region || t_serial_depth > 0 || pool().threads() == 1) {
    for (int64_t i = 0; i < count; ++i) body(i);
    return;
  }
  if (t_team != nullptr) {
    // The same contiguous shares as the pool's; a nested parallel_for on any
    // of the team's threads runs serially there.
    t_team([&](int thread, int threads) {
      const int64_t begin = count * thread / threads, end = count * (thread + 1) / threads;
      const bool outer = t_in_parallel_region;
      t_in_parallel_region = true;
      for (int64_t i = begin; i < end; ++i) body(i);
      t_in_parallel_region = outer;
    });
    return;
  }
  pool().run(count, body);
}

}  // namespace convnet::cpu
