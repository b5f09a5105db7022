// cpu::parallel_for on another runtime's team (cpu::enter_team, which the
// oneDNN backend uses with OpenMP): every item runs exactly once, in the
// contiguous shares of the pool, nested calls stay on their thread, and
// serial (enter_serial) wins over a team.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "cpu/parallel.hpp"

namespace convnet::cpu {
namespace {

std::atomic<int> g_team_calls{0};

// A team of 3 std::threads, the caller as thread 0.
void three_threads(const std::function<void(int, int)>& f) {
  ++g_team_calls;
  std::vector<std::thread> others;
  for (int t = 1; t < 3; ++t) others.emplace_back([&f, t] { f(t, 3); });
  f(0, 3);
  for (auto& t : others) t.join();
}

TEST(ParallelTeam, EveryItemRunsOnceOnTheTeam) {
  if (parallel_threads() == 1) GTEST_SKIP() << "one thread: parallel_for never leaves the caller";
  const int calls = g_team_calls;
  std::vector<std::atomic<int>> seen(1000);
  std::vector<std::thread::id> owner(1000);
  enter_team(three_threads);
  parallel_for(1000, [&](int64_t i) {
    ++seen[i];
    owner[i] = std::this_thread::get_id();
    int nested = 0;
    parallel_for(4, [&](int64_t) { ++nested; });  // nested: on this thread, in order
    EXPECT_EQ(nested, 4);
  });
  leave_team();
  EXPECT_EQ(g_team_calls, calls + 1);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen[i], 1) << i;
  // Contiguous shares: item i belongs to thread i * 3 / 1000.
  EXPECT_EQ(owner[0], owner[332]);
  EXPECT_NE(owner[332], owner[334]);
  EXPECT_NE(owner[665], owner[666]);
  EXPECT_EQ(owner[666], owner[999]);

  enter_team(three_threads);  // serial wins
  enter_serial();
  parallel_for(10, [&](int64_t) { EXPECT_EQ(std::this_thread::get_id(), owner[0]); });
  leave_serial();
  leave_team();
  EXPECT_EQ(g_team_calls, calls + 1);

  parallel_for(10, [](int64_t) {});  // left: the pool again
  EXPECT_EQ(g_team_calls, calls + 1);
}

}  // namespace
}  // namespace convnet::cpu
