// Deferred destruction of evicted plans (src/cudnn/retire_queue.hpp with the
// LRU's eviction report), on the host: a fence is a flag the test raises, the
// plan a shared_ptr whose weak_ptr says whether it still lives.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cudnn/plan_cache.hpp"
#include "cudnn/retire_queue.hpp"

namespace convnet::cudnn {
namespace {

struct FlagFence {
  std::shared_ptr<bool> passed = std::make_shared<bool>(false);
  bool done() { return *passed; }
};

using Plan = std::shared_ptr<std::string>;

TEST(PlanCacheRetire, ValueLivesUntilItsFenceIsDone) {
  RetireQueue<Plan, FlagFence> queue;
  Plan plan = std::make_shared<std::string>("plan");
  const std::weak_ptr<std::string> alive = plan;
  FlagFence fence;
  const std::shared_ptr<bool> passed = fence.passed;
  queue.retire(std::move(plan), fence);
  EXPECT_EQ(queue.poll(), 0u);
  EXPECT_EQ(queue.poll(), 0u);
  EXPECT_FALSE(alive.expired()) << "destroyed while its stream may still use it";
  *passed = true;
  EXPECT_EQ(queue.poll(), 1u);
  EXPECT_TRUE(alive.expired());
  EXPECT_EQ(queue.size(), 0u);
}

TEST(PlanCacheRetire, FencesCompleteInAnyOrder) {
  RetireQueue<Plan, FlagFence> queue;
  std::vector<std::weak_ptr<std::string>> alive;
  std::vector<std::shared_ptr<bool>> passed;
  for (int i = 0; i < 4; ++i) {
    Plan p = std::make_shared<std::string>(std::to_string(i));
    alive.push_back(p);
    FlagFence f;
    passed.push_back(f.passed);
    queue.retire(std::move(p), f);
  }
  *passed[2] = true;  // another device's stream finished first
  *passed[0] = true;
  EXPECT_EQ(queue.poll(), 2u);
  EXPECT_TRUE(alive[0].expired());
  EXPECT_FALSE(alive[1].expired());
  EXPECT_TRUE(alive[2].expired());
  EXPECT_FALSE(alive[3].expired());
  *passed[3] = true;
  EXPECT_EQ(queue.poll(), 1u);
  EXPECT_FALSE(alive[1].expired());
  *passed[1] = true;
  EXPECT_EQ(queue.poll(), 1u);
  EXPECT_EQ(queue.size(), 0u);
}

// What ConvGraphs does: a tiny LRU reports what it evicts, the owner parks each
// evicted plan behind a fence, and the plan dies only once the fence is done.
TEST(PlanCacheRetire, EvictionUnderATinyCacheKeepsThePlanUntilItsFenceIsDone) {
  LruCache<int, Plan, std::hash<int>> cache(2);
  RetireQueue<Plan, FlagFence> queue;
  std::vector<std::weak_ptr<std::string>> alive;
  std::vector<std::shared_ptr<bool>> fences;  // one per retired plan, in retirement order
  for (int key = 0; key < 6; ++key) {
    queue.poll();
    Plan p = std::make_shared<std::string>("plan " + std::to_string(key));
    alive.push_back(p);
    std::vector<Plan> evicted;
    cache.insert(key, std::move(p), &evicted);
    for (Plan& e : evicted) {
      FlagFence f;
      fences.push_back(f.passed);
      queue.retire(std::move(e), f);
    }
  }
  ASSERT_EQ(cache.evictions(), 4u);
  ASSERT_EQ(fences.size(), 4u);
  EXPECT_EQ(queue.size(), 4u);
  for (int key = 0; key < 6; ++key) EXPECT_FALSE(alive[key].expired()) << key;
  *fences[0] = true;  // plan 0's last use is behind its stream now
  *fences[1] = true;
  queue.poll();
  EXPECT_TRUE(alive[0].expired());
  EXPECT_TRUE(alive[1].expired());
  EXPECT_FALSE(alive[2].expired());
  EXPECT_FALSE(alive[3].expired());
  EXPECT_NE(cache.find(5), nullptr);
  EXPECT_EQ(cache.find(3), nullptr);
}

TEST(PlanCacheRetire, ShrinkingTheCacheReportsTheEvicted) {
  LruCache<int, int, std::hash<int>> cache(4);
  for (int k = 0; k < 4; ++k) cache.insert(k, 10 * k);
  ASSERT_NE(cache.find(0), nullptr);  // 0 is now the most recent
  std::vector<int> evicted;
  cache.set_capacity(2, &evicted);
  EXPECT_EQ(evicted, (std::vector<int>{10, 20}));  // least recent first
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.capacity(), 2u);
  EXPECT_NE(cache.find(3), nullptr);
  EXPECT_NE(cache.find(0), nullptr);
}

TEST(PlanCacheRetire, ReplacingAKeyReportsTheOldValue) {
  LruCache<int, int, std::hash<int>> cache(2);
  std::vector<int> dropped;
  cache.insert(1, 100, &dropped);
  cache.insert(1, 200, &dropped);
  EXPECT_EQ(dropped, std::vector<int>{100});
  EXPECT_EQ(cache.evictions(), 0u) << "a replacement is not an eviction";
}

}  // namespace
}  // namespace convnet::cudnn
