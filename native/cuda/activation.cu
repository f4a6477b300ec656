// Elementwise activations on the GPU: ReLU and inverted dropout. Dropout draws the CPU's
// counter-based numbers (splitmix64 of (seed, i)), so a seed gives the same mask on both backends.
#include "common.cuh"

namespace deepconv {
namespace cuda {
namespace {

__global__ void relu_forward_kernel(float* __restrict__ out, const float* __restrict__ x, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void relu_backward_kernel(float* __restrict__ dx, const float* __restrict__ dout,
                                     const float* __restrict__ x, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = x[i] > 0.0f ? dout[i] : 0.0f;
}

// Exactly native/cpu/activation.cc's uniform01.
__device__ __forceinline__ double uniform01(uint64_t seed, uint64_t i) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return double(z >> 11) * (1.0 / 9007199254740992.0);
}

__global__ void dropout_forward_kernel(float* __restrict__ out, float* __restrict__ mask,
                                       const float* __restrict__ x, int64_t n, double p, float keep,
                                       uint64_t seed) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float m = uniform01(seed, uint64_t(i)) < p ? keep : 0.0f;
    mask[i] = m;
    out[i] = __fmul_rn(x[i], m);
  }
}

__global__ void dropout_backward_kernel(float* __restrict__ dx, const float* __restrict__ dout,
                                        const float* __restrict__ mask, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = __fmul_rn(dout[i], mask[i]);
}

}  // namespace

void relu_forward(Context& ctx, float* out, const float* x, int64_t n) {
  if (n <= 0) return;
  ctx.activate();
  relu_forward_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream()>>>(out, x, n);
  DEEPCONV_LAUNCH_CHECK("relu_forward_kernel");
}

void relu_backward(Context& ctx, float* dx, const float* dout, const float* x, int64_t n) {
  if (n <= 0) return;
  ctx.activate();
  relu_backward_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream()>>>(dx, dout, x, n);
  DEEPCONV_LAUNCH_CHECK("relu_backward_kernel");
}

void dropout_forward(Context& ctx, float* out, float* mask, const float* x, int64_t n, double p, uint64_t seed) {
  if (n <= 0) return;
  ctx.activate();
  const float keep = float(1.0 / p);  // as the CPU: T(1.0 / p)
  dropout_forward_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream()>>>(out, mask, x, n, p, keep,
                                                                                     seed);
  DEEPCONV_LAUNCH_CHECK("dropout_forward_kernel");
}

void dropout_backward(Context& ctx, float* dx, const float* dout, const float* mask, int64_t n) {
  if (n <= 0) return;
  ctx.activate();
  dropout_backward_kernel<<<detail::grid_for(n), detail::kThreads, 0, ctx.stream()>>>(dx, dout, mask, n);
  DEEPCONV_LAUNCH_CHECK("dropout_backward_kernel");
}

}  // namespace cuda
}  // namespace deepconv
