#include "common.h"

#include <cmath>

#include "binding/executor.h"
#include "binding/host_memory.h"
#include "binding/team.h"
#include "deepconv/compiler.h"
#include "deepconv/parallel.h"

namespace deepconv {

AddonState::AddonState() : host(std::make_shared<HostRegistry>()) {}
AddonState::~AddonState() = default;  // joins the executor thread

AddonState& state(Napi::Env env) { return *env.GetInstanceData<AddonState>(); }

Executor& executor(Napi::Env env) {
  AddonState& st = state(env);
  if (!st.executor) st.executor = std::make_unique<Executor>(env);
  return *st.executor;
}

Args::Args(const Napi::CallbackInfo& info) : info_(info) {
  // Decided before any buffer is read, since that decides how each is held. check_arity() makes
  // sure the last argument is the flag and not an extra one.
  const size_t n = info.Length();
  async_ = n > 0 && info[n - 1].IsBoolean() && info[n - 1].As<Napi::Boolean>().Value();
}

void Args::check_arity() const {
  const size_t n = info_.Length();
  if (n > pos_ + 1 || (n == pos_ + 1 && !info_[pos_].IsBoolean())) {
    throw ArgTypeError("expected " + std::to_string(pos_) + " arguments and an optional async flag, got " +
                       std::to_string(n) + " arguments");
  }
}

void* Args::lend(const char* name, const Napi::Value& v, void* data, size_t bytes, Role role) {
  if (!async_) return data;  // no JavaScript runs while a synchronous CPU call does
  if (role != Role::snapshot) {
    if (std::shared_ptr<void> block = state(env()).host->find(data, bytes)) {
      owned_.push_back(std::move(block));
      return data;
    }
  }
  if (role == Role::out) {
    throw ArgTypeError(std::string(name) + " is written by an asynchronous kernel, so it must be memory deepconv " +
                       "allocated (as the Tensor factories do), got " + kind_of(v) + " whose memory JavaScript owns " +
                       "and could transfer or free while the kernel runs");
  }
  std::shared_ptr<void> copy = copy_to_host_block(data, bytes);
  void* p = copy.get();
  owned_.push_back(std::move(copy));
  return p;
}

DType Args::dtype() const {
  for (size_t i = 0; i < info_.Length(); ++i) {
    if (info_[i].IsTypedArray()) {
      auto t = info_[i].As<Napi::TypedArray>().TypedArrayType();
      if (t == napi_float64_array) return DType::f64;
      if (t == napi_float32_array) return DType::f32;
      continue;
    }
    void* ptr = nullptr;
    DeviceKind kind{};
    int64_t length = 0;
    try {
      if (info_[i].IsObject() && device_buffer(info_.Env(), info_[i], "argument", &ptr, &kind, &length) &&
          kind == DeviceKind::f32) {
        return DType::f32;
      }
    } catch (const ArgTypeError&) {
      // a disposed buffer: the reader of that argument says so, by name
    }
  }
  throw ArgTypeError("expected Float32Array, Float64Array or float32 cuda buffer arguments");
}

void Args::set_where(Where w, const char* name) {
  if (where_ == Where::unknown) {
    where_ = w;
    first_ = name;
  } else if (where_ != w) {
    const char* a = where_ == Where::cuda ? "a cuda buffer" : "a cpu typed array";
    const char* b = w == Where::cuda ? "a cuda buffer" : "a cpu typed array";
    throw ArgTypeError(std::string(name) + " is " + b + " but " + first_ + " is " + a +
                       ": all tensors of one call must be on the same device");
  }
}

Napi::Value Args::next(const char* name) {
  if (pos_ >= info_.Length()) throw ArgTypeError(std::string("missing argument ") + name);
  return info_[pos_++];
}

int64_t Args::integer(const char* name, int64_t lo, int64_t hi) {
  Napi::Value v = next(name);
  if (!v.IsNumber()) throw ArgTypeError(std::string(name) + " must be a number, got " + kind_of(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < double(lo) || d > double(hi)) {
    throw ArgRangeError(std::string(name) + " must be a whole number in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "], got " + std::to_string(d));
  }
  return static_cast<int64_t>(d);
}

double Args::number(const char* name) {
  Napi::Value v = next(name);
  if (!v.IsNumber()) throw ArgTypeError(std::string(name) + " must be a number, got " + kind_of(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw ArgRangeError(std::string(name) + " must be finite, got " + std::to_string(d));
  return d;
}

bool Args::boolean(const char* name) {
  Napi::Value v = next(name);
  if (!v.IsBoolean()) throw ArgTypeError(std::string(name) + " must be a boolean, got " + kind_of(v));
  return v.As<Napi::Boolean>().Value();
}

std::string Args::string(const char* name) {
  Napi::Value v = next(name);
  if (!v.IsString()) throw ArgTypeError(std::string(name) + " must be a string, got " + kind_of(v));
  return v.As<Napi::String>().Utf8Value();
}

bool detached(const Napi::Value& v) {
  napi_value ab = nullptr;
  bool result = false;
  if (napi_get_typedarray_info(v.Env(), v, nullptr, nullptr, nullptr, &ab, nullptr) != napi_ok || ab == nullptr) return false;
  return napi_is_detached_arraybuffer(v.Env(), ab, &result) == napi_ok && result;
}

std::string kind_of(const Napi::Value& v) {
  void* ptr = nullptr;
  DeviceKind kind{};
  int64_t length = 0;
  try {
    if (device_buffer(v.Env(), v, "value", &ptr, &kind, &length)) return "a " + device_kind_name(kind) + " cuda buffer";
  } catch (const ArgTypeError&) {
    return "a disposed cuda buffer";
  }
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint8_array: return "a Uint8Array";
      default: return "another typed array";
    }
  }
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsArray()) return "an array";
  return "an object";
}

int64_t checked_product(std::initializer_list<int64_t> dims, const char* what) {
  int64_t p = 1;
  for (int64_t d : dims) {
    if (d < 0 || mul_overflows(p, d, &p) || p > (int64_t(1) << 40)) {
      throw ArgRangeError(std::string(what) + " is too large");
    }
  }
  return p;
}


Napi::Value run(Args& args, std::function<void()> kernel) {
  args.check_arity();
  Napi::Env env = args.env();
  int threads = state(env).num_threads;
  if (args.async()) return executor(env).submit(env, std::move(kernel), std::move(args.owned()), threads);
  set_num_threads(team_size(threads));
  kernel();
  return env.Undefined();
}

Napi::Value guarded(const Napi::CallbackInfo& info, const std::function<Napi::Value(Args&)>& body) {
  Napi::Env env = info.Env();
  try {
    Args args(info);
    return body(args);
  } catch (const ArgTypeError& e) {
    throw Napi::TypeError::New(env, std::string("deepconv native: ") + e.what());
  } catch (const ArgRangeError& e) {
    throw Napi::RangeError::New(env, std::string("deepconv native: ") + e.what());
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("deepconv native: ") + e.what());
  }
}

}  // namespace deepconv
