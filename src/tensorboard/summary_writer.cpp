// SummaryWriter: Event messages (proto/tensorboard.proto, serialized by
// protobuf) appended to one TFRecord file per writer.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "convnet/error.hpp"
#include "convnet/train/tensorboard.hpp"
#include "tensorboard.pb.h"
#include "tensorboard/histogram.hpp"
#include "tensorboard/png.hpp"
#include "tensorboard/record_file.hpp"

namespace convnet::train {
namespace {

namespace tb = ::convnet::tensorboard;

// Buffered events reach the file at flush(), or sooner once this much is pending.
constexpr size_t kFlushBytes = size_t{1} << 20;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// events.out.tfevents.<seconds, 10 digits>.<host>.<pid>.<n>, as PyTorch names
// them: TensorBoard reads every file whose name contains "tfevents", and the
// pid and per-process counter keep two writers from sharing a file.
std::string event_file_name() {
  static std::atomic<unsigned> counter{0};
  char host[256] = "localhost";
  if (::gethostname(host, sizeof host) != 0) std::snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0';
  char name[400];
  std::snprintf(name, sizeof name, "events.out.tfevents.%010lld.%s.%lld.%u",
                static_cast<long long>(std::floor(now_seconds())), host,
                static_cast<long long>(::getpid()), counter++);
  return name;
}

std::string check_tag(const char* op, const std::string& tag) {
  CONVNET_CHECK(!tag.empty(), "SummaryWriter::", op, ": the tag must not be empty");
  return tag;
}

}  // namespace

struct SummaryWriter::Impl {
  explicit Impl(const std::string& path) : file(path) {}
  ~Impl() {
    try {
      file.flush();
    } catch (const Error& e) {
      // A destructor cannot throw; say what was lost rather than nothing.
      std::fprintf(stderr, "%s (the last events are lost)\n", e.what());
    }
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void write(tb::Event& event) {
    event.set_wall_time(now_seconds());
    std::string bytes;
    CONVNET_CHECK(event.SerializeToString(&bytes), "SummaryWriter: cannot serialize an event for ",
                  file.path());
    file.append(bytes);
    if (file.pending_bytes() >= kFlushBytes) file.flush();
  }

  tb::Summary::Value& new_value(tb::Event& event, int64_t step, const std::string& tag) {
    event.set_step(step);
    tb::Summary::Value* value = event.mutable_summary()->add_value();
    value->set_tag(tag);
    return *value;
  }

  tb::RecordFile file;
};

SummaryWriter::SummaryWriter(const std::string& log_dir) {
  namespace fs = std::filesystem;
  CONVNET_CHECK(!log_dir.empty(), "SummaryWriter: the log directory must not be empty");
  std::error_code ec;
  CONVNET_CHECK(!fs::exists(log_dir, ec) || fs::is_directory(log_dir, ec), "SummaryWriter: the log directory ",
                log_dir, " exists and is not a directory");
  fs::create_directories(log_dir, ec);
  CONVNET_CHECK(!ec, "SummaryWriter: cannot create the log directory ", log_dir, ": ", ec.message());
  impl_ = std::make_unique<Impl>((fs::path(log_dir) / event_file_name()).string());
  // The version record goes out now: a directory we cannot write fails here,
  // before any training, and TensorBoard lists the run from the start.
  tb::Event version;
  version.set_file_version("brain.Event:2");
  impl_->write(version);
  impl_->file.flush();
}

SummaryWriter::~SummaryWriter() = default;  // Impl flushes

SummaryWriter::SummaryWriter(SummaryWriter&&) noexcept = default;
SummaryWriter& SummaryWriter::operator=(SummaryWriter&&) noexcept = default;

void SummaryWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  CONVNET_CHECK(impl_, "SummaryWriter::add_scalar: the writer was moved from");
  tb::Event event;
  impl_->new_value(event, step, check_tag("add_scalar", tag)).set_simple_value(static_cast<float>(value));
  impl_->write(event);
}

void SummaryWriter::add_image(const std::string& tag, const Tensor& image, int64_t step) {
  CONVNET_CHECK(impl_, "SummaryWriter::add_image: the writer was moved from");
  check_tag("add_image", tag);
  CONVNET_CHECK(image.defined() && image.dtype() == DType::F32 &&
                    (image.dim() == 2 || (image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3))),
                "SummaryWriter::add_image(\"", tag, "\"): the image must be f32 [H, W], [1, H, W] or "
                "[3, H, W], got ", image.defined() ? image.str() : std::string("an undefined tensor"));
  const int channels = image.dim() == 2 ? 1 : static_cast<int>(image.size(0));
  const int64_t height = image.size(image.dim() - 2), width = image.size(image.dim() - 1);
  CONVNET_CHECK(height > 0 && width > 0 && height <= 65535 && width <= 65535,
                "SummaryWriter::add_image(\"", tag, "\"): ", height, " x ", width,
                " pixels; each side must be 1 to 65535");
  const std::vector<float> values = image.to_vector<float>();  // from any device
  // Planar [C, H, W] floats to interleaved bytes, round(255 v) after clamping
  // to [0, 1] (NaN becomes 0).
  std::vector<uint8_t> pixels(values.size());
  const int64_t plane = height * width;
  for (int c = 0; c < channels; ++c)
    for (int64_t i = 0; i < plane; ++i) {
      const float v = values[c * plane + i];
      const float clamped = v > 0.f ? std::min(v, 1.f) : 0.f;
      pixels[i * channels + c] = static_cast<uint8_t>(std::lround(clamped * 255.f));
    }
  tb::Event event;
  tb::Summary::Image* encoded = impl_->new_value(event, step, tag).mutable_image();
  encoded->set_height(static_cast<int32_t>(height));
  encoded->set_width(static_cast<int32_t>(width));
  encoded->set_colorspace(channels);
  encoded->set_encoded_image_string(tb::encode_png(pixels.data(), static_cast<int>(width),
                                                   static_cast<int>(height), channels));
  impl_->write(event);
}

void SummaryWriter::add_histogram(const std::string& tag, const Tensor& values, int64_t step) {
  CONVNET_CHECK(impl_, "SummaryWriter::add_histogram: the writer was moved from");
  check_tag("add_histogram", tag);
  CONVNET_CHECK(values.defined() && values.dtype() == DType::F32 && values.numel() > 0,
                "SummaryWriter::add_histogram(\"", tag, "\"): needs a non-empty f32 tensor, got ",
                values.defined() ? values.str() : std::string("an undefined tensor"));
  const std::vector<float> host = values.to_vector<float>();
  const tb::Histogram h = tb::make_histogram(host.data(), host.size());
  tb::Event event;
  tb::HistogramProto* proto = impl_->new_value(event, step, tag).mutable_histo();
  proto->set_min(h.min);
  proto->set_max(h.max);
  proto->set_num(h.num);
  proto->set_sum(h.sum);
  proto->set_sum_squares(h.sum_squares);
  for (size_t i = 0; i < h.limits.size(); ++i) {
    proto->add_bucket_limit(h.limits[i]);
    proto->add_bucket(h.counts[i]);
  }
  impl_->write(event);
}

void SummaryWriter::flush() {
  CONVNET_CHECK(impl_, "SummaryWriter::flush: the writer was moved from");
  impl_->file.flush();
}

const std::string& SummaryWriter::path() const {
  CONVNET_CHECK(impl_, "SummaryWriter::path: the writer was moved from");
  return impl_->file.path();
}

bool tensorboard_available() { return true; }

}  // namespace convnet::train
