#include "onednn/onednn_backend.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "cpu/parallel.hpp"
#include "onednn/dnnl_util.hpp"
#include "onednn/onednn_entries.hpp"
#include "onednn/onednn_hooks.hpp"
#include "onednn/omp_team.hpp"
#include "onednn/primitive_cache.hpp"

namespace convnet::onednn {
namespace {

size_t cache_capacity() {
  const char* v = std::getenv("CONVNET_ONEDNN_CACHE");
  if (!v || !*v) return 256;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  CONVNET_CHECK(end && *end == '\0' && n >= 1 && n <= (1 << 20), "CONVNET_ONEDNN_CACHE=\"", v,
                "\": expected an integer in [1, 1048576]");
  return static_cast<size_t>(n);
}

}  // namespace

// oneDNN's OpenMP runtime's omp_set_num_threads, found where libdnnl's own
// dependency put it (GNU libgomp on Debian). Looked up rather than linked, so a
// clang build (whose -fopenmp means LLVM's libomp) never loads a second OpenMP.
using SetNumThreads = void (*)(int);
SetNumThreads omp_set_num_threads_fn() {
  static const SetNumThreads fn =
      reinterpret_cast<SetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  return fn;
}

void use_our_thread_count() {
  // Re-read each call: the pool can be resized (cpu::set_parallel_threads in tests).
  thread_local int team = 0;
  const int threads = cpu::parallel_threads();
  if (threads != team && omp_set_num_threads_fn()) {
    omp_set_num_threads_fn()(threads);
    team = threads;
  }
}

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

OneDnnBackend::OneDnnBackend(Backend& reference)
    : DelegatingBackend(reference),
      conv_cache_(std::make_unique<PrimitiveCache<ConvEntry>>(cache_capacity())),
      norm_cache_(std::make_unique<PrimitiveCache<NormEntry>>(cache_capacity())),
      pool_cache_(std::make_unique<PrimitiveCache<PoolEntry>>(cache_capacity())),
      matmul_cache_(std::make_unique<PrimitiveCache<MatmulEntry>>(cache_capacity())),
      softmax_cache_(std::make_unique<PrimitiveCache<SoftmaxEntry>>(cache_capacity())) {
  // oneDNN's OpenMP team gets the reference's thread count (CONVNET_NUM_THREADS
  // or the cores), so both backends use the same cores (docs/determinism.md).
  use_our_thread_count();
}
OneDnnBackend::~OneDnnBackend() = default;

void OneDnnBackend::enter_fallback() { enter_team_loops(); }
void OneDnnBackend::leave_fallback() { leave_team_loops(); }

std::string OneDnnBackend::path(Op op) const {
  const std::string ref = fallback().path(op);
  switch (op) {
    case Op::Conv2d:
    case Op::Conv2dBiasReLU:
      return routes_.path(op, ref, "onednn convolution");
    case Op::BatchNorm:
    case Op::BatchNormReLU:
      return routes_.path(op, ref, "onednn batch normalization");
    case Op::Pool2d:
      return routes_.path(op, ref, "onednn average pooling; max: " + ref);
    case Op::Linear:
    case Op::LinearBiasReLU:
      return routes_.path(op, ref, "onednn matmul");
    case Op::Softmax:
      return routes_.path(op, ref, "onednn softmax; log-softmax forward: " + ref);
    default:
      return ref;
  }
}

bool OneDnnBackend::set_refuse_all(bool refuse) { return refuse_all_for_tests().exchange(refuse); }

size_t OneDnnBackend::cached_primitives() const {
  return conv_cache_->size() + norm_cache_->size() + pool_cache_->size() + matmul_cache_->size() +
         softmax_cache_->size();
}
// Every family gets the same bound; they were all set together, so conv's old one is theirs.
size_t OneDnnBackend::set_cache_capacity(size_t capacity) {
  norm_cache_->set_capacity(capacity);
  pool_cache_->set_capacity(capacity);
  matmul_cache_->set_capacity(capacity);
  softmax_cache_->set_capacity(capacity);
  return conv_cache_->set_capacity(capacity);
}

Backend& backend() {
  static OneDnnBackend instance(get_backend(Backend::Kind::Cpu));
  return instance;
}

std::string library_description() {
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " (cpu runtime OpenMP, " +
         (omp_set_num_threads_fn() ? std::to_string(cpu::parallel_threads()) + " threads)"
                                   : "its own thread count: omp_set_num_threads not found)");
}

}  // namespace convnet::onednn
