// x viewed as (N, D, S); see native/cpu/batchnorm.cc.
// batchnormForwardTrain(N, D, S, eps, momentum, relu, out, mean, rstd, runningMean, runningVar, x, gamma, beta, async?)
// batchnormForwardTest(N, D, S, eps, relu, out, x, gamma, beta, runningMean, runningVar, async?)
// batchnormBackward(N, D, S, alt, dx, dgamma, dbeta, dout, x, gamma, mean, rstd, async?)
// batchnormReluBackward(N, D, S, dx, dgamma, dbeta, dout, out, x, gamma, mean, rstd, async?): the closed
//   form through a forward with relu, whose output `out` masks dout.
#include "common.h"
#include "deepconv/cpu.h"

namespace deepconv {
namespace {

template <typename T>
Napi::Value batchnormForwardTrain_t(Args& a) {
  const int64_t N = a.integer("N"), D = a.integer("D"), S = a.integer("S");
  const double eps = a.number("eps"), momentum = a.number("momentum");
  const bool relu = a.boolean("relu");
  const int64_t n = checked_product({N, D, S}, "x");
  T* out = a.out<T>("out", n);
  T* mean = a.out<T>("mean", D);
  T* rstd = a.out<T>("rstd", D);
  T* rm = a.out<T>("runningMean", D);
  T* rv = a.out<T>("runningVar", D);
  const T* x = a.in<T>("x", n);
  const T* gamma = a.in<T>("gamma", D);
  const T* beta = a.in<T>("beta", D);
  return run<T>(
      a, [=] { cpu::batchnorm_forward_train<T>(out, mean, rstd, rm, rv, x, gamma, beta, N, D, S, eps, momentum, relu); },
      [=](auto& ctx) {
        cuda::batchnorm_forward_train(ctx, out, mean, rstd, rm, rv, x, gamma, beta, N, D, S, eps, momentum, relu);
      });
}
DEEPCONV_DISPATCH(batchnormForwardTrain)

template <typename T>
Napi::Value batchnormForwardTest_t(Args& a) {
  const int64_t N = a.integer("N"), D = a.integer("D"), S = a.integer("S");
  const double eps = a.number("eps");
  const bool relu = a.boolean("relu");
  const int64_t n = checked_product({N, D, S}, "x");
  T* out = a.out<T>("out", n);
  const T* x = a.in<T>("x", n);
  const T* gamma = a.in<T>("gamma", D);
  const T* beta = a.in<T>("beta", D);
  const T* rm = a.in<T>("runningMean", D);
  const T* rv = a.in<T>("runningVar", D);
  return run<T>(a, [=] { cpu::batchnorm_forward_test<T>(out, x, gamma, beta, rm, rv, N, D, S, eps, relu); },
                [=](auto& ctx) { cuda::batchnorm_forward_test(ctx, out, x, gamma, beta, rm, rv, N, D, S, eps, relu); });
}
DEEPCONV_DISPATCH(batchnormForwardTest)

template <typename T>
Napi::Value batchnormBackward_t(Args& a) {
  const int64_t N = a.integer("N"), D = a.integer("D"), S = a.integer("S");
  const bool alt = a.boolean("alt");
  const int64_t n = checked_product({N, D, S}, "x");
  T* dx = a.out<T>("dx", n);
  T* dgamma = a.out<T>("dgamma", D);
  T* dbeta = a.out<T>("dbeta", D);
  const T* dout = a.in<T>("dout", n);
  const T* x = a.in<T>("x", n);
  const T* gamma = a.in<T>("gamma", D);
  const T* mean = a.in<T>("mean", D);
  const T* rstd = a.in<T>("rstd", D);
  return run<T>(
      a,
      [=] {
        if (alt) {
          cpu::batchnorm_backward_alt<T>(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, nullptr, N, D, S);
        } else {
          cpu::batchnorm_backward<T>(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, N, D, S);
        }
      },
      [=](auto& ctx) {
        if (alt) {
          cuda::batchnorm_backward_alt(ctx, dx, dgamma, dbeta, dout, x, gamma, mean, rstd, nullptr, N, D, S);
        } else {
          cuda::batchnorm_backward(ctx, dx, dgamma, dbeta, dout, x, gamma, mean, rstd, N, D, S);
        }
      });
}
DEEPCONV_DISPATCH(batchnormBackward)

template <typename T>
Napi::Value batchnormReluBackward_t(Args& a) {
  const int64_t N = a.integer("N"), D = a.integer("D"), S = a.integer("S");
  const int64_t n = checked_product({N, D, S}, "x");
  T* dx = a.out<T>("dx", n);
  T* dgamma = a.out<T>("dgamma", D);
  T* dbeta = a.out<T>("dbeta", D);
  const T* dout = a.in<T>("dout", n);
  const T* out = a.in<T>("out", n);
  const T* x = a.in<T>("x", n);
  const T* gamma = a.in<T>("gamma", D);
  const T* mean = a.in<T>("mean", D);
  const T* rstd = a.in<T>("rstd", D);
  return run<T>(
      a, [=] { cpu::batchnorm_backward_alt<T>(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, out, N, D, S); },
      [=](auto& ctx) { cuda::batchnorm_backward_alt(ctx, dx, dgamma, dbeta, dout, x, gamma, mean, rstd, out, N, D, S); });
}
DEEPCONV_DISPATCH(batchnormReluBackward)

}  // namespace

void register_batchnorm(Napi::Env env, Napi::Object exports) {
  exports.Set("batchnormForwardTrain", Napi::Function::New(env, batchnormForwardTrain));
  exports.Set("batchnormForwardTest", Napi::Function::New(env, batchnormForwardTest));
  exports.Set("batchnormBackward", Napi::Function::New(env, batchnormBackward));
  exports.Set("batchnormReluBackward", Napi::Function::New(env, batchnormReluBackward));
}

}  // namespace deepconv
