// In-place optimizer updates on the GPU, the CPU's float arithmetic step for step: products and
// sums use the _rn intrinsics so nvcc cannot fuse them into FMAs, and division and sqrt are IEEE
// (no fast math), so both backends produce the same bits.
#include <cmath>

#include "common.cuh"

namespace deepconv {
namespace cuda {
namespace {

#define DEEPCONV_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__global__ void sgd_kernel(float* __restrict__ w, const float* __restrict__ dw, int64_t n, float lr) {
  DEEPCONV_GRID_STRIDE(i, n) w[i] = __fsub_rn(w[i], __fmul_rn(lr, dw[i]));
}

__global__ void sgd_momentum_kernel(float* __restrict__ w, float* __restrict__ v, const float* __restrict__ dw,
                                    int64_t n, float lr, float momentum) {
  DEEPCONV_GRID_STRIDE(i, n) {
    const float vi = __fsub_rn(__fmul_rn(momentum, v[i]), __fmul_rn(lr, dw[i]));
    v[i] = vi;
    w[i] = __fadd_rn(w[i], vi);
  }
}

__global__ void nesterov_kernel(float* __restrict__ w, float* __restrict__ v, const float* __restrict__ dw,
                                int64_t n, float lr, float momentum) {
  DEEPCONV_GRID_STRIDE(i, n) {
    const float g = __fmul_rn(lr, dw[i]);
    const float vi = __fsub_rn(__fmul_rn(momentum, v[i]), g);
    v[i] = vi;
    w[i] = __fadd_rn(w[i], __fsub_rn(__fmul_rn(momentum, vi), g));
  }
}

__global__ void ema_kernel(float* __restrict__ avg, const float* __restrict__ w, int64_t n, float decay,
                           float one_minus_decay) {
  DEEPCONV_GRID_STRIDE(i, n) avg[i] = __fadd_rn(__fmul_rn(decay, avg[i]), __fmul_rn(one_minus_decay, w[i]));
}

__global__ void rmsprop_kernel(float* __restrict__ w, float* __restrict__ cache, const float* __restrict__ dw,
                               int64_t n, float lr, float decay, float one_minus_decay, float eps) {
  DEEPCONV_GRID_STRIDE(i, n) {
    const float g = dw[i];
    const float c = __fadd_rn(__fmul_rn(decay, cache[i]), __fmul_rn(__fmul_rn(one_minus_decay, g), g));
    cache[i] = c;
    w[i] = __fsub_rn(w[i], __fdiv_rn(__fmul_rn(lr, g), __fadd_rn(__fsqrt_rn(c), eps)));
  }
}

__global__ void adam_kernel(float* __restrict__ w, float* __restrict__ m, float* __restrict__ v,
                            const float* __restrict__ dw, int64_t n, float lr, float beta1, float one_minus_beta1,
                            float beta2, float one_minus_beta2, float eps, float c1, float c2) {
  DEEPCONV_GRID_STRIDE(i, n) {
    const float g = dw[i];
    const float mi = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(one_minus_beta1, g));
    const float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(one_minus_beta2, g), g));
    m[i] = mi;
    v[i] = vi;
    const float mt = __fmul_rn(mi, c1), vt = __fmul_rn(vi, c2);
    w[i] = __fsub_rn(w[i], __fdiv_rn(__fmul_rn(lr, mt), __fadd_rn(__fsqrt_rn(vt), eps)));
  }
}

// Each block sums its grid-stride share of w^2 into partial[blockIdx.x] (fixed tree) and updates dw.
__global__ void l2_partial_kernel(double* __restrict__ partial, float* __restrict__ dw, const float* __restrict__ w,
                                  int64_t n, double reg) {
  double s[1] = {0.0};
  DEEPCONV_GRID_STRIDE(i, n) {
    const double v = double(w[i]);
    s[0] += v * v;
    dw[i] = float(double(dw[i]) + 2 * reg * v);
  }
  detail::block_sum<1>(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// One block adds the partials in a fixed order: deterministic.
__global__ void l2_total_kernel(double* __restrict__ sum_sq, const double* __restrict__ partial, int blocks) {
  double s[1] = {0.0};
  for (int i = threadIdx.x; i < blocks; i += blockDim.x) s[0] += partial[i];
  detail::block_sum<1>(s);
  if (threadIdx.x == 0) *sum_sq = s[0];
}

#undef DEEPCONV_GRID_STRIDE

}  // namespace

void sgd_update(Context& ctx, float* w, const float* dw, int64_t n, double lr) {
  if (n <= 0) return;
  ctx.activate();
  sgd_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream()>>>(w, dw, n, float(lr));
  DEEPCONV_LAUNCH_CHECK("sgd_kernel");
}

void sgd_momentum_update(Context& ctx, float* w, float* v, const float* dw, int64_t n, double lr, double momentum) {
  if (n <= 0) return;
  ctx.activate();
  sgd_momentum_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream()>>>(w, v, dw, n, float(lr),
                                                                                  float(momentum));
  DEEPCONV_LAUNCH_CHECK("sgd_momentum_kernel");
}

void nesterov_update(Context& ctx, float* w, float* v, const float* dw, int64_t n, double lr, double momentum) {
  if (n <= 0) return;
  ctx.activate();
  nesterov_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream()>>>(w, v, dw, n, float(lr), float(momentum));
  DEEPCONV_LAUNCH_CHECK("nesterov_kernel");
}

void ema_update(Context& ctx, float* avg, const float* w, int64_t n, double decay) {
  if (n <= 0) return;
  ctx.activate();
  ema_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream()>>>(avg, w, n, float(decay), float(1 - decay));
  DEEPCONV_LAUNCH_CHECK("ema_kernel");
}

void rmsprop_update(Context& ctx, float* w, float* cache, const float* dw, int64_t n, double lr, double decay,
                    double eps) {
  if (n <= 0) return;
  ctx.activate();
  rmsprop_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream()>>>(w, cache, dw, n, float(lr), float(decay),
                                                                             float(1 - decay), float(eps));
  DEEPCONV_LAUNCH_CHECK("rmsprop_kernel");
}

void l2_penalty(Context& ctx, double* sum_sq, float* dw, const float* w, int64_t n, double reg) {
  ctx.activate();
  const int blocks = int(std::min<unsigned>(detail::grid_for(n), 1024));
  auto* partial = static_cast<double*>(ctx.scratch(sizeof(double) * size_t(blocks)));
  l2_partial_kernel<<<blocks, detail::kThreads, 0, ctx.stream()>>>(partial, dw, w, n, reg);
  DEEPCONV_LAUNCH_CHECK("l2_partial_kernel");
  l2_total_kernel<<<1, detail::kThreads, 0, ctx.stream()>>>(sum_sq, partial, blocks);
  DEEPCONV_LAUNCH_CHECK("l2_total_kernel");
}

void adam_update(Context& ctx, float* w, float* m, float* v, const float* dw, int64_t n, double lr, double beta1,
                 double beta2, double eps, int64_t t) {
  if (n <= 0) return;
  ctx.activate();
  const double c1 = 1.0 / (1.0 - std::pow(beta1, double(t)));  // bias corrections, as the CPU
  const double c2 = 1.0 / (1.0 - std::pow(beta2, double(t)));
  adam_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream()>>>(
      w, m, v, dw, n, float(lr), float(beta1), float(1 - beta1), float(beta2), float(1 - beta2), float(eps),
      float(c1), float(c2));
  DEEPCONV_LAUNCH_CHECK("adam_kernel");
}

}  // namespace cuda
}  // namespace deepconv
