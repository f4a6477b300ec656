// In-place optimizer steps over n elements:
// sgdUpdate(n, lr, w, dw, async?)
// sgdMomentumUpdate(n, lr, momentum, w, v, dw, async?)
// nesterovUpdate(n, lr, momentum, w, v, dw, async?)
// emaUpdate(n, decay, avg, w, async?)
// rmspropUpdate(n, lr, decay, eps, w, cache, dw, async?)
// adamUpdate(n, lr, beta1, beta2, eps, t, w, m, v, dw, async?)
// l2Penalty(n, reg, dw, w, sumSq, async?): dw += 2 reg w; sumSq[0] = sum(w^2)
#include "common.h"
#include "deepconv/cpu.h"

namespace deepconv {
namespace {

template <typename T>
Napi::Value sgdUpdate_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  const double lr = a.number("learningRate");
  T* w = a.out<T>("w", n);
  const T* dw = a.in<T>("dw", n);
  return run<T>(a, [=] { cpu::sgd_update<T>(w, dw, n, lr); }, [=](auto& ctx) { cuda::sgd_update(ctx, w, dw, n, lr); });
}
DEEPCONV_DISPATCH(sgdUpdate)

// sgdMomentumUpdate and nesterovUpdate: the same arguments and state, two steps.
template <typename T, bool Nesterov>
Napi::Value momentumUpdate(Args& a) {
  const int64_t n = a.integer("n", 0);
  const double lr = a.number("learningRate"), momentum = a.number("momentum");
  T* w = a.out<T>("w", n);
  T* v = a.out<T>("velocity", n);
  const T* dw = a.in<T>("dw", n);
  if constexpr (Nesterov) {
    return run<T>(a, [=] { cpu::nesterov_update<T>(w, v, dw, n, lr, momentum); },
                  [=](auto& ctx) { cuda::nesterov_update(ctx, w, v, dw, n, lr, momentum); });
  }
  return run<T>(a, [=] { cpu::sgd_momentum_update<T>(w, v, dw, n, lr, momentum); },
                [=](auto& ctx) { cuda::sgd_momentum_update(ctx, w, v, dw, n, lr, momentum); });
}

template <typename T>
Napi::Value sgdMomentumUpdate_t(Args& a) {
  return momentumUpdate<T, false>(a);
}
DEEPCONV_DISPATCH(sgdMomentumUpdate)

template <typename T>
Napi::Value nesterovUpdate_t(Args& a) {
  return momentumUpdate<T, true>(a);
}
DEEPCONV_DISPATCH(nesterovUpdate)

template <typename T>
Napi::Value emaUpdate_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  const double decay = a.number("decay");
  T* avg = a.out<T>("avg", n);
  const T* w = a.in<T>("w", n);
  return run<T>(a, [=] { cpu::ema_update<T>(avg, w, n, decay); }, [=](auto& ctx) { cuda::ema_update(ctx, avg, w, n, decay); });
}
DEEPCONV_DISPATCH(emaUpdate)

template <typename T>
Napi::Value rmspropUpdate_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  const double lr = a.number("learningRate"), decay = a.number("decayRate"), eps = a.number("epsilon");
  T* w = a.out<T>("w", n);
  T* cache = a.out<T>("cache", n);
  const T* dw = a.in<T>("dw", n);
  return run<T>(a, [=] { cpu::rmsprop_update<T>(w, cache, dw, n, lr, decay, eps); },
                [=](auto& ctx) { cuda::rmsprop_update(ctx, w, cache, dw, n, lr, decay, eps); });
}
DEEPCONV_DISPATCH(rmspropUpdate)

template <typename T>
Napi::Value adamUpdate_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  const double lr = a.number("learningRate"), b1 = a.number("beta1"), b2 = a.number("beta2"),
               eps = a.number("epsilon");
  const int64_t t = a.integer("t");
  T* w = a.out<T>("w", n);
  T* m = a.out<T>("m", n);
  T* v = a.out<T>("v", n);
  const T* dw = a.in<T>("dw", n);
  return run<T>(a, [=] { cpu::adam_update<T>(w, m, v, dw, n, lr, b1, b2, eps, t); },
                [=](auto& ctx) { cuda::adam_update(ctx, w, m, v, dw, n, lr, b1, b2, eps, t); });
}
DEEPCONV_DISPATCH(adamUpdate)

// sumSq is a host Float64Array(1) on either device (the GPU result is copied down).
template <typename T>
Napi::Value l2Penalty_t(Args& a) {
  const int64_t n = a.integer("n", 0);
  const double reg = a.number("reg");
  T* dw = a.out<T>("dw", n);
  const T* w = a.in<T>("w", n);
  double* sum_sq = a.host_out<double>("sumSq", 1);
  return run<T>(a, [=] { cpu::l2_penalty<T>(sum_sq, dw, w, n, reg); },
                [=](auto& ctx) {
                  auto* dev = static_cast<double*>(ctx.aux(sizeof(double)));
                  cuda::l2_penalty(ctx, dev, dw, w, n, reg);
                  ctx.download(sum_sq, dev, sizeof(double));
                });
}
DEEPCONV_DISPATCH(l2Penalty)

}  // namespace

void register_optim(Napi::Env env, Napi::Object exports) {
  exports.Set("sgdUpdate", Napi::Function::New(env, sgdUpdate));
  exports.Set("sgdMomentumUpdate", Napi::Function::New(env, sgdMomentumUpdate));
  exports.Set("nesterovUpdate", Napi::Function::New(env, nesterovUpdate));
  exports.Set("emaUpdate", Napi::Function::New(env, emaUpdate));
  exports.Set("rmspropUpdate", Napi::Function::New(env, rmspropUpdate));
  exports.Set("adamUpdate", Napi::Function::New(env, adamUpdate));
  exports.Set("l2Penalty", Napi::Function::New(env, l2Penalty));
}

}  // namespace deepconv
