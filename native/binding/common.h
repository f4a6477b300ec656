// Shared plumbing for the N-API bindings: argument readers that never trust JavaScript,
// and one way to run a kernel either inline or on the libuv pool behind a Promise.
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
#include <utility>
#include <vector>

namespace deepconv {

// Per-addon state (one per Node environment / worker thread), reached through
// Env::GetInstanceData. No globals: several worker threads may load the addon at once.
class Executor;

struct AddonState {
  AddonState();
  ~AddonState();
  int num_threads = 1;  // OpenMP threads each kernel call uses
  std::unique_ptr<Executor> executor;  // runs the asynchronous calls; created on the first one
};

AddonState& state(Napi::Env env);

// Thrown by argument readers; becomes a JavaScript RangeError / TypeError.
struct ArgRangeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ArgTypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class DType { f32, f64 };

// Reads a binding call's arguments left to right. Every typed array it hands out is
// remembered so that an asynchronous call can keep it alive until the kernel finishes.
class Args {
 public:
  explicit Args(const Napi::CallbackInfo& info) : info_(info) {}

  // dtype of the call: that of its first Float32Array / Float64Array argument.
  DType dtype() const;

  // A whole number within [lo, hi].
  int64_t integer(const char* name, int64_t lo = 1, int64_t hi = (int64_t(1) << 40));
  double number(const char* name);
  bool boolean(const char* name);

  // A typed array of element type T holding exactly `count` elements.
  template <typename T>
  T* buffer(const char* name, int64_t count);

  // The trailing "run asynchronously" flag (absent means synchronous).
  bool async_flag() const {
    return info_.Length() > pos_ && info_[pos_].IsBoolean() && info_[pos_].As<Napi::Boolean>().Value();
  }

  std::vector<Napi::Value>& kept() { return kept_; }
  Napi::Env env() const { return info_.Env(); }

 private:
  Napi::Value next(const char* name);
  const Napi::CallbackInfo& info_;
  size_t pos_ = 0;
  std::vector<Napi::Value> kept_;
};

// What a value is, for messages: "a Float32Array", "a number", ...
std::string kind_of(const Napi::Value& v);

// Multiplies sizes, refusing overflow and absurd totals.
int64_t checked_product(std::initializer_list<int64_t> dims, const char* what);

// Runs `kernel` now (returns undefined) or on the addon's executor thread (returns a Promise).
// C++ exceptions from the kernel become JavaScript errors either way.
Napi::Value run(Args& args, std::function<void()> kernel);

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
T* Args::buffer(const char* name, int64_t count) {
  Napi::Value v = next(name);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedArrayKind<T>::value) {
    throw ArgTypeError(std::string(name) + " must be " + TypedArrayKind<T>::name + ", got " + kind_of(v));
  }
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  if (static_cast<int64_t>(arr.ElementLength()) != count) {
    throw ArgRangeError(std::string(name) + " must hold " + std::to_string(count) + " elements, got " +
                        std::to_string(arr.ElementLength()));
  }
  kept_.push_back(v);
  return count == 0 ? nullptr : arr.Data();
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
