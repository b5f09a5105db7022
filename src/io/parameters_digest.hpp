// A digest of parameters (names, dtypes, shapes and every value bit), which
// ties an optimizer checkpoint to the model file saved with it: the model file
// restores exactly the values the digest was taken of, so after loading it the
// digest matches, and after loading any other model file (another step,
// another run, or the old file a crash between the two saves left) it does not.
// 64 bits, not cryptographic: it detects mistakes, not tampering.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convnet/nn/layer.hpp"

namespace convnet::io::detail {

// Copies parameters on a device to the host to read them.
uint64_t parameters_digest(const std::vector<nn::Parameter*>& parameters);

// 16 lowercase hex digits, as stored in the optimizer file's metadata.
std::string digest_hex(uint64_t digest);

}  // namespace convnet::io::detail
