// TensorBoard in a build without protobuf (CONVNET_TENSORBOARD=OFF, or not
// found): a writer cannot be made.
#include "convnet/error.hpp"
#include "convnet/train/tensorboard.hpp"

namespace convnet::train {

struct SummaryWriter::Impl {};

SummaryWriter::SummaryWriter(const std::string& log_dir) {
  CONVNET_FAIL("SummaryWriter(\"", log_dir, "\"): convnet was built without TensorBoard support "
               "(CONVNET_TENSORBOARD=OFF, or libprotobuf-dev and protoc not found at configure "
               "time); rebuild with them");
}
SummaryWriter::~SummaryWriter() = default;
SummaryWriter::SummaryWriter(SummaryWriter&&) noexcept = default;
SummaryWriter& SummaryWriter::operator=(SummaryWriter&&) noexcept = default;
void SummaryWriter::add_scalar(const std::string&, double, int64_t) {}
void SummaryWriter::add_image(const std::string&, const Tensor&, int64_t) {}
void SummaryWriter::add_histogram(const std::string&, const Tensor&, int64_t) {}
void SummaryWriter::flush() {}
const std::string& SummaryWriter::path() const {
  static const std::string none;
  return none;
}
bool tensorboard_available() { return false; }

}  // namespace convnet::train
