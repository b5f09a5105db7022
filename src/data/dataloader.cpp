// DataLoader: seeded per-epoch permutations, batch gathering on the host (with
// an optional prefetch thread and pinned staging buffers for a GPU target) or on
// the GPU itself (device-resident mode).
//
// Prefetch is double buffering: batch k lives in slot k % 2. The worker may
// fill batch j once the caller has released batch j - 2, which happens when the
// caller asks for batch j - 1; so the worker gathers batch k + 1 while the caller
// computes on batch k. One worker thread per epoch: start_epoch stops and joins
// the previous one before it touches the order, so no state is shared mid-write.
//
// Augmentation happens in the gather (on the worker when prefetching): each
// sample's crop and flip are drawn from (seed, epoch, sample index), so the
// batches are the same with the worker or without it.
#include "convnet/data/dataloader.hpp"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "convnet/error.hpp"
#include "convnet/random.hpp"
#include "core/cuda_hooks.hpp"
#include "data/sample_augmenter.hpp"

namespace convnet::data {

namespace {

// A pinned staging buffer. Copies from it to the GPU are asynchronous, so the
// slot may be refilled only once the stream has read it: `copied` marks that
// point (recorded after the copies, waited for before the next gather).
struct Slot {
  Tensor images;  // [rows, ...] f32, host (pinned when the target is a GPU)
  Tensor labels;  // [rows] i32
  void* copied = nullptr;  // event; null for a CPU target or before the first copy
  Slot() = default;
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() {  // the pinned buffers are freed after this body: let the GPU finish reading them
    if (!copied) return;
    try {
      cuda_hooks::wait_event(copied);
    } catch (...) {  // a destructor: the sticky CUDA error will surface at the next call
    }
    cuda_hooks::destroy_event(copied);
  }
};

// Fisher-Yates over 0..count-1 driven by Philox word (seed, epoch, i): a pure
// function of (seed, epoch), whatever happened in earlier epochs. The multiply-
// shift mapping of a 32-bit word to [0, i] is biased by at most (i + 1) / 2^32.
std::vector<int32_t> epoch_order(int64_t count, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int32_t> order(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) order[i] = static_cast<int32_t>(i);
  if (!shuffle) return order;
  for (int64_t i = count - 1; i > 0; --i) {
    const uint32_t word = philox4x32(static_cast<uint64_t>(i), static_cast<uint64_t>(epoch), seed).v[0];
    const int64_t j = static_cast<int64_t>((uint64_t{word} * static_cast<uint64_t>(i + 1)) >> 32);
    std::swap(order[i], order[j]);
  }
  return order;
}

}  // namespace

struct DataLoader::Impl {
  DataLoaderOptions options;
  int64_t count = 0;
  Shape sample_shape;    // one image's extents, e.g. [1, 28, 28]
  int64_t row_size = 0;  // elements per image
  Shape out_sample_shape;    // a delivered sample's extents: sample_shape, or the crop's
  int64_t out_row_size = 0;
  detail::SampleAugmenter augmenter;  // disabled unless options.augmentation asks
  int64_t batches = 0;
  Tensor images;         // normalised: on the host, or on the GPU when device-resident
  Tensor labels;
  std::vector<int32_t> order;
  Tensor device_order;   // device-resident mode: this epoch's order on the GPU
  int64_t epoch = -1;    // -1: no epoch started yet
  int64_t next_batch = 0;
  Slot slots[2];

  // Prefetch worker state, guarded by mutex.
  std::thread worker;
  std::mutex mutex;
  std::condition_variable changed;
  bool stop = false;
  int64_t filled = 0;    // batches 0..filled-1 are gathered
  int64_t released = 0;  // the caller is done with batches 0..released-1
  std::exception_ptr worker_error;

  bool prefetching() const { return options.prefetch && !options.device_resident; }
  int64_t batch_begin(int64_t k) const { return k * options.batch_size; }
  int64_t batch_rows(int64_t k) const { return std::min(options.batch_size, count - batch_begin(k)); }
  Shape batch_shape(int64_t rows) const {
    std::vector<int64_t> dims = out_sample_shape.dims();
    dims.insert(dims.begin(), rows);
    return Shape(std::move(dims));
  }

  void gather_on_host(int64_t k, Slot& slot) const {
    if (slot.copied) cuda_hooks::wait_event(slot.copied);  // the GPU has read the last batch here
    const int64_t begin = batch_begin(k), rows = batch_rows(k);
    const float* source = images.data<float>();
    const int32_t* source_labels = labels.data<int32_t>();
    float* out = slot.images.data<float>();
    int32_t* out_labels = slot.labels.data<int32_t>();
    const size_t row_bytes = static_cast<size_t>(row_size) * sizeof(float);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t index = order[static_cast<size_t>(begin + r)];
      if (augmenter.enabled())
        augmenter.apply(source + index * row_size, augmenter.draw(options.seed, epoch, index),
                        out + r * out_row_size);
      else
        std::memcpy(out + r * row_size, source + index * row_size, row_bytes);
      out_labels[r] = source_labels[index];
    }
  }

  void run_worker() {
    for (int64_t j = 0; j < batches; ++j) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return stop || j < released + 2; });
        if (stop) return;
      }
      try {
        gather_on_host(j, slots[j % 2]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        worker_error = std::current_exception();
        changed.notify_all();
        return;
      }
      std::lock_guard<std::mutex> lock(mutex);
      filled = j + 1;
      changed.notify_all();
    }
  }

  void stop_worker() {
    if (!worker.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    changed.notify_all();
    worker.join();
  }

  // Batch k from slot k % 2 to the target: a view on the CPU, a copy to a GPU.
  void deliver(int64_t k, Batch& batch) {
    const int64_t rows = batch_rows(k);
    const Slot& slot = slots[k % 2];  // filled: the worker waits for `copied` first
    if (options.device.is_cpu()) {
      batch.images = slot.images.slice(0, rows);
      batch.labels = slot.labels.slice(0, rows);
      return;
    }
    batch.images = Tensor::empty(batch_shape(rows), options.device, DType::F32);
    batch.images.copy_from(slot.images.slice(0, rows));
    batch.labels = Tensor::empty({rows}, options.device, DType::I32);
    batch.labels.copy_from(slot.labels.slice(0, rows));
    Slot& written = slots[k % 2];
    if (!written.copied) written.copied = cuda_hooks::create_event();
    cuda_hooks::record_event(written.copied, options.device.index);
  }

  void gather_on_device(int64_t k, Batch& batch) {
    const int64_t rows = batch_rows(k);
    const int32_t* indices = device_order.data<int32_t>() + batch_begin(k);
    batch.images = Tensor::empty(batch_shape(rows), options.device, DType::F32);
    batch.labels = Tensor::empty({rows}, options.device, DType::I32);
    cuda_hooks::gather_rows(options.device.index, DType::F32, images.raw_data(), indices, rows,
                            row_size, batch.images.raw_data());
    cuda_hooks::gather_rows(options.device.index, DType::I32, labels.raw_data(), indices, rows, 1,
                            batch.labels.raw_data());
  }
};

DataLoader::DataLoader(const Dataset& dataset, DataLoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = options;
  const Tensor& images = dataset.images;
  const Tensor& labels = dataset.labels;
  CONVNET_CHECK(images.defined() && labels.defined(), "DataLoader: the data set is empty (",
                images.str(), ", ", labels.str(), ")");
  CONVNET_CHECK(images.dtype() == DType::F32 && images.dim() >= 1, "DataLoader: images must be "
                "f32 [N, ...], got ", images.str());
  CONVNET_CHECK(labels.dtype() == DType::I32 && labels.dim() == 1, "DataLoader: labels must be "
                "i32 [N], got ", labels.str());
  CONVNET_CHECK(images.size(0) == labels.size(0), "DataLoader: ", images.size(0), " images but ",
                labels.size(0), " labels");
  CONVNET_CHECK(images.size(0) < (int64_t{1} << 31), "DataLoader: ", images.size(0),
                " samples do not fit the int32 indices of a permutation");
  CONVNET_CHECK(options.batch_size > 0, "DataLoader: batch_size must be positive, got ",
                options.batch_size);
  options.normalization.check("DataLoader: normalization", images.shape());
  options.augmentation.check("DataLoader", images.shape());
  CONVNET_CHECK(!options.augmentation.enabled() || !options.device_resident, "DataLoader: "
                "augmentation (random_crop / horizontal_flip) runs in host mode only; set "
                "device_resident = false (host mode prefetches while the GPU computes)");
  const Device device = options.device;
  CONVNET_CHECK(!options.device_resident || device.is_cuda(), "DataLoader: device_resident needs "
                "a CUDA device, but the loader delivers to ", device);
  if (device.is_cuda())
    CONVNET_CHECK(cuda_compiled() && device.index >= 0 && device.index < cuda_device_count(),
                  "DataLoader: cannot deliver batches to ", device, ": ",
                  cuda_compiled() ? cuda_unavailable_reason() : "convnet was built without CUDA");

  s.count = images.size(0);
  s.sample_shape = Shape(std::vector<int64_t>(images.shape().dims().begin() + 1,
                                              images.shape().dims().end()));
  s.row_size = s.sample_shape.numel();
  s.out_sample_shape = options.augmentation.output_shape(s.sample_shape);
  s.out_row_size = s.out_sample_shape.numel();
  s.augmenter = detail::SampleAugmenter(options.augmentation, s.sample_shape, options.normalization);
  s.batches = options.drop_last ? s.count / options.batch_size
                                : (s.count + options.batch_size - 1) / options.batch_size;

  // Normalise every sample once, here, so a batch costs one copy and no arithmetic.
  Tensor normalised = options.normalization(images.to(Device::cpu()));
  Tensor host_labels = labels.to(Device::cpu()).clone();

  if (options.device_resident) {
    s.images = normalised.to(device);
    s.labels = host_labels.to(device);
    return;
  }
  s.images = normalised;
  s.labels = host_labels;
  const int64_t slot_rows = std::min(options.batch_size, s.count);
  for (Slot& slot : s.slots) {
    // Pinned staging when the batch goes on to a GPU: cudaMemcpy from pageable
    // memory goes through a driver bounce buffer at a fraction of the speed.
    slot.images = device.is_cuda() ? Tensor::empty_pinned(s.batch_shape(slot_rows), DType::F32)
                                   : Tensor::empty(s.batch_shape(slot_rows), Device::cpu());
    slot.labels = device.is_cuda() ? Tensor::empty_pinned({slot_rows}, DType::I32)
                                   : Tensor::empty({slot_rows}, Device::cpu(), DType::I32);
  }
}

DataLoader::~DataLoader() { impl_->stop_worker(); }

void DataLoader::start_epoch(int64_t epoch) {
  Impl& s = *impl_;
  s.stop_worker();  // before the order changes: the worker reads it
  s.epoch = epoch;
  s.next_batch = 0;
  s.order = epoch_order(s.count, s.options.shuffle, s.options.seed, epoch);
  if (s.options.device_resident) {
    if (s.count > 0) s.device_order = Tensor::from_vector(s.order, {s.count}, s.options.device);
    return;
  }
  if (s.prefetching() && s.batches > 0) {
    s.stop = false;
    s.filled = 0;
    s.released = 0;
    s.worker_error = nullptr;
    s.worker = std::thread([&s] { s.run_worker(); });
  }
}

bool DataLoader::next(Batch& batch) {
  Impl& s = *impl_;
  if (s.epoch < 0) start_epoch(0);
  if (s.next_batch >= s.batches) return false;
  const int64_t k = s.next_batch++;
  if (s.options.device_resident) {
    s.gather_on_device(k, batch);
    return true;
  }
  if (s.prefetching()) {
    std::unique_lock<std::mutex> lock(s.mutex);
    s.released = k;  // the caller's previous batch (k - 1) may now be overwritten
    s.changed.notify_all();
    s.changed.wait(lock, [&] { return s.filled > k || s.worker_error; });
    if (s.worker_error) std::rethrow_exception(s.worker_error);
  } else {
    s.gather_on_host(k, s.slots[k % 2]);
  }
  s.deliver(k, batch);
  return true;
}

int64_t DataLoader::size() const { return impl_->count; }
int64_t DataLoader::batches_per_epoch() const { return impl_->batches; }
const DataLoaderOptions& DataLoader::options() const { return impl_->options; }

}  // namespace convnet::data
