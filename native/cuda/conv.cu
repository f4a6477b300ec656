// Convolution on the GPU: im2col + cuBLAS, col2im as a gather (no atomics, deterministic).
//
// The columns of a chunk of nb images sit side by side: col is (K, nb*P) with K = C*HH*WW,
// P = Ho*Wo, image n owning columns [n*P, (n+1)*P). Then
//   out_n (F, P)      = w (F, K) @ col_n              one strided-batched GEMM (col_n has ld nb*P)
//   dw (F, K)        += doutT (F, nb*P) @ col^T       one GEMM, doutT[f, n*P+p] = dout[n, f, p]
//   dcol (K, nb*P)    = w^T @ doutT                   one GEMM, then dx = col2im(dcol)
// The chunk is as many images as fit Context::conv_workspace_limit (at least one).
#include "common.cuh"

namespace deepconv {
namespace cuda {
namespace {

// Sizes as the kernels read them (Idx: int32 when everything fits, else int64).
template <typename Idx>
struct ConvDims {
  Idx C, H, W, HH, WW, stride, pad, Ho, Wo;
  explicit ConvDims(const ConvShape& s)
      : C(Idx(s.C)), H(Idx(s.H)), W(Idx(s.W)), HH(Idx(s.HH)), WW(Idx(s.WW)), stride(Idx(s.stride)),
        pad(Idx(s.pad)), Ho(Idx(s.Ho)), Wo(Idx(s.Wo)) {}
};

// One thread per (c, n, p): writes col[(c*HH*WW + kh*WW + kw) * ld + n*P + p] for every (kh, kw).
// x is the chunk's first image; consecutive threads write consecutive columns.
template <typename Idx>
__global__ void im2col_kernel(float* __restrict__ col, const float* __restrict__ x, ConvDims<Idx> d, Idx nb,
                              Idx ld) {
  const Idx P = d.Ho * d.Wo, total = d.C * nb * P, CHW = d.C * d.H * d.W;
  for (Idx i = Idx(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += Idx(gridDim.x) * blockDim.x) {
    const Idx p = i % P, t = i / P, n = t % nb, c = t / nb;
    const Idx oh = p / d.Wo, ow = p % d.Wo;
    const Idx h0 = oh * d.stride - d.pad, w0 = ow * d.stride - d.pad;
    const float* xc = x + n * CHW + c * d.H * d.W;
    float* dst = col + c * d.HH * d.WW * ld + n * P + p;
    for (Idx kh = 0; kh < d.HH; ++kh) {
      const Idx h = h0 + kh;
      const bool hin = h >= 0 && h < d.H;
      for (Idx kw = 0; kw < d.WW; ++kw) {
        const Idx w = w0 + kw;
        *dst = (hin && w >= 0 && w < d.W) ? xc[h * d.W + w] : 0.0f;
        dst += ld;
      }
    }
  }
}

// One thread per input pixel (n, c, h, w) of the chunk: sums every column entry whose window
// covers it, in the CPU's (kh, kw) order.
template <typename Idx>
__global__ void col2im_kernel(float* __restrict__ dx, const float* __restrict__ col, ConvDims<Idx> d, Idx nb,
                              Idx ld) {
  const Idx P = d.Ho * d.Wo, HW = d.H * d.W, total = nb * d.C * HW;
  for (Idx i = Idx(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += Idx(gridDim.x) * blockDim.x) {
    const Idx w = i % d.W, h = (i / d.W) % d.H, c = (i / HW) % d.C, n = i / (d.C * HW);
    const float* cn = col + n * P;
    float sum = 0.0f;
    for (Idx kh = 0; kh < d.HH; ++kh) {
      const Idx th = h + d.pad - kh;
      if (th < 0 || th % d.stride != 0) continue;
      const Idx oh = th / d.stride;
      if (oh >= d.Ho) continue;
      for (Idx kw = 0; kw < d.WW; ++kw) {
        const Idx tw = w + d.pad - kw;
        if (tw < 0 || tw % d.stride != 0) continue;
        const Idx ow = tw / d.stride;
        if (ow >= d.Wo) continue;
        sum += cn[((c * d.HH + kh) * d.WW + kw) * ld + oh * d.Wo + ow];
      }
    }
    dx[i] = sum;
  }
}

// out[n, f, p] = b[f] for the whole batch (the GEMMs then accumulate with beta = 1, as the CPU).
template <typename Idx>
__global__ void fill_bias_kernel(float* __restrict__ out, const float* __restrict__ b, Idx F, Idx P, Idx total) {
  for (Idx i = Idx(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += Idx(gridDim.x) * blockDim.x)
    out[i] = b[(i / P) % F];
}

// doutT[f, n*P + p] = dout[n, f, p] for the chunk's nb images.
template <typename Idx>
__global__ void transpose_dout_kernel(float* __restrict__ doutT, const float* __restrict__ dout, Idx F, Idx P,
                                      Idx nb) {
  const Idx total = F * nb * P;
  for (Idx i = Idx(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += Idx(gridDim.x) * blockDim.x) {
    const Idx p = i % P, n = (i / P) % nb, f = i / (P * nb);
    doutT[i] = dout[(n * F + f) * P + p];
  }
}

// db[f] = sum over n, p of dout[n, f, p]: one block per filter, summed in double. Warps take
// images, lanes take pixels: coalesced, no division, a fixed order.
__global__ void conv_db_kernel(float* __restrict__ db, const float* __restrict__ dout, int64_t N, int64_t F,
                               int64_t P) {
  const int64_t f = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  double v[1] = {0.0};
  for (int64_t n = warp; n < N; n += warps) {
    const float* d = dout + (n * F + f) * P;
    for (int64_t p = lane; p < P; p += 32) v[0] += d[p];
  }
  detail::block_sum<1>(v);
  if (threadIdx.x == 0) db[f] = float(v[0]);
}

// Images per chunk: as many as fit `limit` bytes at `per_image` bytes each, at least 1.
int64_t chunk_images(int64_t N, size_t per_image, size_t limit) {
  const int64_t fit = per_image > 0 ? int64_t(limit / per_image) : N;
  return std::max<int64_t>(1, std::min<int64_t>(N, fit));
}

void launch_im2col(Context& ctx, float* col, const float* x, const ConvShape& s, int64_t nb, int64_t ld) {
  const int64_t items = s.C * nb * s.Ho * s.Wo;
  const int64_t span = s.C * s.HH * s.WW * ld + nb * s.C * s.H * s.W;  // largest index either side
  if (items == 0) return;
  if (detail::fits_int32(span)) {
    im2col_kernel<int32_t><<<detail::grid_for(items), detail::kThreads, 0, ctx.stream()>>>(
        col, x, ConvDims<int32_t>(s), int32_t(nb), int32_t(ld));
  } else {
    im2col_kernel<int64_t><<<detail::grid_for(items), detail::kThreads, 0, ctx.stream()>>>(
        col, x, ConvDims<int64_t>(s), nb, ld);
  }
  DEEPCONV_LAUNCH_CHECK("im2col_kernel");
}

void launch_col2im(Context& ctx, float* dx, const float* col, const ConvShape& s, int64_t nb, int64_t ld) {
  const int64_t items = nb * s.C * s.H * s.W;
  const int64_t span = s.C * s.HH * s.WW * ld + items;
  if (items == 0) return;
  if (detail::fits_int32(span)) {
    col2im_kernel<int32_t><<<detail::grid_for(items), detail::kThreads, 0, ctx.stream()>>>(
        dx, col, ConvDims<int32_t>(s), int32_t(nb), int32_t(ld));
  } else {
    col2im_kernel<int64_t><<<detail::grid_for(items), detail::kThreads, 0, ctx.stream()>>>(
        dx, col, ConvDims<int64_t>(s), nb, ld);
  }
  DEEPCONV_LAUNCH_CHECK("col2im_kernel");
}

}  // namespace

void im2col(Context& ctx, float* col, const float* x, const ConvShape& s) {
  ctx.activate();
  launch_im2col(ctx, col, x, s, 1, s.Ho * s.Wo);
}

void col2im(Context& ctx, float* dx, const float* col, const ConvShape& s) {
  ctx.activate();
  launch_col2im(ctx, dx, col, s, 1, s.Ho * s.Wo);
}

void conv_forward(Context& ctx, float* out, const float* x, const float* w, const float* b, const ConvShape& s) {
  const int64_t K = s.C * s.HH * s.WW, P = s.Ho * s.Wo, CHW = s.C * s.H * s.W, total = s.N * s.F * P;
  if (total == 0) return;
  ctx.activate();
  if (detail::fits_int32(total)) {
    fill_bias_kernel<int32_t><<<detail::grid_for(total), detail::kThreads, 0, ctx.stream()>>>(
        out, b, int32_t(s.F), int32_t(P), int32_t(total));
  } else {
    fill_bias_kernel<int64_t><<<detail::grid_for(total), detail::kThreads, 0, ctx.stream()>>>(out, b, s.F, P, total);
  }
  DEEPCONV_LAUNCH_CHECK("fill_bias_kernel");
  const int64_t nb = chunk_images(s.N, size_t(K * P) * sizeof(float), ctx.conv_workspace_limit);
  float* col = static_cast<float*>(ctx.scratch(size_t(K * nb * P) * sizeof(float)));
  for (int64_t n0 = 0; n0 < s.N; n0 += nb) {
    const int64_t cnt = std::min(nb, s.N - n0), ld = cnt * P;
    launch_im2col(ctx, col, x + n0 * CHW, s, cnt, ld);
    // out_n (F,P) += w (F,K) @ col_n (K,P), col_n = col + n*P with row stride ld
    gemm_strided_batched(ctx, false, false, s.F, P, K, 1.0f, w, K, 0, col, ld, P, 1.0f, out + n0 * s.F * P, P,
                         s.F * P, cnt);
  }
}

void conv_backward(Context& ctx, float* dx, float* dw, float* db, const float* dout, const float* x, const float* w,
                   const ConvShape& s) {
  const int64_t K = s.C * s.HH * s.WW, P = s.Ho * s.Wo, CHW = s.C * s.H * s.W;
  ctx.activate();
  if (s.F > 0) {
    conv_db_kernel<<<unsigned(s.F), detail::kThreads, 0, ctx.stream()>>>(db, dout, s.N, s.F, P);
    DEEPCONV_LAUNCH_CHECK("conv_db_kernel");
  }
  if (s.N == 0 || P == 0) {  // no output: every gradient is zero
    ctx.fill_zero(dw, size_t(s.F * K) * sizeof(float));
    if (dx) ctx.fill_zero(dx, size_t(s.N * CHW) * sizeof(float));
    return;
  }
  const int64_t nb = chunk_images(s.N, size_t((K + s.F) * P) * sizeof(float), ctx.conv_workspace_limit);
  float* col = static_cast<float*>(ctx.scratch(size_t((K + s.F) * nb * P) * sizeof(float)));
  float* doutT = col + K * nb * P;
  for (int64_t n0 = 0; n0 < s.N; n0 += nb) {
    const int64_t cnt = std::min(nb, s.N - n0), ld = cnt * P, items = s.F * ld;
    launch_im2col(ctx, col, x + n0 * CHW, s, cnt, ld);
    if (detail::fits_int32(items)) {
      transpose_dout_kernel<int32_t><<<detail::grid_for(items), detail::kThreads, 0, ctx.stream()>>>(
          doutT, dout + n0 * s.F * P, int32_t(s.F), int32_t(P), int32_t(cnt));
    } else {
      transpose_dout_kernel<int64_t><<<detail::grid_for(items), detail::kThreads, 0, ctx.stream()>>>(
          doutT, dout + n0 * s.F * P, s.F, P, cnt);
    }
    DEEPCONV_LAUNCH_CHECK("transpose_dout_kernel");
    // dw (F,K) (+)= doutT (F,ld) @ col^T
    gemm(ctx, false, true, s.F, K, ld, 1.0f, doutT, ld, col, ld, n0 == 0 ? 0.0f : 1.0f, dw, K);
    if (dx) {
      // dcol (K,ld) = w^T (K,F) @ doutT (F,ld), written over col (stream order: after the dw GEMM)
      gemm(ctx, true, false, K, ld, s.F, 1.0f, w, K, doutT, ld, 0.0f, col, ld);
      launch_col2im(ctx, dx + n0 * CHW, col, s, cnt, ld);
    }
  }
}

}  // namespace cuda
}  // namespace deepconv
