// Max pooling on the GPU. Forward: one thread per output, first maximum wins (a NaN propagates),
// as the CPU. Backward is a gather: one thread per input pixel sums dout over the windows that
// contain it and whose argmax names it, in the CPU's window order: no atomics, bit-identical.
#include "common.cuh"

namespace deepconv {
namespace cuda {
namespace {

template <typename Idx>
struct PoolDims {
  Idx H, W, ph, pw, stride, Ho, Wo;
  explicit PoolDims(const PoolShape& s)
      : H(Idx(s.H)), W(Idx(s.W)), ph(Idx(s.ph)), pw(Idx(s.pw)), stride(Idx(s.stride)), Ho(Idx(s.Ho)),
        Wo(Idx(s.Wo)) {}
};

template <typename Idx>
__global__ void maxpool_forward_kernel(float* __restrict__ out, int32_t* __restrict__ argmax,
                                       const float* __restrict__ x, PoolDims<Idx> d, Idx total) {
  const Idx P = d.Ho * d.Wo;
  for (Idx i = Idx(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += Idx(gridDim.x) * blockDim.x) {
    const Idx pl = i / P, p = i % P, oh = p / d.Wo, ow = p % d.Wo;
    const float* xp = x + pl * d.H * d.W;
    const Idx h0 = oh * d.stride, w0 = ow * d.stride;
    Idx best = h0 * d.W + w0;
    float m = xp[best];
    for (Idx a = 0; a < d.ph; ++a)
      for (Idx b = 0; b < d.pw; ++b) {
        const Idx idx = (h0 + a) * d.W + w0 + b;
        const float v = xp[idx];
        if (v > m || v != v) {  // first maximum wins; a NaN wins (as on the CPU)
          m = v;
          best = idx;
        }
      }
    out[i] = m;
    argmax[i] = int32_t(best);
  }
}

template <typename Idx>
__global__ void maxpool_backward_kernel(float* __restrict__ dx, const float* __restrict__ dout,
                                        const int32_t* __restrict__ argmax, PoolDims<Idx> d, Idx total) {
  const Idx HW = d.H * d.W, P = d.Ho * d.Wo;
  for (Idx i = Idx(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += Idx(gridDim.x) * blockDim.x) {
    const Idx pl = i / HW, q = i % HW, h = q / d.W, w = q % d.W;
    // Windows oh with oh*stride <= h < oh*stride + ph, likewise ow.
    const Idx oh_lo = h < d.ph ? 0 : (h - d.ph) / d.stride + 1, oh_hi = min(h / d.stride, d.Ho - 1);
    const Idx ow_lo = w < d.pw ? 0 : (w - d.pw) / d.stride + 1, ow_hi = min(w / d.stride, d.Wo - 1);
    const float* g = dout + pl * P;
    const int32_t* ap = argmax + pl * P;
    float sum = 0.0f;
    for (Idx oh = oh_lo; oh <= oh_hi; ++oh)
      for (Idx ow = ow_lo; ow <= ow_hi; ++ow) {
        const Idx p = oh * d.Wo + ow;
        if (Idx(ap[p]) == q) sum += g[p];
      }
    dx[i] = sum;
  }
}

}  // namespace

void maxpool_forward(Context& ctx, float* out, int32_t* argmax, const float* x, const PoolShape& s) {
  const int64_t total = s.N * s.C * s.Ho * s.Wo;
  if (total == 0) return;
  ctx.activate();
  if (detail::fits_int32(s.N * s.C * s.H * s.W)) {
    maxpool_forward_kernel<int32_t><<<detail::grid_for(total), detail::kThreads, 0, ctx.stream()>>>(
        out, argmax, x, PoolDims<int32_t>(s), int32_t(total));
  } else {
    maxpool_forward_kernel<int64_t><<<detail::grid_for(total), detail::kThreads, 0, ctx.stream()>>>(
        out, argmax, x, PoolDims<int64_t>(s), total);
  }
  DEEPCONV_LAUNCH_CHECK("maxpool_forward_kernel");
}

void maxpool_backward(Context& ctx, float* dx, const float* dout, const int32_t* argmax, const PoolShape& s) {
  const int64_t total = s.N * s.C * s.H * s.W;
  if (total == 0) return;
  ctx.activate();
  if (s.Ho <= 0 || s.Wo <= 0) {
    ctx.fill_zero(dx, size_t(total) * sizeof(float));
    return;
  }
  if (detail::fits_int32(total)) {
    maxpool_backward_kernel<int32_t><<<detail::grid_for(total), detail::kThreads, 0, ctx.stream()>>>(
        dx, dout, argmax, PoolDims<int32_t>(s), int32_t(total));
  } else {
    maxpool_backward_kernel<int64_t><<<detail::grid_for(total), detail::kThreads, 0, ctx.stream()>>>(
        dx, dout, argmax, PoolDims<int64_t>(s), total);
  }
  DEEPCONV_LAUNCH_CHECK("maxpool_backward_kernel");
}

}  // namespace cuda
}  // namespace deepconv
