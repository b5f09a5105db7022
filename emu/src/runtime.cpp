// The host-backed CUDA runtime of the emulated device (CONVNET_CUDA=EMULATED):
// one device, cuda:0, an sm_90 whose memory is device_memory.cpp's arena.
//
// A stream's work (kernel launches, copies, fills, cuBLAS calls) is queued and
// runs only when the host synchronises with the stream: cudaStreamSynchronize,
// cudaEventSynchronize on an event recorded after it, cudaDeviceSynchronize, a
// blocking cudaMemcpy (the legacy stream and blocking streams), cudaFree and
// cudaFreeHost. So a host read that forgot to synchronise sees stale data. As
// on a GPU, a cudaMemcpyAsync from pageable host memory copies its source at
// the call, and one to pageable host memory returns once the copy is done;
// pinned memory is read and written only when the stream reaches the copy.
//
// A fault in queued work (the emulator's diagnostics) is returned by the call
// that ran it as cudaErrorLaunchFailure, its text in cudaGetErrorString; the
// rest of that stream's work up to the synchronisation is dropped.
#include <cstring>
#include <memory>
#include <vector>

#include "runtime_state.hpp"

struct CUevent_st {
  CUstream_st* stream = nullptr;  // null until recorded
  uint64_t at = 0;                // the stream's sequence number at the record
};

namespace convnet::emu::rt {
namespace {

thread_local cudaError_t t_last = cudaSuccess;          // for cudaGetLastError
thread_local cudaError_t t_detail_error = cudaSuccess;  // the error t_detail explains
thread_local std::string t_detail;
thread_local std::string t_text;                        // cudaGetErrorString's last answer
thread_local int t_device = 0;

CUstream_st* legacy() {
  static auto* stream = new CUstream_st();  // leaked: used after main() returns
  return stream;
}
std::vector<CUstream_st*>& streams() {
  static auto* all = new std::vector<CUstream_st*>{legacy()};
  return *all;
}

// The legacy stream synchronises with every blocking stream.
cudaError_t drain_blocking() {
  cudaError_t status = cudaSuccess;
  for (CUstream_st* s : streams()) {
    if (!s->blocking) continue;
    const cudaError_t e = drain(s, s->enqueued);
    if (status == cudaSuccess) status = e;
  }
  return status;
}

const char* kind_name(cudaMemcpyKind kind) {
  switch (kind) {
    case cudaMemcpyHostToHost: return "cudaMemcpyHostToHost";
    case cudaMemcpyHostToDevice: return "cudaMemcpyHostToDevice";
    case cudaMemcpyDeviceToHost: return "cudaMemcpyDeviceToHost";
    case cudaMemcpyDeviceToDevice: return "cudaMemcpyDeviceToDevice";
    case cudaMemcpyDefault: return "cudaMemcpyDefault";
  }
  return "an unknown cudaMemcpyKind";
}

// Checks that `kind` matches where dst and src live and that device ranges fit.
cudaError_t check_copy(const char* call, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  const bool dst_device = where(dst) == Where::Device, src_device = where(src) == Where::Device;
  bool want_dst = dst_device, want_src = src_device;
  switch (kind) {
    case cudaMemcpyHostToHost: want_dst = want_src = false; break;
    case cudaMemcpyHostToDevice: want_dst = true; want_src = false; break;
    case cudaMemcpyDeviceToHost: want_dst = false; want_src = true; break;
    case cudaMemcpyDeviceToDevice: want_dst = want_src = true; break;
    case cudaMemcpyDefault: break;
    default:
      return fail(cudaErrorInvalidMemcpyDirection, std::string(call) + ": kind " + std::to_string(kind));
  }
  if (dst_device != want_dst || src_device != want_src)
    return fail(cudaErrorInvalidValue, std::string(call) + " with " + kind_name(kind) + ", but dst is " +
                                           describe(dst) + " and src is " + describe(src));
  for (const void* p : {static_cast<const void*>(dst), src}) {
    if (where(p) != Where::Device) continue;
    const std::string problem = device_range_problem(p, bytes);
    if (!problem.empty()) return fail(cudaErrorInvalidValue, std::string(call) + ": " + problem);
  }
  return cudaSuccess;
}

}  // namespace

std::recursive_mutex& mutex() {
  static auto* m = new std::recursive_mutex();
  return *m;
}

cudaError_t fail(cudaError_t error, const std::string& detail) {
  t_last = error;
  t_detail_error = error;
  t_detail = detail;
  return error;
}

CUstream_st* resolve(cudaStream_t stream) { return stream == nullptr ? legacy() : stream; }

void enqueue(cudaStream_t stream, std::function<void()> work) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  CUstream_st* s = resolve(stream);
  s->queue.emplace_back(++s->enqueued, std::move(work));
}

cudaError_t drain(CUstream_st* s, uint64_t until) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  std::string fault;
  while (!s->queue.empty() && s->queue.front().first <= until) {
    auto [sequence, work] = std::move(s->queue.front());
    s->queue.pop_front();
    if (fault.empty()) {
      try {
        work();
      } catch (const std::exception& e) {
        fault = e.what();
      }
    }
    s->done = sequence;
  }
  release_to_threshold();
  if (!fault.empty())
    return fail(cudaErrorLaunchFailure, fault + " (the stream's later work up to this "
                                                "synchronisation was dropped)");
  return cudaSuccess;
}

cudaError_t drain_all() {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  cudaError_t status = cudaSuccess;
  for (CUstream_st* s : streams()) {
    const cudaError_t e = drain(s, s->enqueued);
    if (status == cudaSuccess) status = e;
  }
  return status;
}

}  // namespace convnet::emu::rt

namespace convnet::emu {
// Limits are checked at the launch, as the device reports them; the grid runs later.
void launch(const LaunchConfig& config, std::function<void()> thread_body) {
  check_launch(config);
  rt::enqueue(config.stream, [config, body = std::move(thread_body)] { run_grid(config, body); });
}
}  // namespace convnet::emu

using namespace convnet::emu::rt;

// ---- errors

cudaError_t cudaGetLastError() {
  const cudaError_t last = t_last;
  t_last = cudaSuccess;
  return last;
}
cudaError_t cudaPeekAtLastError() { return t_last; }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

// CUDA's text, then the emulator's detail when it explains this thread's last error.
const char* cudaGetErrorString(cudaError_t error) {
  const char* text = "unknown error";
  switch (error) {
    case cudaSuccess: text = "no error"; break;
    case cudaErrorInvalidValue: text = "invalid argument"; break;
    case cudaErrorMemoryAllocation: text = "out of memory"; break;
    case cudaErrorInvalidConfiguration: text = "invalid configuration argument"; break;
    case cudaErrorInvalidMemcpyDirection: text = "invalid copy direction for memcpy"; break;
    case cudaErrorInvalidDevice: text = "invalid device ordinal"; break;
    case cudaErrorInvalidResourceHandle: text = "invalid resource handle"; break;
    case cudaErrorNotReady: text = "device not ready"; break;
    case cudaErrorLaunchFailure: text = "unspecified launch failure"; break;
  }
  if (error != t_detail_error || t_detail.empty()) return text;
  t_text = std::string(text) + "; emulated device: " + t_detail;
  return t_text.c_str();
}

// ---- the device

cudaError_t cudaGetDeviceCount(int* count) {
  *count = kDevices;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = t_device;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= kDevices)
    return fail(cudaErrorInvalidDevice, "cudaSetDevice(" + std::to_string(device) + "): the emulator has cuda:0 only");
  t_device = device;
  return cudaSuccess;
}

// An H100-like sm_90. CONVNET_EMU_MEMORY_POOLS=0 reports no pools (the allocator's fallback).
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (device < 0 || device >= kDevices)
    return fail(cudaErrorInvalidDevice, "cudaDeviceGetAttribute: no cuda:" + std::to_string(device));
  switch (attribute) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = 132; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = static_cast<int>(convnet::emu::kSharedOptInBytes);
      return cudaSuccess;
    case cudaDevAttrMemoryPoolsSupported: {
      const char* pools = std::getenv("CONVNET_EMU_MEMORY_POOLS");
      *value = pools != nullptr && std::strcmp(pools, "0") == 0 ? 0 : 1;
      return cudaSuccess;
    }
  }
  return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute " + std::to_string(attribute) +
                                         " is not emulated");
}

cudaError_t cudaDeviceSynchronize() { return drain_all(); }

// ---- streams and events

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  auto* s = new CUstream_st();  // never destroyed: no cudaStreamDestroy in src/
  s->blocking = (flags & cudaStreamNonBlocking) == 0;
  streams().push_back(s);
  *stream = s;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(mutex());
  if (stream == nullptr) return drain_blocking();
  return drain(stream, stream->enqueued);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) {
  *event = new CUevent_st();
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: null event");
  std::lock_guard<std::recursive_mutex> lock(mutex());
  event->stream = resolve(stream);
  event->at = event->stream->enqueued;
  return cudaSuccess;
}

// Runs the recorded stream's work up to the record, not beyond.
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: null event");
  std::lock_guard<std::recursive_mutex> lock(mutex());
  return event->stream == nullptr ? cudaSuccess : drain(event->stream, event->at);
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle, "cudaEventDestroy: null event");
  delete event;
  return cudaSuccess;
}

// ---- copies and fills

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(mutex());
  if (const cudaError_t e = check_copy("cudaMemcpyAsync", dst, src, bytes, kind)) return e;
  const Where from = where(src), to = where(dst);
  if (from == Where::Host && to != Where::Host) {  // pageable source: staged at the call
    auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(src),
                                                               static_cast<const unsigned char*>(src) + bytes);
    enqueue(stream, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
  } else {
    enqueue(stream, [dst, src, bytes] { std::memcpy(dst, src, bytes); });
  }
  CUstream_st* s = resolve(stream);
  if (to == Where::Host && from == Where::Device) return drain(s, s->enqueued);  // pageable: waits
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(mutex());
  if (const cudaError_t e = check_copy("cudaMemcpy", dst, src, bytes, kind)) return e;
  const cudaError_t pending = drain_blocking();  // the legacy stream's order
  std::memcpy(dst, src, bytes);
  return pending;
}

cudaError_t cudaMemcpyPeerAsync(void* dst, int dst_device, const void* src, int src_device,
                                size_t bytes, cudaStream_t stream) {
  if (dst_device < 0 || dst_device >= kDevices || src_device < 0 || src_device >= kDevices)
    return fail(cudaErrorInvalidDevice, "cudaMemcpyPeerAsync: cuda:" + std::to_string(dst_device) +
                                            " <- cuda:" + std::to_string(src_device));
  if (bytes == 0) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(mutex());
  if (const cudaError_t e = check_copy("cudaMemcpyPeerAsync", dst, src, bytes, cudaMemcpyDeviceToDevice)) return e;
  enqueue(stream, [dst, src, bytes] { std::memcpy(dst, src, bytes); });
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  const std::string problem = device_range_problem(pointer, bytes);
  if (!problem.empty()) return fail(cudaErrorInvalidValue, "cudaMemsetAsync: " + problem);
  enqueue(stream, [pointer, value, bytes] { std::memset(pointer, value, bytes); });
  return cudaSuccess;
}
