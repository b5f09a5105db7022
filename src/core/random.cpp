#include "convnet/random.hpp"

#include <atomic>

namespace convnet {
namespace {
std::atomic<uint64_t> g_seed{0x5eed};
std::atomic<uint64_t> g_stream{0};

// splitmix64: spreads (seed, stream) over all 64 bits so nearby streams are unrelated.
uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

void manual_seed(uint64_t seed) {
  g_seed = seed;
  g_stream = 0;
}

uint64_t next_seed() { return mix(g_seed.load() ^ mix(g_stream.fetch_add(1))); }

}  // namespace convnet
