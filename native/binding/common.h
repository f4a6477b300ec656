// Shared plumbing for the N-API bindings: argument readers that never trust JavaScript,
// and one way to run a kernel either inline or on the executor thread behind a Promise, on
// the CPU or (CUDA builds, device buffers) on the GPU.
//
// The TypeScript layer validates everything first and gives the precise messages users see.
// The checks here are the last line of defence: whatever JavaScript passes, a kernel only ever
// receives buffers whose lengths match the sizes it was told.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "deepconv/cuda.h"  // declarations only: no CUDA header, fine in CPU-only builds

namespace deepconv {

// Per-addon state (one per Node environment / worker thread), reached through
// Env::GetInstanceData. No globals: several worker threads may load the addon at once.
class Executor;
struct DeviceRuntime;  // binding/device.h

class HostRegistry;  // binding/host_memory.h

struct AddonState {
  AddonState();
  ~AddonState();
  int num_threads = 1;  // OpenMP threads each kernel call uses
  std::shared_ptr<HostRegistry> host;  // the host memory lent to JavaScript (hostAlloc)
  // The CUDA context and its lock (CUDA builds; created on first use). Device buffers share it,
  // so it outlives this state if a buffer is collected after the environment's teardown began.
  std::shared_ptr<DeviceRuntime> device;
  Napi::FunctionReference cuda_buffer_class;  // CudaBuffer's constructor (CUDA builds)
  std::unique_ptr<Executor> executor;  // runs the asynchronous calls; created on the first one
};

AddonState& state(Napi::Env env);
// The addon's executor, created on first use.
Executor& executor(Napi::Env env);

// Thrown by argument readers; becomes a JavaScript RangeError / TypeError.
struct ArgRangeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ArgTypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class DType { f32, f64 };
enum class Where { unknown, cpu, cuda };

// Element kinds of device buffers (binding/device.cc), by C++ type.
enum class DeviceKind { f32, i32 };
template <typename T>
struct DeviceKindOf;
template <>
struct DeviceKindOf<float> {
  static constexpr DeviceKind value = DeviceKind::f32;
};
template <>
struct DeviceKindOf<int32_t> {
  static constexpr DeviceKind value = DeviceKind::i32;
};

// If v is a live CudaBuffer: its device pointer, element kind and length (else false), and in
// *keep (when given) a reference that keeps the device memory allocated. Throws ArgTypeError for
// a disposed one. Always false in builds without CUDA.
bool device_buffer(Napi::Env env, const Napi::Value& v, const char* name, void** ptr, DeviceKind* kind,
                   int64_t* length, std::shared_ptr<void>* keep = nullptr);
std::string device_kind_name(DeviceKind k);

// Reads a binding call's arguments left to right.
//
// in<T>() / out<T>() take a typed array (the call runs on the CPU) or a CudaBuffer (the call runs
// on the GPU); every buffer of one call must be on the same side. in<T>() is only read by the
// kernel, out<T>() is written (or updated in place). host_in<T>() / host_out<T>() take typed
// arrays only (labels, scalar results), whichever side the call runs on.
//
// What an asynchronous call (trailing `true`) may use, since JavaScript runs on while it is queued
// (see host_memory.h): out<T>() / host_out<T>() must be memory the addon allocated (hostAlloc) or
// a CudaBuffer, and the job co-owns it; in<T>() uses such memory in place and copies any other
// typed array into the job when the call is made; host_in<T>() always copies, because the binding
// checks its values (labels) and JavaScript must not change them between the check and the kernel.
// Synchronous CPU calls take any typed array in place: no JavaScript runs while they do.
class Args {
 public:
  explicit Args(const Napi::CallbackInfo& info);

  // dtype of the call: that of its first Float32Array / Float64Array / float32 CudaBuffer argument.
  DType dtype() const;
  // Where the call's buffers live (known once a buffer has been read).
  bool on_cuda() const { return where_ == Where::cuda; }
  // Whether the call ends with the "run asynchronously" flag set.
  bool async() const { return async_; }

  // A whole number within [lo, hi].
  int64_t integer(const char* name, int64_t lo = 1, int64_t hi = (int64_t(1) << 40));
  double number(const char* name);
  bool boolean(const char* name);
  std::string string(const char* name);

  // A buffer of element type T holding exactly `count` elements (null when count is 0).
  template <typename T>
  const T* in(const char* name, int64_t count) {
    return buffer<T>(name, count, Role::in);
  }
  template <typename T>
  T* out(const char* name, int64_t count) {
    return buffer<T>(name, count, Role::out);
  }
  template <typename T>
  const T* host_in(const char* name, int64_t count) {
    return host<T>(name, count, next(name), Role::snapshot);
  }
  template <typename T>
  T* host_out(const char* name, int64_t count) {
    return host<T>(name, count, next(name), Role::out);
  }

  // Refuses arguments beyond those read and the trailing flag (so the flag cannot be misread).
  void check_arity() const;

  // The memory an asynchronous call's job must keep alive until its kernel has run.
  std::vector<std::shared_ptr<void>>& owned() { return owned_; }
  Napi::Env env() const { return info_.Env(); }

 private:
  enum class Role { in, out, snapshot };
  Napi::Value next(const char* name);
  template <typename T>
  T* buffer(const char* name, int64_t count, Role role);
  template <typename T>
  T* host(const char* name, int64_t count, const Napi::Value& v, Role role);  // v: the argument already read
  void* lend(const char* name, const Napi::Value& v, void* data, size_t bytes, Role role);
  void set_where(Where w, const char* name);
  const Napi::CallbackInfo& info_;
  size_t pos_ = 0;
  bool async_ = false;
  Where where_ = Where::unknown;
  const char* first_ = nullptr;  // the first buffer read, for mixed-device messages
  std::vector<std::shared_ptr<void>> owned_;
};

// Whether typed array v's ArrayBuffer is detached (false for a SharedArrayBuffer, never detached).
bool detached(const Napi::Value& v);

// What a value is, for messages: "a Float32Array", "a number", ...
std::string kind_of(const Napi::Value& v);

// Multiplies sizes, refusing overflow and absurd totals.
int64_t checked_product(std::initializer_list<int64_t> dims, const char* what);

// Runs `kernel` now (returns undefined) or on the addon's executor thread (returns a Promise).
// C++ exceptions from the kernel become JavaScript errors either way.
Napi::Value run(Args& args, std::function<void()> kernel);

// The same for a GPU kernel (binding/device.cc): it is queued on the context's stream under the
// context's lock. Synchronous calls return once the work is queued; asynchronous ones settle
// after the stream has finished it.
Napi::Value run_cuda(Args& args, std::function<void(cuda::Context&)> kernel);

// Runs `cpu` or, when the call's buffers are CudaBuffers, `gpu(ctx)`. `gpu` is a generic lambda
// ([=](auto& ctx) {...}): it is only instantiated for float in CUDA builds, so CPU-only builds
// and float64 calls never reference the CUDA kernels.
template <typename T, typename Gpu>
Napi::Value run(Args& args, std::function<void()> cpu, Gpu gpu) {
#ifdef DEEPCONV_WITH_CUDA
  if constexpr (std::is_same_v<T, float>) {
    if (args.on_cuda()) return run_cuda(args, [gpu](cuda::Context& ctx) { gpu(ctx); });
  }
#else
  (void)gpu;
#endif
  return run(args, std::move(cpu));
}

// Typed-array element type traits.
template <typename T>
struct TypedArrayKind;
template <>
struct TypedArrayKind<float> {
  static constexpr napi_typedarray_type value = napi_float32_array;
  static constexpr const char* name = "a Float32Array";
};
template <>
struct TypedArrayKind<double> {
  static constexpr napi_typedarray_type value = napi_float64_array;
  static constexpr const char* name = "a Float64Array";
};
template <>
struct TypedArrayKind<int32_t> {
  static constexpr napi_typedarray_type value = napi_int32_array;
  static constexpr const char* name = "an Int32Array";
};
template <>
struct TypedArrayKind<uint8_t> {
  static constexpr napi_typedarray_type value = napi_uint8_array;
  static constexpr const char* name = "a Uint8Array";
};

template <typename T>
T* Args::buffer(const char* name, int64_t count, Role role) {
  Napi::Value v = next(name);
  void* ptr = nullptr;
  DeviceKind kind{};
  int64_t length = 0;
  std::shared_ptr<void> keep;
  // Typed arrays first: the CPU path pays no device check.
  if (!v.IsTypedArray() && device_buffer(env(), v, name, &ptr, &kind, &length, &keep)) {
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, int32_t>) {
      if (kind != DeviceKindOf<T>::value) {
        throw ArgTypeError(std::string(name) + " must be a " + device_kind_name(DeviceKindOf<T>::value) +
                           " cuda buffer, got a " + device_kind_name(kind) + " one");
      }
      if (length != count) {
        throw ArgRangeError(std::string(name) + " must hold " + std::to_string(count) + " elements, got " +
                            std::to_string(length));
      }
      set_where(Where::cuda, name);
      if (count == 0) return nullptr;  // as for typed arrays: empty is null
      owned_.push_back(std::move(keep));  // GPU work may be in flight even after a synchronous call
      return static_cast<T*>(ptr);
    } else {
      throw ArgTypeError(std::string(name) + " must be " + TypedArrayKind<T>::name +
                         " (cuda buffers hold float32 or int32), got a " + device_kind_name(kind) + " cuda buffer");
    }
  }
  T* p = host<T>(name, count, v, role);  // first: a non-array is a type error, not a device mix-up
  set_where(Where::cpu, name);
  return p;
}

template <typename T>
T* Args::host(const char* name, int64_t count, const Napi::Value& v, Role role) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedArrayKind<T>::value) {
    throw ArgTypeError(std::string(name) + " must be " + TypedArrayKind<T>::name + ", got " + kind_of(v));
  }
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  if (static_cast<int64_t>(arr.ElementLength()) != count) {
    if (count > 0 && arr.ElementLength() == 0 && detached(v)) {
      throw ArgTypeError(std::string(name) + "'s ArrayBuffer is detached (transferred or freed): it holds no elements");
    }
    throw ArgRangeError(std::string(name) + " must hold " + std::to_string(count) + " elements, got " +
                        std::to_string(arr.ElementLength()));
  }
  if (count == 0) return nullptr;
  return static_cast<T*>(lend(name, v, arr.Data(), size_t(count) * sizeof(T), role));
}

// Dispatches a templated binding fn_t<T> on the dtype of the call. Bindings take their sizes
// first, then their buffers (so each buffer's length can be checked as it is read).
#define DEEPCONV_DISPATCH(fn)                                              \
  Napi::Value fn(const Napi::CallbackInfo& info) {                         \
    return ::deepconv::guarded(info, [&](Args& a) {                        \
      return a.dtype() == DType::f64 ? fn##_t<double>(a) : fn##_t<float>(a); \
    });                                                                    \
  }

// Converts C++ exceptions thrown while reading arguments into JavaScript errors.
Napi::Value guarded(const Napi::CallbackInfo& info, const std::function<Napi::Value(Args&)>& body);

// Each binding file registers its functions here.
void register_gemm(Napi::Env env, Napi::Object exports);
void register_conv(Napi::Env env, Napi::Object exports);
void register_pool(Napi::Env env, Napi::Object exports);
void register_activation(Napi::Env env, Napi::Object exports);
void register_linear(Napi::Env env, Napi::Object exports);
void register_batchnorm(Napi::Env env, Napi::Object exports);
void register_loss(Napi::Env env, Napi::Object exports);
void register_optim(Napi::Env env, Napi::Object exports);

}  // namespace deepconv
