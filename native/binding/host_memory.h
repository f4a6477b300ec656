// Host memory the addon owns and lends to JavaScript as the storage of typed arrays.
//
// Why: an asynchronous kernel runs on the executor thread while JavaScript goes on. A typed
// array that V8 owns can be transferred to a worker, detached, resized or collected meanwhile,
// and its memory freed under the kernel. Memory allocated here is reference-counted instead: the
// typed array holds one reference (dropped by its finalizer) and every queued job that uses the
// memory holds another, so it stays valid until the last kernel that touches it has finished,
// whatever JavaScript does.
//
//   hostAlloc(bytes) -> ArrayBuffer         zeroed, 64-byte aligned, 1 <= bytes <= 2^32; JavaScript
//                                           wraps it in the typed array it needs
//   isHostMemory(v) -> boolean              whether v's elements lie in memory allocated here
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

namespace deepconv {

// The blocks lent to one environment's JavaScript, by start address (JS thread only). Shared
// with each block's finalizer, which may run after the addon's state is gone.
class HostRegistry {
 public:
  // The block holding [p, p + bytes), or null when that range is not (wholly) in one.
  std::shared_ptr<void> find(const void* p, size_t bytes) const;
  void add(void* start, size_t bytes, std::shared_ptr<void> block);
  void remove(void* start);

 private:
  struct Entry {
    size_t bytes;
    std::shared_ptr<void> block;
  };
  std::map<uintptr_t, Entry> blocks_;
};

// A zeroed, 64-byte aligned block of `bytes` owned by the returned pointer (null on failure).
std::shared_ptr<void> allocate_host_block(size_t bytes);
// A block holding a copy of [p, p + bytes).
std::shared_ptr<void> copy_to_host_block(const void* p, size_t bytes);

void register_host_memory(Napi::Env env, Napi::Object exports);

}  // namespace deepconv
