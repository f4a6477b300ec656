// Batch normalization on the GPU over x viewed as (N, D, S), as native/cpu/batchnorm.cc: one block
// per feature d reduces its N*S values (sums in double, a fixed tree: deterministic) and then
// writes that feature's outputs, in double (the CPU's float path writes them in float from the same
// double statistics: the two agree to a few ulp). relu: the ReLU that follows, in the same pass.
#include <cmath>

#include "common.cuh"

namespace deepconv {
namespace cuda {
namespace {

constexpr int kBnThreads = 512;

// The ReLU fused after the normalisation, as relu_forward_kernel writes it (NaN -> 0), or v.
__device__ __forceinline__ float maybe_relu(float v, bool relu) { return relu ? (v > 0.0f ? v : 0.0f) : v; }

// Calls f(j) for the flat offset j of every value of feature d, each thread its own share, in an
// order fixed by the shape. With S >= 32 warps take images and lanes take positions (coalesced, no
// division); otherwise the threads stride over the N*S values.
template <typename Idx, typename Fn>
__device__ __forceinline__ void for_feature(Idx N, Idx D, Idx S, Idx d, Fn&& f) {
  if (S >= 32) {
    const Idx lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (Idx n = warp; n < N; n += warps) {
      const Idx base = (n * D + d) * S;
      for (Idx s = lane; s < S; s += 32) f(base + s);
    }
  } else {
    const Idx count = N * S;
    for (Idx i = threadIdx.x; i < count; i += blockDim.x) {
      const Idx n = i / S, s = i - n * S;
      f((n * D + d) * S + s);
    }
  }
}

template <typename Idx>
__global__ void __launch_bounds__(kBnThreads)
    bn_forward_train_kernel(float* __restrict__ out, float* __restrict__ mean, float* __restrict__ rstd,
                            float* __restrict__ running_mean, float* __restrict__ running_var,
                            const float* __restrict__ x, const float* __restrict__ gamma,
                            const float* __restrict__ beta, Idx N, Idx D, Idx S, double eps, double momentum,
                            bool relu) {
  const Idx d = blockIdx.x;
  const double m = double(N) * double(S);
  double v[1] = {0.0};
  for_feature(N, D, S, d, [&](Idx j) { v[0] += x[j]; });
  detail::block_sum<1>(v);
  const double mu = v[0] / m;
  v[0] = 0.0;  // second pass: no cancellation for large means
  for_feature(N, D, S, d, [&](Idx j) {
    const double c = x[j] - mu;
    v[0] += c * c;
  });
  detail::block_sum<1>(v);
  const double var = v[0] / m;  // biased, as the normalisation uses
  const double r = 1.0 / sqrt(var + eps);
  if (threadIdx.x == 0) {
    mean[d] = float(mu);
    rstd[d] = float(r);
    running_mean[d] = float(momentum * running_mean[d] + (1 - momentum) * mu);
    running_var[d] = float(momentum * running_var[d] + (1 - momentum) * var);
  }
  const double g = gamma[d], b = beta[d];
  for_feature(N, D, S, d, [&](Idx j) {
    out[j] = maybe_relu(float(g * (x[j] - mu) * r + b), relu);
  });
}

template <typename Idx>
__global__ void bn_forward_test_kernel(float* __restrict__ out, const float* __restrict__ x,
                                       const float* __restrict__ gamma, const float* __restrict__ beta,
                                       const float* __restrict__ running_mean, const float* __restrict__ running_var,
                                       Idx D, Idx S, Idx total, double eps, bool relu) {
  for (Idx i = Idx(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += Idx(gridDim.x) * blockDim.x) {
    const Idx d = (i / S) % D;
    const double r = 1.0 / sqrt(double(running_var[d]) + eps);
    const double scale = gamma[d] * r, shift = beta[d] - running_mean[d] * scale;
    out[i] = maybe_relu(float(x[i] * scale + shift), relu);
  }
}

// Stage by stage, as native/cpu/batchnorm.cc's batchnorm_backward.
template <typename Idx>
__global__ void __launch_bounds__(kBnThreads)
    bn_backward_kernel(float* __restrict__ dx, float* __restrict__ dgamma, float* __restrict__ dbeta,
                       const float* __restrict__ dout, const float* __restrict__ x, const float* __restrict__ gamma,
                       const float* __restrict__ mean, const float* __restrict__ rstd, Idx N, Idx D, Idx S) {
  const Idx d = blockIdx.x;
  const double m = double(N) * double(S);
  const double mu = mean[d], ivar = rstd[d], sqrtvar = 1.0 / ivar, g = gamma[d];
  double v[3] = {0.0, 0.0, 0.0};  // sum_dout, sum_dout_xhat, divar
  for_feature(N, D, S, d, [&](Idx j) {
    const double xmu = x[j] - mu, dxhat = dout[j] * g;
    v[0] += dout[j];
    v[1] += dout[j] * xmu * ivar;
    v[2] += dxhat * xmu;
  });
  detail::block_sum<3>(v);
  if (threadIdx.x == 0) {
    dbeta[d] = float(v[0]);
    dgamma[d] = float(v[1]);
  }
  const double dsqrtvar = -v[2] / (sqrtvar * sqrtvar);
  const double dvar = 0.5 / sqrtvar * dsqrtvar;
  // dxmu = dxhat * ivar + 2 xmu dvar / m; dmu = -sum(dxmu); dx = dxmu + dmu / m
  double u[1] = {0.0};
  for_feature(N, D, S, d, [&](Idx j) {
    const double xmu = x[j] - mu;
    u[0] += dout[j] * g * ivar + 2.0 * xmu * dvar / m;
  });
  detail::block_sum<1>(u);
  const double dmu = -u[0];
  for_feature(N, D, S, d, [&](Idx j) {
    const double xmu = x[j] - mu;
    dx[j] = float(dout[j] * g * ivar + 2.0 * xmu * dvar / m + dmu / m);
  });
}

// The closed form, as native/cpu/batchnorm.cc's batchnorm_backward_alt.
template <typename Idx>
__global__ void __launch_bounds__(kBnThreads)
    bn_backward_alt_kernel(float* __restrict__ dx, float* __restrict__ dgamma, float* __restrict__ dbeta,
                           const float* __restrict__ dout, const float* __restrict__ x,
                           const float* __restrict__ gamma, const float* __restrict__ mean,
                           const float* __restrict__ rstd, const float* __restrict__ relu_out, Idx N, Idx D,
                           Idx S) {
  const Idx d = blockIdx.x;
  const double m = double(N) * double(S);
  const double mu = mean[d], r = rstd[d], g = gamma[d];
  // dout after the fused ReLU, when there was one: zero where its output was not positive.
  auto grad = [&](Idx j) { return relu_out && !(relu_out[j] > 0.0f) ? 0.0f : dout[j]; };
  double v[2] = {0.0, 0.0};  // sum_dout, sum_dout_xhat
  for_feature(N, D, S, d, [&](Idx j) {
    const double gj = grad(j);
    v[0] += gj;
    v[1] += gj * (x[j] - mu) * r;
  });
  detail::block_sum<2>(v);
  if (threadIdx.x == 0) {
    dbeta[d] = float(v[0]);
    dgamma[d] = float(v[1]);
  }
  // With dxhat = g dout: dx = r/m (m dxhat - sum dxhat - xhat sum(dxhat xhat))
  const double k = g * r / m;
  for_feature(N, D, S, d, [&](Idx j) {
    const double xhat = (x[j] - mu) * r;
    dx[j] = float(k * (m * double(grad(j)) - v[0] - xhat * v[1]));
  });
}

// Launches kernel<int32_t> or kernel<int64_t> with one block per feature.
#define DEEPCONV_BN_LAUNCH(kernel, ...)                                                                  \
  do {                                                                                                 \
    if (detail::fits_int32(N * D * S)) {                                                               \
      kernel<int32_t><<<unsigned(D), kBnThreads, 0, ctx.stream()>>>(__VA_ARGS__, int32_t(N), int32_t(D), \
                                                                      int32_t(S));                     \
    } else {                                                                                           \
      kernel<int64_t><<<unsigned(D), kBnThreads, 0, ctx.stream()>>>(__VA_ARGS__, N, D, S);             \
    }                                                                                                  \
    DEEPCONV_LAUNCH_CHECK(#kernel);                                                                    \
  } while (0)

}  // namespace

void batchnorm_forward_train(Context& ctx, float* out, float* mean, float* rstd, float* running_mean,
                             float* running_var, const float* x, const float* gamma, const float* beta, int64_t N,
                             int64_t D, int64_t S, double eps, double momentum, bool relu) {
  if (D <= 0) return;
  ctx.activate();
  if (detail::fits_int32(N * D * S)) {
    bn_forward_train_kernel<int32_t><<<unsigned(D), kBnThreads, 0, ctx.stream()>>>(
        out, mean, rstd, running_mean, running_var, x, gamma, beta, int32_t(N), int32_t(D), int32_t(S), eps,
        momentum, relu);
  } else {
    bn_forward_train_kernel<int64_t><<<unsigned(D), kBnThreads, 0, ctx.stream()>>>(
        out, mean, rstd, running_mean, running_var, x, gamma, beta, N, D, S, eps, momentum, relu);
  }
  DEEPCONV_LAUNCH_CHECK("bn_forward_train_kernel");
}

void batchnorm_forward_test(Context& ctx, float* out, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, int64_t N, int64_t D, int64_t S,
                            double eps, bool relu) {
  const int64_t total = N * D * S;
  if (total <= 0) return;
  ctx.activate();
  if (detail::fits_int32(total)) {
    bn_forward_test_kernel<int32_t><<<detail::grid_for(total), detail::kThreads, 0, ctx.stream()>>>(
        out, x, gamma, beta, running_mean, running_var, int32_t(D), int32_t(S), int32_t(total), eps, relu);
  } else {
    bn_forward_test_kernel<int64_t><<<detail::grid_for(total), detail::kThreads, 0, ctx.stream()>>>(
        out, x, gamma, beta, running_mean, running_var, D, S, total, eps, relu);
  }
  DEEPCONV_LAUNCH_CHECK("bn_forward_test_kernel");
}

void batchnorm_backward(Context& ctx, float* dx, float* dgamma, float* dbeta, const float* dout, const float* x,
                        const float* gamma, const float* mean, const float* rstd, int64_t N, int64_t D, int64_t S) {
  if (D <= 0) return;
  ctx.activate();
  DEEPCONV_BN_LAUNCH(bn_backward_kernel, dx, dgamma, dbeta, dout, x, gamma, mean, rstd);
}

void batchnorm_backward_alt(Context& ctx, float* dx, float* dgamma, float* dbeta, const float* dout, const float* x,
                            const float* gamma, const float* mean, const float* rstd, const float* relu_out,
                            int64_t N, int64_t D, int64_t S) {
  if (D <= 0) return;
  ctx.activate();
  DEEPCONV_BN_LAUNCH(bn_backward_alt_kernel, dx, dgamma, dbeta, dout, x, gamma, mean, rstd, relu_out);
}

#undef DEEPCONV_BN_LAUNCH

}  // namespace cuda
}  // namespace deepconv
