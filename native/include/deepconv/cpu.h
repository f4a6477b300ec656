// CPU kernels, float and double. Argument order follows llm.c: outputs, caches, inputs, sizes.
// Every pointer covers exactly the extent its shape comment gives; the bindings check that, and
// that every size is >= 1 (element counts n may be 0).
// The CUDA backend (native/cuda, cuda.h) has the same names and the same contract, kernel for
// kernel: where a null pointer, a bad label or a stray argmax is allowed here, it is there.
#pragma once

#include <cstdint>

namespace deepconv {
namespace cpu {

// ---- gemm.cc: C = alpha * op(A) @ op(B) + beta * C, row-major.
// op(A) is (M,K): A is (M,K), or (K,M) when trans_a. op(B) is (K,N): B is (K,N), or (N,K).
// C is (M,N). lda/ldb/ldc are row strides.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
// The triple loop, kept as the reference.
template <typename T>
void gemm_naive(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// ---- conv.cc
struct ConvShape {
  int64_t N, C, H, W;  // input
  int64_t F, HH, WW;   // filters
  int64_t stride, pad;
  int64_t Ho, Wo;      // output: 1 + (H + 2 pad - HH) / stride
};
// col is (C*HH*WW, Ho*Wo), x is one image (C,H,W). Zero padding is implicit.
template <typename T>
void im2col(T* col, const T* x, const ConvShape& s);
// dx is one image (C,H,W), col is (C*HH*WW, Ho*Wo). dx is overwritten, not accumulated.
template <typename T>
void col2im(T* dx, const T* col, const ConvShape& s);
// out is (N,F,Ho,Wo), x is (N,C,H,W), w is (F,C,HH,WW), b is (F)
template <typename T>
void conv_forward(T* out, const T* x, const T* w, const T* b, const ConvShape& s);
// dx is (N,C,H,W), dw is (F,C,HH,WW), db is (F), dout is (N,F,Ho,Wo); overwritten.
// dx may be null: then only dw and db are computed.
template <typename T>
void conv_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, const ConvShape& s);
// Direct seven-loop versions, the reference for the two above.
template <typename T>
void conv_forward_naive(T* out, const T* x, const T* w, const T* b, const ConvShape& s);
template <typename T>
void conv_backward_naive(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, const ConvShape& s);

// ---- pool.cc
struct PoolShape {
  int64_t N, C, H, W;
  int64_t ph, pw, stride;
  int64_t Ho, Wo;  // 1 + (H - ph) / stride
};
// out is (N,C,Ho,Wo), argmax is (N,C,Ho,Wo) holding the flat h*W+w index of each max in its plane
template <typename T>
void maxpool_forward(T* out, int32_t* argmax, const T* x, const PoolShape& s);
// dx is (N,C,H,W), overwritten; dout and argmax are (N,C,Ho,Wo). Each dx element sums, in
// window order, dout over the windows that contain it and whose argmax names it: argmax must come
// from maxpool_forward, and an index outside its own window is ignored.
template <typename T>
void maxpool_backward(T* dx, const T* dout, const int32_t* argmax, const PoolShape& s);

// ---- activation.cc (n elements each)
template <typename T>
void relu_forward(T* out, const T* x, int64_t n);
template <typename T>
void relu_backward(T* dx, const T* dout, const T* x, int64_t n);
// Inverted dropout: mask[i] = (u_i < p) / p with u_i a hash of (seed, i); out = x * mask.
template <typename T>
void dropout_forward(T* out, T* mask, const T* x, int64_t n, double p, uint64_t seed);
template <typename T>
void dropout_backward(T* dx, const T* dout, const T* mask, int64_t n);

// ---- linear.cc
// out is (N,M), x is (N,D), w is (D,M), b is (M)
template <typename T>
void linear_forward(T* out, const T* x, const T* w, const T* b, int64_t N, int64_t D, int64_t M);
// dx is (N,D), dw is (D,M), db is (M), dout is (N,M); overwritten. dx may be null.
template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, int64_t N, int64_t D, int64_t M);

// ---- batchnorm.cc. x is viewed as (N,D,S): plain batchnorm has S = 1, spatial batchnorm
// is (N,C,H,W) with D = C and S = H*W. Statistics are per feature d over N*S values.
// out is (N,D,S); mean, rstd are (D) caches; running_mean, running_var are (D), updated in place.
// relu: out = max(normalised, 0) as relu_forward writes it (the sandwich's batchnorm + ReLU in one
// pass; the ReLU's backward is then batchnorm_backward_alt's relu_out).
template <typename T>
void batchnorm_forward_train(T* out, T* mean, T* rstd, T* running_mean, T* running_var, const T* x, const T* gamma,
                             const T* beta, int64_t N, int64_t D, int64_t S, double eps, double momentum, bool relu);
template <typename T>
void batchnorm_forward_test(T* out, const T* x, const T* gamma, const T* beta, const T* running_mean,
                            const T* running_var, int64_t N, int64_t D, int64_t S, double eps, bool relu);
// Backward through the computation graph, stage by stage. dx is (N,D,S); dgamma, dbeta (D)
template <typename T>
void batchnorm_backward(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* gamma, const T* mean,
                        const T* rstd, int64_t N, int64_t D, int64_t S);
// The simplified closed form: dx = rstd/m * (m dxhat - sum dxhat - xhat sum(dxhat xhat)).
// relu_out (N,D,S), or null: the output of a forward with relu, so dout is taken as the gradient
// after that ReLU (zero where relu_out is not positive), as relu_backward would pass it on.
template <typename T>
void batchnorm_backward_alt(T* dx, T* dgamma, T* dbeta, const T* dout, const T* x, const T* gamma, const T* mean,
                            const T* rstd, const T* relu_out, int64_t N, int64_t D, int64_t S);

// ---- loss.cc. scores and dx are (N,C), y is (N) with labels in [0, C). loss is the mean. A label
// outside [0, C) makes that row's dx NaN and the loss NaN (the bindings refuse such labels).
// softmax_loss's smoothing e in [0, 1): the target is (1 - e) one-hot(y) + e / C (label smoothing).
template <typename T>
void softmax_loss(double* loss, T* dx, const T* scores, const int32_t* y, int64_t N, int64_t C, double smoothing);
template <typename T>
void svm_loss(double* loss, T* dx, const T* scores, const int32_t* y, int64_t N, int64_t C);

// ---- optim.cc: in-place parameter updates, n elements each.
template <typename T>
void sgd_update(T* w, const T* dw, int64_t n, double lr);
template <typename T>
void sgd_momentum_update(T* w, T* v, const T* dw, int64_t n, double lr, double momentum);
// v = momentum v - lr dw; w += momentum v - lr dw (Nesterov momentum).
template <typename T>
void nesterov_update(T* w, T* v, const T* dw, int64_t n, double lr, double momentum);
// avg = decay avg + (1 - decay) w: an exponential moving average of weights.
template <typename T>
void ema_update(T* avg, const T* w, int64_t n, double decay);
template <typename T>
void rmsprop_update(T* w, T* cache, const T* dw, int64_t n, double lr, double decay, double eps);
// L2 regularization of one weight: dw += 2 * reg * w, and *sum_sq = sum(w^2) (in double).
template <typename T>
void l2_penalty(double* sum_sq, T* dw, const T* w, int64_t n, double reg);
// t is the step number after incrementing (1 on the first update).
template <typename T>
void adam_update(T* w, T* m, T* v, const T* dw, int64_t n, double lr, double beta1, double beta2, double eps,
                 int64_t t);

// ---- peak.cc: float32 FMA throughput of every thread for about `seconds`, in GFLOP/s;
// *isa names the instruction set used.
double fma_peak_gflops(double seconds, const char** isa);

}  // namespace cpu
}  // namespace deepconv
