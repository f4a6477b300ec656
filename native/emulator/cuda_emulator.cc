// A host "CUDA emulator": every function and Context member of deepconv/cuda.h, implemented on
// the CPU with no CUDA header, toolkit or device. It exists so that the Node side of the CUDA
// path (device tensors, dispatch between the backends, the bindings' staging and error handling)
// can be built with DEEPCONV_WITH_CUDA and tested in CI on machines without a GPU:
//
//   cmake -DDEEPCONV_CUDA_EMULATOR=ON  (scripts/build-emulator.js: the addon into build-emulator/)
//
// What differs from the real backend (native/cuda):
//   - "device memory" is host memory: alloc() returns 64-byte aligned host blocks, and upload,
//     download and copy are memcpy. Fresh alloc/scratch/aux memory is filled with 0xFF bytes (a
//     NaN in every float and double) so that an output a kernel forgets to write shows in tests.
//   - every call is synchronous: the work is done when the call returns; there is no stream
//     (stream() and blas() are null), activate() and synchronize() do nothing.
//   - one emulated device: device_count() is 1 and Context(d) throws for any other d.
//   - the kernels are the float instantiation of the matching deepconv::cpu kernel, passed straight
//     through (cpu.h and cuda.h share one contract), so results are the CPU's bit for bit where a
//     GPU's differ by rounding (cuBLAS and the CUDA reductions sum in other orders).
//
// Never part of a release build: binding.gyp does not list it, and the CMake option that builds
// it cannot be combined with DEEPCONV_CUDA.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "deepconv/cpu.h"
#include "deepconv/cuda.h"

namespace deepconv {
namespace cuda {
namespace {

constexpr size_t kAlign = 64;
constexpr unsigned char kPoison = 0xFF;  // every float / double of 0xFF bytes is a NaN

// The real backend's error text, "file:line: call: cudaErrorX: description".
[[noreturn]] void throw_cuda(const char* what, const char* name, const char* text, int line) {
  throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(line) + ": " + what + ": " + name + ": " +
                           text);
}

// 64-byte aligned host block of at least `bytes` (1 for 0, as cudaMalloc), filled with 0xFF.
void* host_alloc(size_t bytes, const char* what, int line) {
  const size_t want = std::max<size_t>(bytes, 1);
  if (want > std::numeric_limits<size_t>::max() - kAlign)
    throw_cuda(what, "cudaErrorMemoryAllocation", "out of memory", line);
  const size_t rounded = (want + kAlign - 1) / kAlign * kAlign;  // aligned_alloc wants a multiple
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) throw_cuda(what, "cudaErrorMemoryAllocation", "out of memory", line);
  std::memset(p, kPoison, rounded);
  return p;
}

// cuBLAS takes int sizes: the real gemm throws std::invalid_argument for what does not fit.
void check_int(int64_t v, const char* name) {
  if (v < 0 || v > int64_t(std::numeric_limits<int>::max()))
    throw std::invalid_argument(std::string("deepconv::cuda::gemm: ") + name + " = " + std::to_string(v) +
                                " does not fit cuBLAS's int");
}

void check_gemm_sizes(int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc) {
  check_int(N, "N");
  check_int(M, "M");
  check_int(K, "K");
  check_int(ldb, "ldb");
  check_int(lda, "lda");
  check_int(ldc, "ldc");
}

}  // namespace

int device_count() { return 1; }

// ---- Context

// No stream, cuBLAS handle or cuBLAS workspace: stream_, blas_ and blas_workspace_ stay null.
Context::Context(int device) : device_(device) {
  if (device != 0) throw_cuda("cudaSetDevice(device)", "cudaErrorInvalidDevice", "invalid device ordinal", __LINE__);
}

Context::~Context() {
  std::free(scratch_);
  std::free(aux_);
}

void Context::activate() const {}

void Context::synchronize() const {}

namespace {
// Replaces host buffer p (have bytes) with one of want bytes, as context.cu's regrow.
void regrow(void*& p, size_t& have, size_t want, const char* what, int line) {
  std::free(p);
  p = nullptr;
  have = 0;
  p = host_alloc(want, what, line);
  have = want;
}
}  // namespace

void* Context::scratch(size_t bytes) {
  if (bytes <= scratch_bytes_ && scratch_) return scratch_;
  // As the real one: grow by at least half again, in whole MiB; the old contents are not kept.
  size_t want = std::max(bytes, scratch_bytes_ + scratch_bytes_ / 2);
  want = (want + (size_t(1) << 20) - 1) & ~((size_t(1) << 20) - 1);
  regrow(scratch_, scratch_bytes_, want, "cudaMalloc(&scratch_, want)", __LINE__);
  return scratch_;
}

void* Context::aux(size_t bytes) {
  if (bytes <= aux_bytes_ && aux_) return aux_;
  regrow(aux_, aux_bytes_, std::max<size_t>(bytes, 4096), "cudaMalloc(&aux_, want)", __LINE__);
  return aux_;
}

void* Context::alloc(size_t bytes) { return host_alloc(bytes, "cudaMalloc(&p, bytes > 0 ? bytes : 1)", __LINE__); }

void Context::release(void* p) noexcept { std::free(p); }  // free(nullptr) does nothing

void Context::upload(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

void Context::download(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

void Context::fill_zero(void* dst, size_t bytes) {
  if (bytes) std::memset(dst, 0, bytes);
}

void Context::copy(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memmove(dst, src, bytes);
}

// ---- gemm: cpu::gemm, after the real one's checks (sizes must fit cuBLAS's int).

void gemm(Context&, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  check_gemm_sizes(M, N, K, lda, ldb, ldc);
  cpu::gemm<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_strided_batched(Context&, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                          int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  check_gemm_sizes(M, N, K, lda, ldb, ldc);
  check_int(batch, "batch");
  for (int64_t i = 0; i < batch; ++i)
    cpu::gemm<float>(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta,
                     C + i * stride_c, ldc);
}

// ---- the kernels: straight to their cpu:: twins, whose contract cuda.h shares (sizes >= 1, null dx,
// bad labels, stray argmax indices alike). Only gemm above adds a check: cuBLAS's int sizes.

void im2col(Context&, float* col, const float* x, const ConvShape& s) { cpu::im2col<float>(col, x, s); }
void col2im(Context&, float* dx, const float* col, const ConvShape& s) { cpu::col2im<float>(dx, col, s); }
void conv_forward(Context&, float* out, const float* x, const float* w, const float* b, const ConvShape& s) {
  cpu::conv_forward<float>(out, x, w, b, s);
}
void conv_backward(Context&, float* dx, float* dw, float* db, const float* dout, const float* x, const float* w,
                   const ConvShape& s) {
  cpu::conv_backward<float>(dx, dw, db, dout, x, w, s);
}

void maxpool_forward(Context&, float* out, int32_t* argmax, const float* x, const PoolShape& s) {
  cpu::maxpool_forward<float>(out, argmax, x, s);
}
void maxpool_backward(Context&, float* dx, const float* dout, const int32_t* argmax, const PoolShape& s) {
  cpu::maxpool_backward<float>(dx, dout, argmax, s);
}

void relu_forward(Context&, float* out, const float* x, int64_t n) { cpu::relu_forward<float>(out, x, n); }
void relu_backward(Context&, float* dx, const float* dout, const float* x, int64_t n) {
  cpu::relu_backward<float>(dx, dout, x, n);
}
void dropout_forward(Context&, float* out, float* mask, const float* x, int64_t n, double p, uint64_t seed) {
  cpu::dropout_forward<float>(out, mask, x, n, p, seed);
}
void dropout_backward(Context&, float* dx, const float* dout, const float* mask, int64_t n) {
  cpu::dropout_backward<float>(dx, dout, mask, n);
}

void linear_forward(Context&, float* out, const float* x, const float* w, const float* b, int64_t N, int64_t D,
                    int64_t M) {
  cpu::linear_forward<float>(out, x, w, b, N, D, M);
}
void linear_backward(Context&, float* dx, float* dw, float* db, const float* dout, const float* x, const float* w,
                     int64_t N, int64_t D, int64_t M) {
  cpu::linear_backward<float>(dx, dw, db, dout, x, w, N, D, M);
}

void batchnorm_forward_train(Context&, float* out, float* mean, float* rstd, float* running_mean,
                             float* running_var, const float* x, const float* gamma, const float* beta, int64_t N,
                             int64_t D, int64_t S, double eps, double momentum, bool relu) {
  cpu::batchnorm_forward_train<float>(out, mean, rstd, running_mean, running_var, x, gamma, beta, N, D, S, eps,
                                      momentum, relu);
}
void batchnorm_forward_test(Context&, float* out, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, int64_t N, int64_t D, int64_t S,
                            double eps, bool relu) {
  cpu::batchnorm_forward_test<float>(out, x, gamma, beta, running_mean, running_var, N, D, S, eps, relu);
}
void batchnorm_backward(Context&, float* dx, float* dgamma, float* dbeta, const float* dout, const float* x,
                        const float* gamma, const float* mean, const float* rstd, int64_t N, int64_t D, int64_t S) {
  cpu::batchnorm_backward<float>(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, N, D, S);
}
void batchnorm_backward_alt(Context&, float* dx, float* dgamma, float* dbeta, const float* dout, const float* x,
                            const float* gamma, const float* mean, const float* rstd, const float* relu_out,
                            int64_t N, int64_t D, int64_t S) {
  cpu::batchnorm_backward_alt<float>(dx, dgamma, dbeta, dout, x, gamma, mean, rstd, relu_out, N, D, S);
}

// *loss is host memory here: the bindings' aux "device" buffer.
void softmax_loss(Context&, double* loss, float* dx, const float* scores, const int32_t* y, int64_t N, int64_t C,
                  double smoothing) {
  cpu::softmax_loss<float>(loss, dx, scores, y, N, C, smoothing);
}
void svm_loss(Context&, double* loss, float* dx, const float* scores, const int32_t* y, int64_t N, int64_t C) {
  cpu::svm_loss<float>(loss, dx, scores, y, N, C);
}

void sgd_update(Context&, float* w, const float* dw, int64_t n, double lr) { cpu::sgd_update<float>(w, dw, n, lr); }
void sgd_momentum_update(Context&, float* w, float* v, const float* dw, int64_t n, double lr, double momentum) {
  cpu::sgd_momentum_update<float>(w, v, dw, n, lr, momentum);
}
void nesterov_update(Context&, float* w, float* v, const float* dw, int64_t n, double lr, double momentum) {
  cpu::nesterov_update<float>(w, v, dw, n, lr, momentum);
}
void ema_update(Context&, float* avg, const float* w, int64_t n, double decay) { cpu::ema_update<float>(avg, w, n, decay); }
void rmsprop_update(Context&, float* w, float* cache, const float* dw, int64_t n, double lr, double decay,
                    double eps) {
  cpu::rmsprop_update<float>(w, cache, dw, n, lr, decay, eps);
}
void l2_penalty(Context&, double* sum_sq, float* dw, const float* w, int64_t n, double reg) {
  cpu::l2_penalty<float>(sum_sq, dw, w, n, reg);
}
void adam_update(Context&, float* w, float* m, float* v, const float* dw, int64_t n, double lr, double beta1,
                 double beta2, double eps, int64_t t) {
  cpu::adam_update<float>(w, m, v, dw, n, lr, beta1, beta2, eps, t);
}

}  // namespace cuda
}  // namespace deepconv
