// The onednn backend as the registry and users see it: selection ("auto" picks
// it for CPU tensors, "cpu" still means the reference), its library line, the
// delegation of what oneDNN does not run, and a build without oneDNN.
#include <gtest/gtest.h>

#include <string>

#include "convnet/convnet.hpp"

namespace convnet {
namespace {

#define REQUIRE_ONEDNN()                                                  \
  do {                                                                    \
    if (!backend_available(Backend::Kind::OneDnn))                        \
      GTEST_SKIP() << backend_unavailable_reason(Backend::Kind::OneDnn);  \
  } while (0)

TEST(OneDnnBackend, NameParsesBothWays) {
  EXPECT_EQ(parse_backend_kind("onednn"), Backend::Kind::OneDnn);
  EXPECT_STREQ(backend_name(Backend::Kind::OneDnn), "onednn");
  EXPECT_TRUE(backend_device(Backend::Kind::OneDnn).is_cpu());
  try {
    parse_backend_kind("mkldnn");
    FAIL() << "an unknown name was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("onednn"), std::string::npos) << e.what();
  }
}

TEST(OneDnnBackend, AvailabilityAndReasonAgree) {
  const bool available = backend_available(Backend::Kind::OneDnn);
  const std::string reason = backend_unavailable_reason(Backend::Kind::OneDnn);
  EXPECT_EQ(available, reason.empty()) << reason;
  if (available) {
    EXPECT_EQ(get_backend(Backend::Kind::OneDnn).kind(), Backend::Kind::OneDnn);
    EXPECT_EQ(get_backend(Backend::Kind::OneDnn).device_type(), Device::Type::Cpu);
    EXPECT_EQ(available_backends()[1], Backend::Kind::OneDnn);  // right after the reference
  } else {
    EXPECT_NE(reason.find("oneDNN"), std::string::npos) << reason;
    EXPECT_THROW(get_backend(Backend::Kind::OneDnn), Error);
  }
}

TEST(OneDnnBackend, LibraryLineNamesVersionAndThreads) {
  REQUIRE_ONEDNN();
  const std::string line = backend_library(Backend::Kind::OneDnn);
  EXPECT_EQ(line.rfind("oneDNN 2.", 0), 0u) << line;
  // omp_set_num_threads was found, so oneDNN's team is ours.
  EXPECT_NE(line.find(" threads)"), std::string::npos) << line;
}

TEST(OneDnnBackend, AutoPicksItForCpuTensorsAndCpuMeansTheReference) {
  REQUIRE_ONEDNN();
  const std::optional<Backend::Kind> keep = default_backend_choice();
  set_default_backend(std::nullopt);
  EXPECT_EQ(default_backend(Device::cpu()), Backend::Kind::OneDnn);
  set_default_backend(Backend::Kind::Cpu);
  EXPECT_EQ(default_backend(Device::cpu()), Backend::Kind::Cpu);
  set_default_backend(Backend::Kind::OneDnn);
  EXPECT_EQ(default_backend(Device::cpu()), Backend::Kind::OneDnn);
  set_default_backend(keep);
}

// What oneDNN does not run is the reference's, bit for bit, and path() says so.
TEST(OneDnnBackend, DelegatesTheRestToTheReference) {
  REQUIRE_ONEDNN();
  Backend& dnn = get_backend(Backend::Kind::OneDnn);
  Backend& ref = get_backend(Backend::Kind::Cpu);
  const Tensor logits = Tensor::randn({6, 10}, Device::cpu(), 3);
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4, 5, 6}, {6});
  Tensor loss_a = Tensor::zeros({1}), loss_b = Tensor::zeros({1});
  Tensor probs_a = Tensor::zeros({6, 10}), probs_b = Tensor::zeros({6, 10});
  dnn.softmax_cross_entropy_forward(logits, labels, 0.1f, loss_a, probs_a);
  ref.softmax_cross_entropy_forward(logits, labels, 0.1f, loss_b, probs_b);
  EXPECT_EQ(loss_a.to_vector<float>(), loss_b.to_vector<float>());
  EXPECT_EQ(probs_a.to_vector<float>(), probs_b.to_vector<float>());
  EXPECT_EQ(dnn.path(Backend::Op::AdaptiveAvgPool2d), ref.path(Backend::Op::AdaptiveAvgPool2d));
}

// A network on onednn trains and names oneDNN in its summary once it has run.
TEST(OneDnnBackend, SummaryNamesTheImplementationThatRan) {
  REQUIRE_ONEDNN();
  nn::Sequential net;
  net.add<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1)).add<nn::ReLU>();
  net.set_backend(Backend::Kind::OneDnn);
  net.forward(Tensor::randn({2, 1, 8, 8}, Device::cpu(), 1), nn::Mode::Eval);
  const std::string summary = net.summary({2, 1, 8, 8});
  EXPECT_NE(summary.find("onednn"), std::string::npos) << summary;
}

}  // namespace
}  // namespace convnet
