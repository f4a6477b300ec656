// Device memory for JavaScript, and how GPU kernels run.
//
// A CudaBuffer owns one cudaMalloc'd array of float32 or int32 elements. It is freed by
// dispose() or, failing that, when the garbage collector finalizes the object. Buffers are
// recognised by an N-API type tag, not by their prototype, so no other object can pass for one.
//
//   cudaDeviceCount() -> number                 0 without a driver, a device, or a CUDA build
//   isCudaBuffer(v) -> boolean                  by the type tag (false in builds without CUDA)
//   cudaAlloc(kind, n, zero) -> CudaBuffer      kind 'float32' | 'int32'; zero fills with 0
//   cudaUpload(n, dst: CudaBuffer, src: TypedArray, async?)
//   cudaDownload(n, dst: TypedArray, src: CudaBuffer, async?)
//   cudaCopy(n, dst: CudaBuffer, src: CudaBuffer, async?)
//   cudaSynchronize(async?)                     waits for all queued device work
//
// Every call except cudaDeviceCount throws, in a build without CUDA, an error that says how to
// build one.
#include "binding/device.h"

#include <cstdlib>
#include <string>

#include "binding/executor.h"

namespace deepconv {

namespace {
const char* const kNoCuda =
    "this build of the deepconv addon has no CUDA backend. Rebuild it with CUDA: `npm run build:cuda` "
    "in the package folder, or `DEEPCONV_CUDA=1 npm install` (both need nvcc and cuBLAS; see the "
    "README's \"CUDA\" section)";
}  // namespace

std::string device_kind_name(DeviceKind k) { return k == DeviceKind::f32 ? "float32" : "int32"; }

#ifndef DEEPCONV_WITH_CUDA

bool device_buffer(Napi::Env, const Napi::Value&, const char*, void**, DeviceKind*, int64_t*, std::shared_ptr<void>*) {
  return false;
}

std::shared_ptr<DeviceRuntime> device_runtime(Napi::Env) { throw std::runtime_error(kNoCuda); }

namespace {
Napi::Value NoCuda(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), std::string("deepconv: ") + kNoCuda);
}
}  // namespace

void register_device(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaDeviceCount", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return Napi::Value(Napi::Number::New(info.Env(), 0));
              }));
  exports.Set("isCudaBuffer", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return Napi::Value(Napi::Boolean::New(info.Env(), false));
              }));
  for (const char* name : {"cudaAlloc", "cudaUpload", "cudaDownload", "cudaCopy", "cudaSynchronize"}) {
    exports.Set(name, Napi::Function::New(env, NoCuda));
  }
}

#else  // DEEPCONV_WITH_CUDA

namespace {

// Marks objects that are CudaBuffers (napi_type_tag_object, N-API 8).
const napi_type_tag kCudaBufferTag = {0x6465657063f6e763ULL, 0x6375646162756666ULL};
// Passed by cudaAlloc to the constructor so that `new CudaBuffer()` from JavaScript is refused.
int kConstructToken = 0;

class CudaBuffer : public Napi::ObjectWrap<CudaBuffer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CudaBuffer",
                       {InstanceMethod<&CudaBuffer::Dispose>("dispose"),
                        InstanceAccessor<&CudaBuffer::Length>("length"),
                        InstanceAccessor<&CudaBuffer::Kind>("kind"),
                        InstanceAccessor<&CudaBuffer::Disposed>("disposed")});
  }

  explicit CudaBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaBuffer>(info) {
    if (info.Length() != 1 || !info[0].IsExternal() || info[0].As<Napi::External<int>>().Data() != &kConstructToken) {
      throw Napi::TypeError::New(info.Env(),
                                 "CudaBuffer cannot be constructed directly: use Tensor.zeros(shape, 'float32', "
                                 "'cuda') or tensor.toDevice('cuda')");
    }
    napi_status st = napi_type_tag_object(info.Env(), info.This(), &kCudaBufferTag);
    if (st != napi_ok) throw Napi::Error::New(info.Env(), "deepconv native: could not tag a CudaBuffer");
  }

  // Frees the memory once no queued job uses it any more (each holds its own reference to it, and
  // the context waits for the stream's queued work before freeing). Later use is refused.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    disposed = true;
    memory.reset();
    return info.Env().Undefined();
  }

  Napi::Value Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(length)); }
  Napi::Value Kind(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), device_kind_name(kind)); }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed); }

  std::shared_ptr<void> memory;  // the cudaMalloc'd array; its deleter gives it back to the context
  DeviceKind kind = DeviceKind::f32;
  int64_t length = 0;
  bool disposed = false;
};

DeviceKind read_kind(Args& a) {
  const std::string kind = a.string("kind");
  if (kind == "float32") return DeviceKind::f32;
  if (kind == "int32") return DeviceKind::i32;
  throw ArgRangeError("kind must be 'float32' or 'int32', got '" + kind + "'");
}

Napi::Value CudaAlloc(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Args& a) {
    Napi::Env env = info.Env();
    const DeviceKind kind = read_kind(a);
    const int64_t n = a.integer("n", 0, int64_t(1) << 36);
    const bool zero = a.boolean("zero");
    std::shared_ptr<DeviceRuntime> rt = device_runtime(env);
    AddonState& st = state(env);
    Napi::Object obj = st.cuda_buffer_class.New({Napi::External<int>::New(env, &kConstructToken)});
    CudaBuffer* b = CudaBuffer::Unwrap(obj);
    const size_t bytes = size_t(n) * 4;
    {
      std::lock_guard<std::mutex> lock(rt->mu);
      void* p = rt->ctx->alloc(bytes);
      b->memory = std::shared_ptr<void>(p, [rt](void* q) {
        std::lock_guard<std::mutex> l(rt->mu);
        rt->ctx->release(q);  // waits for the stream's queued work first
      });
      if (zero && bytes > 0) rt->ctx->fill_zero(p, bytes);
    }
    b->kind = kind;
    b->length = n;
    return Napi::Value(obj);
  });
}

// The element kind of argument i, if it is a live CudaBuffer (a disposed one is left to the typed
// reader, which names the argument).
bool kind_at(const Napi::CallbackInfo& info, size_t i, DeviceKind* kind) {
  void* p = nullptr;
  int64_t n = 0;
  try {
    return i < info.Length() && device_buffer(info.Env(), info[i], "buffer", &p, kind, &n);
  } catch (const ArgTypeError&) {
    return false;
  }
}

template <typename T>
Napi::Value upload_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  T* dst = a.out<T>("dst", n);
  if (!a.on_cuda()) throw ArgTypeError("dst must be a cuda buffer");
  const T* src = a.host_in<T>("src", n);
  return run_cuda(a, [=](cuda::Context& ctx) { ctx.upload(dst, src, size_t(n) * sizeof(T)); });
}

template <typename T>
Napi::Value download_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  T* dst = a.host_out<T>("dst", n);
  const T* src = a.in<T>("src", n);
  if (!a.on_cuda()) throw ArgTypeError("src must be a cuda buffer");
  return run_cuda(a, [=](cuda::Context& ctx) { ctx.download(dst, src, size_t(n) * sizeof(T)); });
}

template <typename T>
Napi::Value copy_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  T* dst = a.out<T>("dst", n);
  const T* src = a.in<T>("src", n);
  if (!a.on_cuda()) throw ArgTypeError("dst and src must be cuda buffers");
  return run_cuda(a, [=](cuda::Context& ctx) { ctx.copy(dst, src, size_t(n) * sizeof(T)); });
}

// Dispatches on the kind of the CudaBuffer at argument `at` (float32 when it is not one: the
// typed reader then says what was expected).
template <Napi::Value (*F32)(Args&), Napi::Value (*I32)(Args&)>
Napi::Value by_kind(const Napi::CallbackInfo& info, size_t at) {
  return guarded(info, [&](Args& a) {
    DeviceKind k = DeviceKind::f32;
    kind_at(info, at, &k);
    return k == DeviceKind::i32 ? I32(a) : F32(a);
  });
}

Napi::Value CudaUpload(const Napi::CallbackInfo& info) { return by_kind<upload_t<float>, upload_t<int32_t>>(info, 1); }
Napi::Value CudaDownload(const Napi::CallbackInfo& info) {
  return by_kind<download_t<float>, download_t<int32_t>>(info, 2);
}
Napi::Value CudaCopy(const Napi::CallbackInfo& info) { return by_kind<copy_t<float>, copy_t<int32_t>>(info, 1); }

Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Args& a) {
    Napi::Env env = info.Env();
    std::shared_ptr<DeviceRuntime> rt = device_runtime(env);
    auto sync = [rt] { rt->ctx->synchronize(); };
    a.check_arity();
    if (a.async()) return Napi::Value(executor(env).submit(env, [] {}, {}, 1, sync));
    sync();
    return env.Undefined();
  });
}

// isCudaBuffer(v): whether v is a CudaBuffer (live or disposed), by its type tag.
Napi::Value IsCudaBuffer(const Napi::CallbackInfo& info) {
  bool tagged = false;
  if (info.Length() > 0 && info[0].IsObject()) {
    if (napi_check_object_type_tag(info.Env(), info[0], &kCudaBufferTag, &tagged) != napi_ok) tagged = false;
  }
  return Napi::Boolean::New(info.Env(), tagged);
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), cuda::device_count());
}

int device_index() {
  const char* v = std::getenv("DEEPCONV_CUDA_DEVICE");
  return v && *v ? std::atoi(v) : 0;
}

}  // namespace

bool device_buffer(Napi::Env env, const Napi::Value& v, const char* name, void** ptr, DeviceKind* kind,
                   int64_t* length, std::shared_ptr<void>* keep) {
  if (!v.IsObject() || v.IsTypedArray() || v.IsArrayBuffer()) return false;
  bool tagged = false;
  if (napi_check_object_type_tag(env, v, &kCudaBufferTag, &tagged) != napi_ok || !tagged) return false;
  CudaBuffer* b = CudaBuffer::Unwrap(v.As<Napi::Object>());
  if (b == nullptr) return false;
  if (b->disposed || !b->memory) throw ArgTypeError(std::string(name) + " is a disposed cuda buffer");
  *ptr = b->memory.get();
  if (keep) *keep = b->memory;
  *kind = b->kind;
  *length = b->length;
  return true;
}

std::shared_ptr<DeviceRuntime> device_runtime(Napi::Env env) {
  AddonState& st = state(env);
  if (!st.device) {
    const int count = cuda::device_count();
    const int index = device_index();
    if (count < 1) {
      throw std::runtime_error(
          "no CUDA device is usable (cudaGetDeviceCount found none): check the NVIDIA driver "
          "(nvidia-smi) and CUDA_VISIBLE_DEVICES");
    }
    if (index < 0 || index >= count) {
      throw std::runtime_error("DEEPCONV_CUDA_DEVICE=" + std::to_string(index) + " but there are " +
                               std::to_string(count) + " CUDA devices");
    }
    auto rt = std::make_shared<DeviceRuntime>();
    rt->ctx = std::make_unique<cuda::Context>(index);
    st.device = std::move(rt);
  }
  return st.device;
}

Napi::Value run_cuda(Args& args, std::function<void(cuda::Context&)> kernel) {
  args.check_arity();
  Napi::Env env = args.env();
  std::shared_ptr<DeviceRuntime> rt = device_runtime(env);
  auto queue = [rt, kernel] {
    std::lock_guard<std::mutex> lock(rt->mu);
    kernel(*rt->ctx);
  };
  if (args.async()) {
    // The sync runs without the lock: it only waits on the stream.
    return executor(env).submit(env, queue, std::move(args.owned()), state(env).num_threads,
                                [rt] { rt->ctx->synchronize(); });
  }
  queue();
  return env.Undefined();
}

void register_device(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = CudaBuffer::Define(env);
  state(env).cuda_buffer_class = Napi::Persistent(cls);
  exports.Set("CudaBuffer", cls);
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("isCudaBuffer", Napi::Function::New(env, IsCudaBuffer));
  exports.Set("cudaAlloc", Napi::Function::New(env, CudaAlloc));
  exports.Set("cudaUpload", Napi::Function::New(env, CudaUpload));
  exports.Set("cudaDownload", Napi::Function::New(env, CudaDownload));
  exports.Set("cudaCopy", Napi::Function::New(env, CudaCopy));
  exports.Set("cudaSynchronize", Napi::Function::New(env, CudaSynchronize));
}

#endif  // DEEPCONV_WITH_CUDA

}  // namespace deepconv
