#include "binding/host_memory.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "binding/common.h"

namespace deepconv {

std::shared_ptr<void> HostRegistry::find(const void* p, size_t bytes) const {
  const auto at = reinterpret_cast<uintptr_t>(p);
  auto it = blocks_.upper_bound(at);
  if (it == blocks_.begin()) return nullptr;
  --it;
  if (at - it->first + bytes > it->second.bytes) return nullptr;
  return it->second.block;
}

void HostRegistry::add(void* start, size_t bytes, std::shared_ptr<void> block) {
  blocks_[reinterpret_cast<uintptr_t>(start)] = Entry{bytes, std::move(block)};
}

void HostRegistry::remove(void* start) { blocks_.erase(reinterpret_cast<uintptr_t>(start)); }

namespace {

void* aligned_start(void* raw) {
  return reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(raw) + 63) & ~uintptr_t(63));
}

// Freed blocks kept for reuse, by exact size: layer outputs come and go in the same sizes step
// after step, and a recycled block costs a memset where a fresh one past malloc's mmap threshold
// costs an mmap, a munmap and a page fault per 4 KiB. Process-wide and thread-safe, since blocks die on the
// executor thread as well as on the JS thread of any worker; never destroyed, so that a block
// outliving static destruction at exit still has somewhere to go.
class BlockPool {
 public:
  static BlockPool& get() {
    static BlockPool* pool = new BlockPool();  // leaked on purpose (see above)
    return *pool;
  }
  // A raw block of at least bytes + 64, or null.
  void* take(size_t bytes) {
    if (bytes <= kMaxPooled) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* raw = it->second.back();
        it->second.pop_back();
        held_ -= bytes;
        std::memset(aligned_start(raw), 0, bytes);
        return raw;
      }
    }
    return std::calloc(1, bytes + 64);
  }
  void give(void* raw, size_t bytes) noexcept {
    if (bytes <= kMaxPooled) {
      std::lock_guard<std::mutex> lock(mu_);
      if (held_ + bytes <= kMaxHeld) {
        try {
          free_[bytes].push_back(raw);
          held_ += bytes;
          return;
        } catch (...) {
          // no room for the bookkeeping: free it instead
        }
      }
    }
    std::free(raw);
  }

 private:
  static constexpr size_t kMaxPooled = size_t(4) << 20;  // bigger blocks go back to the system
  static constexpr size_t kMaxHeld = size_t(16) << 20;
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t held_ = 0;
};

}  // namespace

std::shared_ptr<void> allocate_host_block(size_t bytes) {
  // Zeroed, as V8's own typed arrays; fresh ones from calloc come as untouched zero pages. The
  // start is rounded up to 64 bytes (a cache line, an AVX-512 vector); the raw block is what is
  // recycled or freed.
  void* raw = BlockPool::get().take(bytes);
  if (raw == nullptr) return nullptr;
  return std::shared_ptr<void>(aligned_start(raw), [raw, bytes](void*) { BlockPool::get().give(raw, bytes); });
}

std::shared_ptr<void> copy_to_host_block(const void* p, size_t bytes) {
  std::shared_ptr<void> b = allocate_host_block(bytes);
  if (!b) throw std::bad_alloc();
  if (bytes > 0) std::memcpy(b.get(), p, bytes);
  return b;
}

namespace {

constexpr int64_t kMaxHostBytes = int64_t(1) << 32;

// What a finalizer needs: the registry (it may outlive the addon state) and the block's size.
struct Lent {
  std::shared_ptr<HostRegistry> registry;
  size_t bytes;
  bool lent = false;  // the ArrayBuffer exists and the block is registered
};

// Also called by Node from inside a failing napi_create_external_arraybuffer (then lent is false).
void finalize_lent(napi_env env, void* data, void* hint) {
  auto* lent = static_cast<Lent*>(hint);
  if (lent->lent) {
    lent->registry->remove(data);  // drops the typed array's reference; queued jobs keep theirs
    int64_t adjusted = 0;
    napi_adjust_external_memory(env, -int64_t(lent->bytes), &adjusted);
  }
  delete lent;
}

// hostAlloc(bytes): a zeroed ArrayBuffer of `bytes` in memory the addon owns. JavaScript wraps it
// in the typed array it needs, which then belongs to the caller's realm (a vm context, jest).
Napi::Value HostAlloc(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Args& a) {
    Napi::Env env = info.Env();
    // Node 18-20 make no external buffer beyond 2^32 bytes (buffer.constants.MAX_LENGTH).
    const int64_t n = a.integer("bytes", 1, kMaxHostBytes);
    const size_t bytes = size_t(n);
    std::shared_ptr<void> block = allocate_host_block(bytes);
    if (!block) throw ArgRangeError("could not allocate " + std::to_string(bytes) + " bytes of host memory");
    AddonState& st = state(env);
    auto* lent = new Lent{st.host, bytes};
    napi_value ab;
    if (napi_create_external_arraybuffer(env, block.get(), bytes, finalize_lent, lent, &ab) != napi_ok) {
      // Node may already have run (and freed) the finalizer: lent is not ours to touch any more.
      throw Napi::Error::New(env, "deepconv native: could not create an external ArrayBuffer of " + std::to_string(bytes) + " bytes");
    }
    lent->lent = true;
    st.host->add(block.get(), bytes, block);
    int64_t adjusted = 0;
    napi_adjust_external_memory(env, int64_t(bytes), &adjusted);  // so the GC feels its weight
    return Napi::Value(env, ab);
  });
}

Napi::Value IsHostMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool owned = false;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  // The view's own data pointer (offset included): its buffer may be a SharedArrayBuffer, which
  // napi_get_arraybuffer_info refuses.
  if (info.Length() > 0 && info[0].IsTypedArray() &&
      napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr) == napi_ok && length > 0) {
    owned = state(env).host->find(data, length * info[0].As<Napi::TypedArray>().ElementSize()) != nullptr;
  }
  return Napi::Boolean::New(env, owned);
}

}  // namespace

void register_host_memory(Napi::Env env, Napi::Object exports) {
  exports.Set("hostAlloc", Napi::Function::New(env, HostAlloc));
  exports.Set("isHostMemory", Napi::Function::New(env, IsHostMemory));
}

}  // namespace deepconv
