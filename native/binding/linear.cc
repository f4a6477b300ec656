// linearForward(N, D, M, out, x, w, b, async?)
// linearBackward(N, D, M, dx, dw, db, dout, x, w, async?)
#include "common.h"
#include "deepconv/cpu.h"

namespace deepconv {
namespace {

template <typename T>
Napi::Value linearForward_t(Args& a) {
  const int64_t N = a.integer("N"), D = a.integer("D"), M = a.integer("M");
  T* out = a.out<T>("out", checked_product({N, M}, "out"));
  const T* x = a.in<T>("x", checked_product({N, D}, "x"));
  const T* w = a.in<T>("w", checked_product({D, M}, "w"));
  const T* b = a.in<T>("b", M);
  return run<T>(a, [=] { cpu::linear_forward<T>(out, x, w, b, N, D, M); },
                [=](auto& ctx) { cuda::linear_forward(ctx, out, x, w, b, N, D, M); });
}
DEEPCONV_DISPATCH(linearForward)

template <typename T>
Napi::Value linearBackward_t(Args& a) {
  const int64_t N = a.integer("N"), D = a.integer("D"), M = a.integer("M");
  T* dx = a.out<T>("dx", checked_product({N, D}, "dx"));
  T* dw = a.out<T>("dw", checked_product({D, M}, "dw"));
  T* db = a.out<T>("db", M);
  const T* dout = a.in<T>("dout", checked_product({N, M}, "dout"));
  const T* x = a.in<T>("x", checked_product({N, D}, "x"));
  const T* w = a.in<T>("w", checked_product({D, M}, "w"));
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
