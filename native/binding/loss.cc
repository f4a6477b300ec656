// softmaxLoss(N, C, smoothing, dx, scores, y, loss, async?)   svmLoss(N, C, dx, scores, y, loss, async?)
// smoothing: label smoothing in [0, 1) (the target (1 - e) one-hot + e / C).
// dx and scores: typed arrays or cuda buffers; y and loss stay typed arrays either way.
// loss is a Float64Array(1) that receives the mean loss; y an Int32Array of labels in [0, C).
#include "common.h"
#include "deepconv/cpu.h"

namespace deepconv {
namespace {

template <typename T, bool Softmax>
Napi::Value loss_t(Args& a) {
  const int64_t N = a.integer("N"), C = a.integer("C");
  const double smoothing = Softmax ? a.number("smoothing") : 0.0;
  if (!(smoothing >= 0 && smoothing < 1)) throw ArgRangeError("smoothing must be in [0, 1)");
  T* dx = a.out<T>("dx", checked_product({N, C}, "dx"));
  const T* scores = a.in<T>("scores", checked_product({N, C}, "scores"));
  const int32_t* y = a.host_in<int32_t>("y", N);     // on the host for either device; a copy when async, checked here
  double* loss = a.host_out<double>("loss", 1);  // after dx: the call's dtype is its first float array's
  for (int64_t i = 0; i < N; ++i) {
    if (y[i] < 0 || y[i] >= C) throw ArgRangeError("y[" + std::to_string(i) + "] is out of range");
  }
  return run<T>(
      a,
      [=] {
        if (Softmax) cpu::softmax_loss<T>(loss, dx, scores, y, N, C, smoothing);
        else cpu::svm_loss<T>(loss, dx, scores, y, N, C);
      },
      [=](auto& ctx) {
        // aux: [mean loss (double)][labels (N int32)]; labels go up, the loss comes down.
        auto* dev_loss = static_cast<double*>(ctx.aux(sizeof(double) + sizeof(int32_t) * size_t(N)));
        auto* dev_y = reinterpret_cast<int32_t*>(dev_loss + 1);
        ctx.upload(dev_y, y, sizeof(int32_t) * size_t(N));
        if (Softmax) cuda::softmax_loss(ctx, dev_loss, dx, scores, dev_y, N, C, smoothing);
        else cuda::svm_loss(ctx, dev_loss, dx, scores, dev_y, N, C);
        ctx.download(loss, dev_loss, sizeof(double));
      });
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
