// softmaxLoss(N, C, dx, scores, y, loss, async?)   svmLoss(N, C, dx, scores, y, loss, async?)
// loss is a Float64Array(1) that receives the mean loss; y an Int32Array of labels in [0, C).
#include "common.h"
#include "deepconv/cpu.h"

namespace deepconv {
namespace {

template <typename T, bool Softmax>
Napi::Value loss_t(Args& a) {
  const int64_t N = a.integer("N"), C = a.integer("C");
  T* dx = a.buffer<T>("dx", checked_product({N, C}, "dx"));
  const T* scores = a.buffer<T>("scores", checked_product({N, C}, "scores"));
  const int32_t* y = a.buffer<int32_t>("y", N);
  double* loss = a.buffer<double>("loss", 1);  // after dx: the call's dtype is its first float array's
  for (int64_t i = 0; i < N; ++i) {
    if (y[i] < 0 || y[i] >= C) throw ArgRangeError("y[" + std::to_string(i) + "] is out of range");
  }
  return run(a, [=] { (Softmax ? cpu::softmax_loss<T> : cpu::svm_loss<T>)(loss, dx, scores, y, N, C); });
}

template <typename T>
Napi::Value softmaxLoss_t(Args& a) {
  return loss_t<T, true>(a);
}
template <typename T>
Napi::Value svmLoss_t(Args& a) {
  return loss_t<T, false>(a);
}
DEEPCONV_DISPATCH(softmaxLoss)
DEEPCONV_DISPATCH(svmLoss)

}  // namespace

void register_loss(Napi::Env env, Napi::Object exports) {
  exports.Set("softmaxLoss", Napi::Function::New(env, softmaxLoss));
  exports.Set("svmLoss", Napi::Function::New(env, svmLoss));
}

}  // namespace deepconv
