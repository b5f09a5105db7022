// parameters_digest: MurmurHash3's 64-bit lane function and finaliser over a
// little description of each parameter followed by its bytes. Word at a time,
// so a checkpoint of hundreds of MB hashes in well under a second.
#include "io/parameters_digest.hpp"

#include <cstdio>
#include <cstring>

#include "convnet/tensor.hpp"

namespace convnet::io::detail {
namespace {

constexpr uint64_t kC1 = 0x87c37b91114253d5ull, kC2 = 0x4cf5ad432745937full;

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t fmix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  return k ^ (k >> 33);
}

class Hasher {
 public:
  void add(const void* data, size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    length_ += size;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      uint64_t word;
      std::memcpy(&word, bytes + i, 8);
      mix(word);
    }
    // A tail shorter than a word, padded with zeros: unambiguous, because every
    // field's length is hashed before it.
    uint64_t tail = 0;
    if (i < size) {
      std::memcpy(&tail, bytes + i, size - i);
      mix(tail);
    }
  }
  void add_u64(uint64_t value) { add(&value, sizeof value); }
  uint64_t value() const { return fmix(h_ ^ length_); }

 private:
  void mix(uint64_t k) {
    k *= kC1;
    k = rotl(k, 31);
    k *= kC2;
    h_ ^= k;
    h_ = rotl(h_, 27) * 5 + 0x52dce729;
  }

  uint64_t h_ = 0x636f6e766e6574ull;  // "convnet"
  uint64_t length_ = 0;
};

}  // namespace

uint64_t parameters_digest(const std::vector<nn::Parameter*>& parameters) {
  Hasher hasher;
  hasher.add_u64(parameters.size());
  for (const nn::Parameter* p : parameters) {
    // Lengths first, so that no two different lists hash the same bytes.
    hasher.add_u64(p->name.size());
    hasher.add(p->name.data(), p->name.size());
    hasher.add_u64(static_cast<uint64_t>(p->value.dtype()));
    hasher.add_u64(static_cast<uint64_t>(p->value.shape().rank()));
    for (int64_t extent : p->value.shape().dims()) hasher.add_u64(static_cast<uint64_t>(extent));
    const Tensor host = p->value.to(Device::cpu());  // the same tensor when already there
    hasher.add_u64(host.nbytes());
    hasher.add(host.raw_data(), host.nbytes());
  }
  return hasher.value();
}

std::string digest_hex(uint64_t digest) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(digest));
  return text;
}

}  // namespace convnet::io::detail
