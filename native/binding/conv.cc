// convForward(N, C, H, W, F, HH, WW, stride, pad, naive, out, x, w, b, async?)
// convBackward(N, C, H, W, F, HH, WW, stride, pad, naive, needDx, dx, dw, db, dout, x, w, async?)
// With needDx false, dx must be empty and only dw, db are computed.
#include "common.h"
#include "deepconv/cpu.h"

namespace deepconv {
namespace {

constexpr int64_t kMaxWorkspace = int64_t(1) << 28;

cpu::ConvShape conv_shape(Args& a) {
  cpu::ConvShape s{};
  s.N = a.integer("N");
  s.C = a.integer("C");
  s.H = a.integer("H");
  s.W = a.integer("W");
  s.F = a.integer("F");
  s.HH = a.integer("HH");
  s.WW = a.integer("WW");
  s.stride = a.integer("stride");
  s.pad = a.integer("pad", 0, 1 << 20);
  const int64_t h = s.H + 2 * s.pad - s.HH, w = s.W + 2 * s.pad - s.WW;
  if (h < 0 || w < 0 || h % s.stride != 0 || w % s.stride != 0) {
    throw ArgRangeError("convolution output size is not a positive whole number");
  }
  s.Ho = 1 + h / s.stride;
  s.Wo = 1 + w / s.stride;
  // One image's im2col panel; past this the workspace would not be allocatable anyway.
  if (checked_product({s.C, s.HH, s.WW, s.Ho, s.Wo}, "im2col workspace") > kMaxWorkspace) {
    throw ArgRangeError("convolution im2col workspace C*HH*WW*Ho*Wo exceeds 2^28 elements");
  }
  return s;
}

template <typename T>
Napi::Value convForward_t(Args& a) {
  const cpu::ConvShape s = conv_shape(a);
  const bool naive = a.boolean("naive");
  T* out = a.out<T>("out", checked_product({s.N, s.F, s.Ho, s.Wo}, "out"));
  const T* x = a.in<T>("x", checked_product({s.N, s.C, s.H, s.W}, "x"));
  const T* w = a.in<T>("w", checked_product({s.F, s.C, s.HH, s.WW}, "w"));
  const T* b = a.in<T>("b", s.F);
  if (naive && a.on_cuda()) throw ArgRangeError("the naive convolution runs on the CPU only");
  return run<T>(a, [=] { (naive ? cpu::conv_forward_naive<T> : cpu::conv_forward<T>)(out, x, w, b, s); },
                [=](auto& ctx) { cuda::conv_forward(ctx, out, x, w, b, s); });
}
DEEPCONV_DISPATCH(convForward)

template <typename T>
Napi::Value convBackward_t(Args& a) {
  const cpu::ConvShape s = conv_shape(a);
  const bool naive = a.boolean("naive");
  const bool need_dx = a.boolean("needDx");
  if (naive && !need_dx) throw ArgRangeError("the naive convolution always computes dx");
  T* dx = a.out<T>("dx", need_dx ? checked_product({s.N, s.C, s.H, s.W}, "dx") : 0);
  T* dw = a.out<T>("dw", checked_product({s.F, s.C, s.HH, s.WW}, "dw"));
  T* db = a.out<T>("db", s.F);
  const T* dout = a.in<T>("dout", checked_product({s.N, s.F, s.Ho, s.Wo}, "dout"));
  const T* x = a.in<T>("x", checked_product({s.N, s.C, s.H, s.W}, "x"));
  const T* w = a.in<T>("w", checked_product({s.F, s.C, s.HH, s.WW}, "w"));
  if (naive && a.on_cuda()) throw ArgRangeError("the naive convolution runs on the CPU only");
  return run<T>(a, [=] { (naive ? cpu::conv_backward_naive<T> : cpu::conv_backward<T>)(dx, dw, db, dout, x, w, s); },
                [=](auto& ctx) { cuda::conv_backward(ctx, dx, dw, db, dout, x, w, s); });
}
DEEPCONV_DISPATCH(convBackward)

}  // namespace

void register_conv(Napi::Env env, Napi::Object exports) {
  exports.Set("convForward", Napi::Function::New(env, convForward));
  exports.Set("convBackward", Napi::Function::New(env, convBackward));
}

}  // namespace deepconv
