// Crash-safe checkpoints (issue #9, item 4): a child process saves a
// checkpoint over an existing one again and again and is killed with SIGKILL
// after a seeded random delay; the file on disk must then be exactly the old
// checkpoint or exactly the new one, never a mix, a prefix or nothing. Then a
// later successful save must leave no temporary file behind. The same for the
// optimizer file, and for a model and its optimizer saved as a pair, where a
// kill between the two saves must be caught on load by the pairing check.
//
// The kill points: delays drawn uniformly over about two and a half saves, so
// they land before, inside and after each write; a checkpoint of ~2 MB takes
// a few ms to write and fsync here, long enough to be hit mid-write (the tests
// count the kills that found a write in progress and require some).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "convnet/convnet.hpp"
#include "io/safetensors_files.hpp"

namespace convnet::test {
namespace {

constexpr uint64_t kSeed = 20250109;

// Kills per test. Under AddressSanitizer each fork copies the page tables of
// its shadow memory and each save runs instrumented, several times slower; the
// sanitizer build is there for memory errors (the normal build checks the
// property with the full count), so it tries fewer points.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif
constexpr int kModelKills = kSanitized ? 60 : 200;
constexpr int kOptimizerKills = kSanitized ? 40 : 100;

// A Linear(inputs, 512) model: 2 MB of weights for 1024 inputs, so one save
// takes a few ms (the optimizer and pair tests write two such files per save,
// so they use 1 MB each).
std::unique_ptr<nn::Sequential> linear_model(uint64_t seed, int inputs = 1024) {
  manual_seed(seed);
  auto net = std::make_unique<nn::Sequential>();
  net->add<nn::Linear>(inputs, 512);
  return net;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct KillReport {
  int kills = 0;
  int mid_write = 0;  // kills that left the killed child's temporary file: a write in progress
  double seconds = 0;
};

// Forks `kills` children; each runs save(0), save(1), save(2), ... until the
// parent, after a random delay (seeded, up to `max_delay_s`), kills it. After
// each kill `check(kill_index)` inspects the files. Returns what happened.
KillReport kill_while_saving(const ScratchDir& dir, int kills, double max_delay_s,
                             const std::function<void(int)>& save,
                             const std::function<void(int)>& check) {
  KillReport report;
  std::mt19937_64 rng(kSeed);
  std::uniform_real_distribution<double> delay(0.0, max_delay_s);
  const auto start = std::chrono::steady_clock::now();
  for (int k = 0; k < kills; ++k) {
    const auto wait = std::chrono::duration<double>(delay(rng));
    const pid_t child = ::fork();
    if (child < 0) {
      ADD_FAILURE() << "fork failed";
      break;
    }
    if (child == 0) {
      // Nothing here may return into the test framework: _exit on every path.
      // Saving is plain host work; nothing here may use the CPU backend's
      // thread pool, whose workers do not exist in a forked child.
      try {
        for (int i = 0; i < 100000; ++i) save(i);
      } catch (...) {
        ::_exit(2);
      }
      ::_exit(0);
    }
    std::this_thread::sleep_for(wait);
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      ADD_FAILURE() << "kill " << k << ": the saving child was not killed but "
                    << (WIFEXITED(status) ? "exited with " + std::to_string(WEXITSTATUS(status)) +
                                                " (2: a save threw)"
                                          : "died of signal " + std::to_string(WTERMSIG(status)));
      break;
    }
    ++report.kills;
    const std::string own_temp = ".tmp-" + std::to_string(child) + "-";
    for (const std::string& temp : temp_files_in(dir.path()))
      if (contains(temp, own_temp)) {
        ++report.mid_write;
        break;
      }
    SCOPED_TRACE("kill " + std::to_string(k) + " after " + std::to_string(wait.count() * 1e3) +
                 " ms (seed " + std::to_string(kSeed) + ")");
    check(k);
    if (::testing::Test::HasFailure()) break;  // one report, not hundreds
  }
  report.seconds = seconds_since(start);
  return report;
}

// How long `save` takes (mostly the disk's fsync): the median of three, so
// that one slow moment on a busy machine does not stretch every delay.
double save_seconds(const std::function<void()>& save) {
  double times[3];
  for (double& t : times) {
    const auto start = std::chrono::steady_clock::now();
    save();
    t = seconds_since(start);
  }
  std::sort(std::begin(times), std::end(times));
  return times[1];
}

void expect_evidence(const KillReport& report, int kills, int old_seen, int new_seen) {
  EXPECT_EQ(report.kills, kills);
  // The test proves something only if kills landed inside writes and both outcomes occurred.
  EXPECT_GT(report.mid_write, kills / 10) << "too few kills landed inside a write";
  EXPECT_GT(old_seen, 0);
  EXPECT_GT(new_seen, 0);
  std::printf("%d SIGKILLs (%d mid-write) in %.1f s: old file %d times, new file %d times\n",
              report.kills, report.mid_write, report.seconds, old_seen, new_seen);
}

// save_safetensors over an existing file: the children alternate two models,
// B over A, then A over B, so every instant has a well-defined old and new.
TEST(CrashSafeCheckpoint, ModelFileIsAlwaysTheOldOrTheNewOne) {
  constexpr int kKills = kModelKills;
  ScratchDir dir;
  const auto a = linear_model(1), b = linear_model(2);
  io::save_safetensors(*a, dir.file("a.reference"));
  io::save_safetensors(*b, dir.file("b.reference"));
  const std::string bytes_a = read_bytes(dir.file("a.reference"));
  const std::string bytes_b = read_bytes(dir.file("b.reference"));
  ASSERT_GT(bytes_a.size(), 2u << 20);
  ASSERT_EQ(bytes_a.size(), bytes_b.size());  // so a torn file cannot be told apart by its size
  ASSERT_NE(bytes_a, bytes_b);
  std::filesystem::remove(dir.file("a.reference"));
  std::filesystem::remove(dir.file("b.reference"));

  const std::string path = dir.file("model.safetensors");
  const double save_s = save_seconds([&] { io::save_safetensors(*a, path); });
  int old_seen = 0, new_seen = 0;  // "old": A, the file before the first save of each child
  const KillReport report = kill_while_saving(
      dir, kKills, 2.5 * save_s,
      [&](int i) { io::save_safetensors(i % 2 == 0 ? *b : *a, path); },
      [&](int) {
        const std::string now = read_bytes(path);
        if (now == bytes_a) {
          ++old_seen;
        } else if (now == bytes_b) {
          ++new_seen;
        } else {
          ADD_FAILURE() << path << " is neither checkpoint: " << now.size() << " bytes";
        }
        // The next child starts over from A, so that B always means "the new one".
        if (now != bytes_a) io::save_safetensors(*a, path);
      });
  expect_evidence(report, kKills, old_seen, new_seen);

  // The killed writers' temporary files go with the next successful save.
  io::save_safetensors(*b, path);
  EXPECT_EQ(read_bytes(path), bytes_b);
  EXPECT_EQ(temp_files_in(dir.path()), std::vector<std::string>{});
}

// The same for save_optimizer: two SGD states of the same model (momentum 1s
// and 2s at steps 1 and 2).
TEST(CrashSafeCheckpoint, OptimizerFileIsAlwaysTheOldOrTheNewOne) {
  constexpr int kKills = kOptimizerKills;
  ScratchDir dir;
  const auto net = linear_model(1, 512);
  nn::SGD first(net->parameters(), nn::SGDOptions(0.1f).momentum(0.9f));
  nn::SGD second(net->parameters(), nn::SGDOptions(0.1f).momentum(0.9f));
  for (auto [opt, value] : {std::pair{&first, 1.f}, std::pair{&second, 2.f}}) {
    opt->ensure_state();
    for (const auto& [name, state] : opt->state()) state->fill_(value);
    opt->set_step_count(static_cast<int64_t>(value));
  }
  io::save_optimizer(first, dir.file("first.reference"));
  io::save_optimizer(second, dir.file("second.reference"));
  const std::string bytes_first = read_bytes(dir.file("first.reference"));
  const std::string bytes_second = read_bytes(dir.file("second.reference"));
  ASSERT_EQ(bytes_first.size(), bytes_second.size());
  ASSERT_NE(bytes_first, bytes_second);
  std::filesystem::remove(dir.file("first.reference"));
  std::filesystem::remove(dir.file("second.reference"));

  const std::string path = dir.file("model.optimizer.safetensors");
  const double save_s = save_seconds([&] { io::save_optimizer(first, path); });
  int old_seen = 0, new_seen = 0;
  const KillReport report = kill_while_saving(
      dir, kKills, 2.5 * save_s,
      [&](int i) { io::save_optimizer(i % 2 == 0 ? second : first, path); },
      [&](int) {
        const std::string now = read_bytes(path);
        if (now == bytes_first) {
          ++old_seen;
        } else if (now == bytes_second) {
          ++new_seen;
        } else {
          ADD_FAILURE() << path << " is neither optimizer file: " << now.size() << " bytes";
        }
        if (now != bytes_first) io::save_optimizer(first, path);
      });
  expect_evidence(report, kKills, old_seen, new_seen);

  io::save_optimizer(second, path);
  EXPECT_EQ(read_bytes(path), bytes_second);
  EXPECT_EQ(temp_files_in(dir.path()), std::vector<std::string>{});
  nn::SGD loaded(net->parameters(), nn::SGDOptions(0.5f).momentum(0.9f));
  io::load_optimizer(loaded, path);
  EXPECT_EQ(loaded.step_count(), 2);
}

// A model and its optimizer saved one after the other, as examples/mnist_cnn
// does, with the child at "step" i holding parameters and momentum all equal
// to i. A kill between the two renames leaves the new model beside the old
// optimizer file: load_optimizer must refuse exactly those pairs, and load
// every pair that belongs together.
TEST(CrashSafeCheckpoint, ModelAndOptimizerPairLoadsOrIsRefused) {
  constexpr int kKills = kOptimizerKills;
  ScratchDir dir;
  const std::string model_path = dir.file("m.safetensors");
  const std::string optimizer_path = dir.file("m.optimizer.safetensors");
  const auto net = linear_model(1, 512);
  nn::SGD opt(net->parameters(), nn::SGDOptions(0.1f).momentum(0.9f));
  opt.ensure_state();
  const auto save_pair = [&](int step) {
    for (nn::Parameter* p : net->parameters()) p->value.fill_(static_cast<float>(step));
    for (const auto& [name, state] : opt.state()) state->fill_(static_cast<float>(step));
    opt.set_step_count(step);
    io::save_safetensors(*net, model_path, {{"step", std::to_string(step)}});
    io::save_optimizer(opt, optimizer_path);
  };
  const double save_s = save_seconds([&] { save_pair(0); });

  int paired = 0, refused = 0;
  const KillReport report = kill_while_saving(
      dir, kKills, 2.5 * save_s, [&](int i) { save_pair(i + 1); },
      [&](int) {
        const auto loaded = linear_model(7, 512);
        nn::SGD loaded_opt(loaded->parameters(), nn::SGDOptions(0.1f).momentum(0.9f));
        const io::Metadata model_meta = io::load_safetensors(*loaded, model_path);
        const int model_step = std::stoi(model_meta.at("step"));
        const int optimizer_step =
            std::stoi(io::read_safetensors(optimizer_path).metadata.at("step"));
        try {
          io::load_optimizer(loaded_opt, optimizer_path);
          ++paired;
          EXPECT_EQ(model_step, optimizer_step) << "a mismatched pair loaded";
          EXPECT_EQ(loaded_opt.step_count(), model_step);
          EXPECT_EQ(loaded_opt.state()[0].second->to_vector<float>()[0],
                    static_cast<float>(model_step));
        } catch (const Error& e) {
          ++refused;
          EXPECT_TRUE(contains(e.what(), optimizer_path + " does not belong")) << e.what();
          EXPECT_NE(model_step, optimizer_step) << "a matching pair was refused: " << e.what();
          EXPECT_EQ(loaded_opt.step_count(), 0);  // nothing loaded
        }
      });
  EXPECT_EQ(report.kills, kKills);
  EXPECT_GT(paired, 0);
  EXPECT_GT(refused, 0) << "no kill landed between the model's save and the optimizer's";
  std::printf("%d SIGKILLs (%d mid-write) in %.1f s: pair loaded %d times, refused %d times\n",
              report.kills, report.mid_write, report.seconds, paired, refused);

  save_pair(1000);
  EXPECT_EQ(temp_files_in(dir.path()), std::vector<std::string>{});
}

}  // namespace
}  // namespace convnet::test
