// linearForward(N, D, M, out, x, w, b, async?)
// linearBackward(N, D, M, dx, dw, db, dout, x, w, async?)
#include "common.h"
#include "deepconv/cpu.h"

namespace deepconv {
namespace {

template <typename T>
Napi::Value linearForward_t(Args& a) {
  const int64_t N = a.integer("N"), D = a.integer("D"), M = a.integer("M");
  T* out = a.buffer<T>("out", checked_product({N, M}, "out"));
  const T* x = a.buffer<T>("x", checked_product({N, D}, "x"));
  const T* w = a.buffer<T>("w", checked_product({D, M}, "w"));
  const T* b = a.buffer<T>("b", M);
  return run<T>(a, [=] { cpu::linear_forward<T>(out, x, w, b, N, D, M); },
                [=](auto& ctx) { cuda::linear_forward(ctx, out, x, w, b, N, D, M); });
}
DEEPCONV_DISPATCH(linearForward)

template <typename T>
Napi::Value linearBackward_t(Args& a) {
  const int64_t N = a.integer("N"), D = a.integer("D"), M = a.integer("M");
  T* dx = a.buffer<T>("dx", checked_product({N, D}, "dx"));
  T* dw = a.buffer<T>("dw", checked_product({D, M}, "dw"));
  T* db = a.buffer<T>("db", M);
  const T* dout = a.buffer<T>("dout", checked_product({N, M}, "dout"));
  const T* x = a.buffer<T>("x", checked_product({N, D}, "x"));
  const T* w = a.buffer<T>("w", checked_product({D, M}, "w"));
  return run<T>(a, [=] { cpu::linear_backward<T>(dx, dw, db, dout, x, w, N, D, M); },
                [=](auto& ctx) { cuda::linear_backward(ctx, dx, dw, db, dout, x, w, N, D, M); });
}
DEEPCONV_DISPATCH(linearBackward)

}  // namespace

void register_linear(Napi::Env env, Napi::Object exports) {
  exports.Set("linearForward", Napi::Function::New(env, linearForward));
  exports.Set("linearBackward", Napi::Function::New(env, linearBackward));
}

}  // namespace deepconv
