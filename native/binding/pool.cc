// maxpoolForward(N, C, H, W, ph, pw, stride, out, argmax, x, async?)
// maxpoolBackward(N, C, H, W, ph, pw, stride, dx, dout, argmax, async?)
// Output size 1 + floor((H - ph) / stride).
#include "common.h"
#include "deepconv/cpu.h"

namespace deepconv {
namespace {

cpu::PoolShape pool_shape(Args& a) {
  cpu::PoolShape s{};
  s.N = a.integer("N");
  s.C = a.integer("C");
  s.H = a.integer("H", 1, 1 << 30);
  s.W = a.integer("W", 1, 1 << 30);
  s.ph = a.integer("poolHeight");
  s.pw = a.integer("poolWidth");
  s.stride = a.integer("stride");
  if (s.ph > s.H || s.pw > s.W) throw ArgRangeError("pooling window is larger than the input");
  s.Ho = 1 + (s.H - s.ph) / s.stride;
  s.Wo = 1 + (s.W - s.pw) / s.stride;
  return s;
}

template <typename T>
Napi::Value maxpoolForward_t(Args& a) {
  const cpu::PoolShape s = pool_shape(a);
  const int64_t out_n = checked_product({s.N, s.C, s.Ho, s.Wo}, "out");
  T* out = a.out<T>("out", out_n);
  int32_t* argmax = a.out<int32_t>("argmax", out_n);
  const T* x = a.in<T>("x", checked_product({s.N, s.C, s.H, s.W}, "x"));
  return run<T>(a, [=] { cpu::maxpool_forward<T>(out, argmax, x, s); },
                [=](auto& ctx) { cuda::maxpool_forward(ctx, out, argmax, x, s); });
}
DEEPCONV_DISPATCH(maxpoolForward)

template <typename T>
Napi::Value maxpoolBackward_t(Args& a) {
  const cpu::PoolShape s = pool_shape(a);
  const int64_t out_n = checked_product({s.N, s.C, s.Ho, s.Wo}, "dout");
  T* dx = a.out<T>("dx", checked_product({s.N, s.C, s.H, s.W}, "dx"));
  const T* dout = a.in<T>("dout", out_n);
  const int32_t* argmax = a.in<int32_t>("argmax", out_n);
  return run<T>(a, [=] { cpu::maxpool_backward<T>(dx, dout, argmax, s); },
                [=](auto& ctx) { cuda::maxpool_backward(ctx, dx, dout, argmax, s); });
}
DEEPCONV_DISPATCH(maxpoolBackward)

}  // namespace

void register_pool(Napi::Env env, Napi::Object exports) {
  exports.Set("maxpoolForward", Napi::Function::New(env, maxpoolForward));
  exports.Set("maxpoolBackward", Napi::Function::New(env, maxpoolBackward));
}

}  // namespace deepconv
