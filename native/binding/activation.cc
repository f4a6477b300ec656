// reluForward(n, out, x, async?)          reluBackward(n, dx, dout, x, async?)
// dropoutForward(n, p, seed, out, mask, x, async?)   dropoutBackward(n, dx, dout, mask, async?)
#include "common.h"
#include "deepconv/cpu.h"

namespace deepconv {
namespace {

template <typename T>
Napi::Value reluForward_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  T* out = a.out<T>("out", n);
  const T* x = a.in<T>("x", n);
  return run<T>(a, [=] { cpu::relu_forward<T>(out, x, n); }, [=](auto& ctx) { cuda::relu_forward(ctx, out, x, n); });
}
DEEPCONV_DISPATCH(reluForward)

template <typename T>
Napi::Value reluBackward_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  T* dx = a.out<T>("dx", n);
  const T* dout = a.in<T>("dout", n);
  const T* x = a.in<T>("x", n);
  return run<T>(a, [=] { cpu::relu_backward<T>(dx, dout, x, n); },
                [=](auto& ctx) { cuda::relu_backward(ctx, dx, dout, x, n); });
}
DEEPCONV_DISPATCH(reluBackward)

template <typename T>
Napi::Value dropoutForward_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  const double p = a.number("p");
  if (!(p > 0 && p <= 1)) throw ArgRangeError("p must be in (0, 1]");
  const uint64_t seed = uint64_t(a.integer("seed", 0, (int64_t(1) << 53)));
  T* out = a.out<T>("out", n);
  T* mask = a.out<T>("mask", n);
  const T* x = a.in<T>("x", n);
  return run<T>(a, [=] { cpu::dropout_forward<T>(out, mask, x, n, p, seed); },
                [=](auto& ctx) { cuda::dropout_forward(ctx, out, mask, x, n, p, seed); });
}
DEEPCONV_DISPATCH(dropoutForward)

template <typename T>
Napi::Value dropoutBackward_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  T* dx = a.out<T>("dx", n);
  const T* dout = a.in<T>("dout", n);
  const T* mask = a.in<T>("mask", n);
  return run<T>(a, [=] { cpu::dropout_backward<T>(dx, dout, mask, n); },
                [=](auto& ctx) { cuda::dropout_backward(ctx, dx, dout, mask, n); });
}
DEEPCONV_DISPATCH(dropoutBackward)

}  // namespace

void register_activation(Napi::Env env, Napi::Object exports) {
  exports.Set("reluForward", Napi::Function::New(env, reluForward));
  exports.Set("reluBackward", Napi::Function::New(env, reluBackward));
  exports.Set("dropoutForward", Napi::Function::New(env, dropoutForward));
  exports.Set("dropoutBackward", Napi::Function::New(env, dropoutBackward));
}

}  // namespace deepconv
