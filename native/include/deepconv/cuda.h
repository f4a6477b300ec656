// CUDA kernels, float32. The same families, names, argument order and contract as deepconv::cpu
// (cpu.h): outputs, caches, inputs, sizes, with one extra first argument, the Context the work
// runs on. The host emulator (native/emulator) passes each kernel straight to its cpu:: twin.
// Every pointer is device memory covering exactly the extent its shape comment gives (the
// bindings check the extents); scalars (lr, eps, p, ...) are host values.
//
// Calls are asynchronous: each one enqueues its work on the context's stream and returns.
// Errors throw std::runtime_error ("file:line: call: cudaErrorX: text"): launch and API errors
// from the call itself, and errors of earlier asynchronous work at the next call that notices
// them (Context::synchronize() surfaces them at a point of your choosing).
//
// This header needs no CUDA header: g++-compiled code (the N-API bindings) can include it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "deepconv/cpu.h"  // ConvShape, PoolShape: one definition for both backends

struct CUstream_st;    // cudaStream_t is CUstream_st*
struct cublasContext;  // cublasHandle_t is cublasContext*

namespace deepconv {
namespace cuda {

using cpu::ConvShape;
using cpu::PoolShape;

// Number of usable CUDA devices; 0 (never an exception) without a driver or a device.
int device_count();

// Per-device state: a stream, a cuBLAS handle bound to it, and scratch memory grown on demand
// (im2col columns, reduction partials). Not thread-safe: one thread at a time may call kernels
// with one context (the scratch buffer is shared by every call on it); use one per worker.
class Context {
 public:
  explicit Context(int device = 0);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const { return device_; }
  CUstream_st* stream() const { return stream_; }
  cublasContext* blas() const { return blas_; }

  // Makes this context's device current on the calling thread (every kernel call does it).
  void activate() const;
  // Waits for all work queued on the stream; throws the first asynchronous error.
  void synchronize() const;

  // Device scratch of at least `bytes`, valid until the next scratch() call on this context.
  // Growing it frees the old buffer (cudaFree waits for the device), so steady state allocates
  // nothing.
  void* scratch(size_t bytes);
  size_t scratch_bytes() const { return scratch_bytes_; }

  // Upper bound on conv's im2col scratch; the batch is processed in chunks of images that fit
  // (at least one image per chunk, whatever the bound). Default 256 MiB.
  size_t conv_workspace_limit = size_t(256) << 20;

  // Device memory and copies on this context's stream (copies wait for completion).
  void* alloc(size_t bytes);
  void release(void* p) noexcept;
  void upload(void* dst, const void* src, size_t bytes);
  void download(void* dst, const void* src, size_t bytes);
  void fill_zero(void* dst, size_t bytes);
  // Device-to-device copy, queued on the stream (no wait).
  void copy(void* dst, const void* src, size_t bytes);

  // A second device buffer of at least `bytes`, for the bindings' small staging (labels going up,
  // a scalar result coming down); kernels never use it, so it survives scratch() calls.
  void* aux(size_t bytes);

 private:
  int device_ = 0;
  CUstream_st* stream_ = nullptr;
  cublasContext* blas_ = nullptr;
  void* blas_workspace_ = nullptr;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  void* aux_ = nullptr;
  size_t aux_bytes_ = 0;
};

// ---- gemm.cu: C = alpha * op(A) @ op(B) + beta * C, row-major, as cpu::gemm (cuBLAS sgemm).
void gemm(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// `batch` independent GEMMs; matrix i of A, B, C starts at A + i*stride_a (and so on).
void gemm_strided_batched(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                          int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch);

// ---- conv.cu
// col is (C*HH*WW, Ho*Wo), x is one image (C,H,W). Zero padding is implicit.
void im2col(Context& ctx, float* col, const float* x, const ConvShape& s);
// dx is one image (C,H,W), col is (C*HH*WW, Ho*Wo). Gathers: dx is overwritten, not accumulated.
void col2im(Context& ctx, float* dx, const float* col, const ConvShape& s);
// out is (N,F,Ho,Wo), x is (N,C,H,W), w is (F,C,HH,WW), b is (F)
void conv_forward(Context& ctx, float* out, const float* x, const float* w, const float* b, const ConvShape& s);
// dx is (N,C,H,W), dw is (F,C,HH,WW), db is (F), dout is (N,F,Ho,Wo); overwritten.
// dx may be null (a first layer needs no input gradient).
void conv_backward(Context& ctx, float* dx, float* dw, float* db, const float* dout, const float* x, const float* w,
                   const ConvShape& s);

// ---- pool.cu
// out is (N,C,Ho,Wo), argmax is (N,C,Ho,Wo) holding the flat h*W+w index of each max in its plane
void maxpool_forward(Context& ctx, float* out, int32_t* argmax, const float* x, const PoolShape& s);
// dx is (N,C,H,W), overwritten; dout and argmax are (N,C,Ho,Wo). A gather: each dx element sums,
// in window order, the windows that contain it and whose argmax names it, so argmax must come
// from maxpool_forward (an index outside its own window is ignored, as on the CPU).
void maxpool_backward(Context& ctx, float* dx, const float* dout, const int32_t* argmax, const PoolShape& s);

// ---- activation.cu (n elements each)
void relu_forward(Context& ctx, float* out, const float* x, int64_t n);
void relu_backward(Context& ctx, float* dx, const float* dout, const float* x, int64_t n);
// Inverted dropout with the CPU's counter-based hash: the same (seed, p) gives the same mask bits.
void dropout_forward(Context& ctx, float* out, float* mask, const float* x, int64_t n, double p, uint64_t seed);
void dropout_backward(Context& ctx, float* dx, const float* dout, const float* mask, int64_t n);

// ---- linear.cu
// out is (N,M), x is (N,D), w is (D,M), b is (M)
void linear_forward(Context& ctx, float* out, const float* x, const float* w, const float* b, int64_t N, int64_t D,
                    int64_t M);
// dx is (N,D), dw is (D,M), db is (M), dout is (N,M); overwritten. dx may be null.
void linear_backward(Context& ctx, float* dx, float* dw, float* db, const float* dout, const float* x, const float* w,
                     int64_t N, int64_t D, int64_t M);

// ---- batchnorm.cu: x viewed as (N,D,S), statistics per feature d over N*S values (see cpu.h).
// out is (N,D,S); mean, rstd are (D) caches; running_mean, running_var are (D), updated in place
void batchnorm_forward_train(Context& ctx, float* out, float* mean, float* rstd, float* running_mean,
                             float* running_var, const float* x, const float* gamma, const float* beta, int64_t N,
                             int64_t D, int64_t S, double eps, double momentum, bool relu);
void batchnorm_forward_test(Context& ctx, float* out, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, int64_t N, int64_t D, int64_t S,
                            double eps, bool relu);
// dx is (N,D,S); dgamma, dbeta (D)
void batchnorm_backward(Context& ctx, float* dx, float* dgamma, float* dbeta, const float* dout, const float* x,
                        const float* gamma, const float* mean, const float* rstd, int64_t N, int64_t D, int64_t S);
// relu_out: null, or the output of a forward with relu (cpu.h)
void batchnorm_backward_alt(Context& ctx, float* dx, float* dgamma, float* dbeta, const float* dout, const float* x,
                            const float* gamma, const float* mean, const float* rstd, const float* relu_out,
                            int64_t N, int64_t D, int64_t S);

// ---- loss.cu. scores and dx are (N,C), y is (N) with labels in [0, C); loss is ONE device double,
// the mean. A label outside [0, C) makes that row's dx NaN and the loss NaN (the bindings check y).
// softmax_loss's smoothing e in [0, 1): the target is (1 - e) one-hot(y) + e / C (as cpu.h).
void softmax_loss(Context& ctx, double* loss, float* dx, const float* scores, const int32_t* y, int64_t N,
                  int64_t C, double smoothing);
void svm_loss(Context& ctx, double* loss, float* dx, const float* scores, const int32_t* y, int64_t N, int64_t C);

// ---- optim.cu: in-place parameter updates, n elements each.
void sgd_update(Context& ctx, float* w, const float* dw, int64_t n, double lr);
void sgd_momentum_update(Context& ctx, float* w, float* v, const float* dw, int64_t n, double lr, double momentum);
void nesterov_update(Context& ctx, float* w, float* v, const float* dw, int64_t n, double lr, double momentum);
void ema_update(Context& ctx, float* avg, const float* w, int64_t n, double decay);
void rmsprop_update(Context& ctx, float* w, float* cache, const float* dw, int64_t n, double lr, double decay,
                    double eps);
// L2 regularization of one weight: dw += 2 * reg * w, and *sum_sq (ONE device double) = sum(w^2).
void l2_penalty(Context& ctx, double* sum_sq, float* dw, const float* w, int64_t n, double reg);
// t is the step number after incrementing (1 on the first update).
void adam_update(Context& ctx, float* w, float* m, float* v, const float* dw, int64_t n, double lr, double beta1,
                 double beta2, double eps, int64_t t);

}  // namespace cuda
}  // namespace deepconv
