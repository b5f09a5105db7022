#include "train/tensorboard_log.hpp"

#include <tuple>

namespace convnet::train::detail {
namespace {

bool find_conv(nn::Layer& layer, const std::string& name, std::pair<nn::Conv2d*, std::string>& found) {
  if (auto* conv = dynamic_cast<nn::Conv2d*>(&layer)) {
    found = {conv, name};
    return true;
  }
  for (const auto& [child_name, child] : layer.named_children())
    if (find_conv(*child, name.empty() ? child_name : name + "." + child_name, found)) return true;
  return false;
}

}  // namespace

std::pair<nn::Conv2d*, std::string> first_conv2d(nn::Layer& model) {
  std::pair<nn::Conv2d*, std::string> found{nullptr, ""};
  find_conv(model, "", found);
  return found;
}

TensorBoardLog::TensorBoardLog(const std::string& dir, nn::Layer& model, bool histograms)
    : writer_(dir), model_(model), histograms_(histograms) {
  std::tie(first_conv_, first_conv_name_) = first_conv2d(model);
}

void TensorBoardLog::write_weights(int64_t step) {
  if (first_conv_) {
    const std::string name = first_conv_name_.empty() ? "weight" : first_conv_name_ + ".weight";
    writer_.add_image("filters/" + name, filter_grid(first_conv_->weight().value), step);
  }
  if (histograms_)
    for (nn::Parameter* p : model_.parameters())
      writer_.add_histogram("parameters/" + p->name, p->value, step);
}

void TensorBoardLog::write_epoch(const EpochMetrics& m, bool with_test, int64_t step) {
  writer_.add_scalar("loss/train", m.train_loss, step);
  writer_.add_scalar("accuracy/train", m.train_accuracy, step);
  if (with_test) {
    writer_.add_scalar("loss/test", m.test_loss, step);
    writer_.add_scalar("accuracy/test", m.test_accuracy, step);
  }
  writer_.add_scalar("lr", m.lr, step);
  writer_.add_scalar("images_per_second", m.images_per_second, step);
  write_weights(step);
  writer_.flush();  // an epoch's events are on disk before the next one starts
}

}  // namespace convnet::train::detail
